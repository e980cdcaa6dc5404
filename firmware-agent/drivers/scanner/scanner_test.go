package scanner

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/keypad"
	"github.com/servicehall/servicehall/firmware-agent/drivers/scanner/scanneremu"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

func TestLines(t *testing.T) {
	l := NewLines(16)
	in := "APPT-0001\r\n\r\n  T:A012 \nCASE-9\r" + strings.Repeat("x", 40) + "\r\nOK1\n\x01bad\n\xff\xfe\n请A001\n" + "tail"
	got := l.Feed([]byte(in))
	want := []string{"APPT-0001", "T:A012", "CASE-9", "OK1", "请A001"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	s := l.Stats()
	if s.Overlong != 1 || s.Invalid != 2 || s.Empty != 4 || s.Lines != 5 {
		t.Fatalf("stats %+v", s)
	}
	if got := l.Feed([]byte("\n")); !reflect.DeepEqual(got, []string{"tail"}) {
		t.Fatalf("partial line lost: %q", got)
	}
}

func FuzzLines(f *testing.F) {
	f.Add([]byte("APPT-0001\r\n"), 16)
	f.Add([]byte("\r\r\n\n"+strings.Repeat("A", 40)+"\nB\n"), 8)
	f.Add([]byte("\x00\xff\xfe\n请\r\n"), 4)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		max = 1 + abs(max)%600
		l := NewLines(max)
		whole := l.Feed(in)
		m := NewLines(max)
		var split []string
		for i := 0; i < len(in); i += 7 {
			split = append(split, m.Feed(in[i:min(i+7, len(in))])...)
		}
		if !reflect.DeepEqual(whole, split) {
			t.Fatalf("chunked feed differs")
		}
		for _, c := range whole {
			if c == "" || len(c) > max || strings.ContainsAny(c, "\r\n") || !valid([]byte(c)) {
				t.Fatalf("bad code %q", c)
			}
			if err := (wire.Scan{Code: c}).Check(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func abs(x int) int {
	if x < 0 {
		if -x < 0 {
			return 0
		}
		return -x
	}
	return x
}

type sink struct {
	codes  chan string
	states chan wire.DevStatusMsg
}

func (s *sink) Emit(_ context.Context, typ string, data any) error {
	if typ == wire.EvtScan {
		s.codes <- data.(wire.Scan).Code
	}
	return nil
}

func (s *sink) SetStatus(m wire.DevStatusMsg) { s.states <- m }

func (s *sink) next(t *testing.T) string {
	t.Helper()
	select {
	case c := <-s.codes:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no scan within 5 s")
	}
	return ""
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

func start(t *testing.T, cfg device.Config) (*Scanner, *sink) {
	t.Helper()
	s := &sink{codes: make(chan string, 64), states: make(chan wire.DevStatusMsg, 64)}
	d, err := New(cfg, device.Env{Events: s, Status: s})
	if err != nil {
		t.Fatal(err)
	}
	sc := d.(*Scanner)
	sc.backoff = serialport.Backoff{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return")
		}
	})
	return sc, s
}

// TestPlaybackOverPty replays a recorded scanner stream through a real
// pseudo-terminal, then unplugs and replugs the scanner.
func TestPlaybackOverPty(t *testing.T) {
	rec, err := os.ReadFile("testdata/session.bin")
	if err != nil {
		t.Fatal(err)
	}
	emu, err := scanneremu.New(filepath.Join(t.TempDir(), "scan"))
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("max_len: 32"), &n); err != nil {
		t.Fatal(err)
	}
	sc, s := start(t, device.Config{ID: "scan-1", Port: emu.Path(), Options: *n.Content[0]})
	s.waitState(t, wire.StateOnline, "")
	if err := emu.Send(rec); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"APPT-20261121-0042", "https://hall.example/t/A012", "CASE-110105-77"} {
		if got := s.next(t); got != want {
			t.Fatalf("got %q want %q", got, want)
		}
	}
	if st := sc.Stats(); st.Overlong != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Half a code, then the cable is pulled: the half must not join the
	// next code after the replug.
	if err := emu.Send([]byte("HALF")); err != nil {
		t.Fatal(err)
	}
	if err := emu.Unplug(); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, wire.StateOffline, keypad.CodeUnplugged)
	if err := emu.Replug(); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, wire.StateOnline, "")
	emu.Terminator = "\n"
	if err := emu.Scan("A013"); err != nil {
		t.Fatal(err)
	}
	if got := s.next(t); got != "A013" {
		t.Fatalf("after replug got %q", got)
	}
}

func TestEmulateAndConfig(t *testing.T) {
	sc, s := start(t, device.Config{ID: "scan-emu", Emulate: true})
	s.waitState(t, wire.StateOnline, "")
	if err := sc.Emulator().Scan("APPT-1"); err != nil {
		t.Fatal(err)
	}
	if got := s.next(t); got != "APPT-1" {
		t.Fatalf("got %q", got)
	}
	if _, err := New(device.Config{ID: "x"}, device.Env{Events: s}); err == nil {
		t.Fatal("no port accepted")
	}
}
