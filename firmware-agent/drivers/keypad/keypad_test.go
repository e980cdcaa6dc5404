package keypad

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/keypad/keypademu"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

type sink struct {
	keys   chan wire.Key
	mu     sync.Mutex
	status []wire.DevStatusMsg
	states chan wire.DevStatusMsg
}

func newSink() *sink {
	return &sink{keys: make(chan wire.Key, 64), states: make(chan wire.DevStatusMsg, 64)}
}

func (s *sink) Emit(_ context.Context, typ string, data any) error {
	if typ == wire.EvtKey {
		s.keys <- data.(wire.Key)
	}
	return nil
}

func (s *sink) SetStatus(m wire.DevStatusMsg) {
	s.mu.Lock()
	s.status = append(s.status, m)
	s.mu.Unlock()
	s.states <- m
}

func (s *sink) next(t *testing.T) wire.Key {
	t.Helper()
	select {
	case k := <-s.keys:
		return k
	case <-time.After(5 * time.Second):
		t.Fatal("no key event within 5 s")
	}
	return wire.Key{}
}

func (s *sink) waitState(t *testing.T, state, code string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-s.states:
			if m.State == state && m.Code == code {
				return
			}
		case <-deadline:
			t.Fatalf("no status %s/%s within 5 s", state, code)
		}
	}
}

func startKeypad(t *testing.T, cfg device.Config, s *sink) *Keypad {
	t.Helper()
	d, err := New(cfg, device.Env{Events: s, Status: s})
	if err != nil {
		t.Fatal(err)
	}
	k := d.(*Keypad)
	k.backoff = serialport.Backoff{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return k
}

// TestPlaybackOverPty replays recorded keypad sessions through a real
// pseudo-terminal into the driver and checks the exact key events.
func TestPlaybackOverPty(t *testing.T) {
	recs := []struct {
		name    string
		framing string
		file    string
		want    []wire.Key
	}{
		{"byte", FramingByte, "testdata/session-byte.bin", []wire.Key{
			{Action: "call-next"}, {Action: "start"}, {Action: "finish"}, {Action: "call-next"},
			{Action: "recall"}, {Action: "no-show"}, {Action: "transfer", Arg: "12"}, {Action: "pause"}, {Action: "resume"}}},
		{"line", FramingLine, "testdata/session-line.txt", []wire.Key{
			{Action: "call-next"}, {Action: "start"}, {Action: "transfer", Arg: "8"}, {Action: "finish"}, {Action: "pause"}}},
	}
	for _, r := range recs {
		t.Run(r.name, func(t *testing.T) {
			rec, err := os.ReadFile(r.file)
			if err != nil {
				t.Fatal(err)
			}
			emu, err := keypademu.New(filepath.Join(t.TempDir(), "kp"))
			if err != nil {
				t.Fatal(err)
			}
			defer emu.Close()
			s := newSink()
			var opts string
			if r.framing == FramingLine {
				opts = "framing: line"
			}
			startKeypad(t, cfgWith(t, device.Config{ID: "caller-8", Port: emu.Path(), Window: 8}, opts), s)
			s.waitState(t, wire.StateOnline, "")
			if err := emu.Send(rec); err != nil {
				t.Fatal(err)
			}
			var got []wire.Key
			for range r.want {
				got = append(got, s.next(t))
			}
			if !reflect.DeepEqual(got, r.want) {
				t.Fatalf("got %+v\nwant %+v", got, r.want)
			}
		})
	}
}

func TestGarbageUnplugReplug(t *testing.T) {
	emu, err := keypademu.New(filepath.Join(t.TempDir(), "kp"))
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	s := newSink()
	k := startKeypad(t, device.Config{ID: "caller-9", Port: emu.Path()}, s)
	s.waitState(t, wire.StateOnline, "")
	if err := emu.SendGarbage(50); err != nil {
		t.Fatal(err)
	}
	if err := emu.Press("N"); err != nil {
		t.Fatal(err)
	}
	if got := s.next(t); got.Action != wire.KeyCallNext {
		t.Fatalf("after garbage: %+v", got)
	}
	if st := k.Stats(); st.Garbage == 0 {
		t.Fatalf("garbage not counted: %+v", st)
	}
	// Unplug mid-argument: typed digits must not survive the reconnect.
	if err := emu.Type("4"); err != nil {
		t.Fatal(err)
	}
	if err := emu.Unplug(); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, wire.StateOffline, CodeUnplugged)
	if err := emu.Press("N"); err == nil {
		t.Fatal("send while unplugged succeeded")
	}
	s.waitState(t, wire.StateOffline, CodePortUnavailable)
	if err := emu.Replug(); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, wire.StateOnline, "")
	if err := emu.Press("5", "T", "R"); err != nil {
		t.Fatal(err)
	}
	if got := s.next(t); got != (wire.Key{Action: wire.KeyTransfer, Arg: "5"}) {
		t.Fatalf("after replug: %+v", got)
	}
	if got := s.next(t); got.Action != wire.KeyRecall {
		t.Fatalf("after replug: %+v", got)
	}
}

func TestEmulateMode(t *testing.T) {
	s := newSink()
	k := startKeypad(t, device.Config{ID: "caller-emu", Emulate: true}, s)
	s.waitState(t, wire.StateOnline, "")
	emu := k.Emulator()
	if emu == nil {
		t.Fatal("no emulator in emulate mode")
	}
	if err := emu.Type("3T"); err != nil {
		t.Fatal(err)
	}
	if got := s.next(t); got != (wire.Key{Action: wire.KeyTransfer, Arg: "3"}) {
		t.Fatalf("got %+v", got)
	}
}

func TestConfigErrors(t *testing.T) {
	s := newSink()
	if _, err := New(device.Config{ID: "k"}, device.Env{Events: s}); err == nil {
		t.Fatal("no port accepted")
	}
	if _, err := New(cfgWith(t, device.Config{ID: "k", Port: "/dev/null"}, "keys: {N: fly}"), device.Env{Events: s}); err == nil {
		t.Fatal("bad key map accepted")
	}
	if _, err := New(cfgWith(t, device.Config{ID: "k", Port: "/dev/null"}, "colour: red"), device.Env{Events: s}); err == nil {
		t.Fatal("unknown option accepted")
	}
}
