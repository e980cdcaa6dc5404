package ratingpad

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jonboulle/clockwork"
	"gopkg.in/yaml.v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

type recorder struct {
	mu     sync.Mutex
	events []wire.Rating
	status []wire.DevStatusMsg
}

func (r *recorder) Emit(_ context.Context, typ string, data any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if typ != wire.EvtRating {
		return fmt.Errorf("unexpected event %s", typ)
	}
	r.events = append(r.events, data.(wire.Rating))
	return nil
}

func (r *recorder) SetStatus(s wire.DevStatusMsg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = append(r.status, s)
}

func (r *recorder) take() []wire.Rating {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

func (r *recorder) lastStatus() wire.DevStatusMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.status) == 0 {
		return wire.DevStatusMsg{}
	}
	return r.status[len(r.status)-1]
}

type rig struct {
	clk  *clockwork.FakeClock
	pins map[int]*gpiotest.Pin
	pad  *Pad
	rec  *recorder
}

const confirm = 30 * time.Millisecond

func newRig(t *testing.T, opts string) *rig {
	clk := clockwork.NewFakeClock()
	r := &rig{clk: clk, pins: map[int]*gpiotest.Pin{}, rec: &recorder{}}
	cfg := device.Config{ID: "pad-8", Kind: wire.KindRating, Window: 8, Pins: map[string]string{}}
	byName := map[string]*gpiotest.Pin{}
	for lv := 1; lv <= 5; lv++ {
		name := fmt.Sprintf("T_RATE%d", lv)
		p := &gpiotest.Pin{N: name, Num: lv, L: gpio.High, EdgesChan: make(chan gpio.Level, 16), Clock: clk}
		r.pins[lv] = p
		byName[name] = p
		cfg.Pins[fmt.Sprint(lv)] = name
	}
	if opts != "" {
		if err := yaml.Unmarshal([]byte(opts), &cfg.Options); err != nil {
			t.Fatal(err)
		}
		cfg.Options = *cfg.Options.Content[0]
	}
	env := device.Env{Clock: clk, Events: r.rec, Status: r.rec, OpenPin: func(n string) (gpio.PinIO, error) {
		if p, ok := byName[n]; ok {
			return p, nil
		}
		return nil, nil
	}}
	d, err := New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	r.pad = d.(*Pad)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.pad.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		clk.Advance(time.Second)
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	synctest.Wait()
	return r
}

func (r *rig) advance(d time.Duration) {
	r.clk.Advance(d)
	synctest.Wait()
}

func (r *rig) edge(lv int, l gpio.Level) {
	r.pins[lv].EdgesChan <- l
	synctest.Wait()
}

// push presses and releases a button cleanly, well apart from lockouts.
func (r *rig) push(lv int) {
	r.edge(lv, gpio.Low)
	r.advance(confirm + time.Millisecond)
	r.advance(100 * time.Millisecond)
	r.edge(lv, gpio.High)
	r.advance(600 * time.Millisecond) // past the lockout: release pending
	r.advance(confirm + time.Millisecond)
	r.advance(400 * time.Millisecond)
}

func (r *rig) cmd(t *testing.T, name string, args any) device.Result {
	t.Helper()
	return r.pad.Handle(context.Background(), name, wire.Marshal(args))
}

func TestSessionFirstPressWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "")
		if got := r.cmd(t, wire.CmdRatingOpen, wire.RatingOpen{Session: "s1", Ticket: "A001", Window: 8, TimeoutS: 30}); got != device.Done {
			t.Fatalf("open: %+v", got)
		}
		r.push(4)
		r.push(1)
		got := r.rec.take()
		if len(got) != 1 || got[0] != (wire.Rating{Session: "s1", Level: 4}) {
			t.Fatalf("ratings %+v, want one {s1 4}", got)
		}
		if s := r.pad.Stats(); s.Rated != 1 || s.Ignored != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestPressOutsideSessionIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "")
		r.push(5)
		if got := r.rec.take(); len(got) != 0 {
			t.Fatalf("rating without a session: %+v", got)
		}
		r.cmd(t, wire.CmdRatingOpen, wire.RatingOpen{Session: "s2", TimeoutS: 30})
		r.cmd(t, wire.CmdRatingClose, wire.RatingClose{Session: "other"}) // not ours: stays open
		if r.pad.Open() != "s2" {
			t.Fatal("close of another session closed ours")
		}
		r.cmd(t, wire.CmdRatingClose, wire.RatingClose{Session: "s2"})
		r.push(5)
		if got := r.rec.take(); len(got) != 0 {
			t.Fatalf("rating after close: %+v", got)
		}
		if s := r.pad.Stats(); s.Ignored != 2 {
			t.Fatalf("ignored = %d, want 2", s.Ignored)
		}
	})
}

func TestSessionTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "timeout_s: 20")
		r.cmd(t, wire.CmdRatingOpen, wire.RatingOpen{Session: "s3", TimeoutS: 5})
		r.advance(4 * time.Second)
		if r.pad.Open() != "s3" {
			t.Fatal("closed early")
		}
		r.advance(time.Second)
		if r.pad.Open() != "" {
			t.Fatal("timeout did not close the session")
		}
		r.push(3)
		if got := r.rec.take(); len(got) != 0 {
			t.Fatalf("rating after timeout: %+v", got)
		}
		// timeout_s 0 takes the configured default (20 s).
		r.cmd(t, wire.CmdRatingOpen, wire.RatingOpen{Session: "s4"})
		r.advance(19 * time.Second)
		r.push(2) // the press lands 31 ms in, inside the window
		if got := r.rec.take(); len(got) != 1 || got[0].Level != 2 || got[0].Session != "s4" {
			t.Fatalf("got %+v", got)
		}
		if s := r.pad.Stats(); s.TimedOut != 1 {
			t.Fatalf("timed out = %d", s.TimedOut)
		}
	})
}

func TestSimultaneousPressesGiveOneRating(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "")
		r.cmd(t, wire.CmdRatingOpen, wire.RatingOpen{Session: "s5", TimeoutS: 30})
		for _, lv := range []int{5, 4, 3} {
			r.pins[lv].EdgesChan <- gpio.Low
		}
		synctest.Wait()
		r.advance(confirm + time.Millisecond)
		got := r.rec.take()
		if len(got) != 1 || got[0].Session != "s5" || got[0].Level < 3 {
			t.Fatalf("ratings %+v, want exactly one of levels 3..5", got)
		}
		if s := r.pad.Stats(); s.Ignored != 2 {
			t.Fatalf("ignored = %d, want 2", s.Ignored)
		}
	})
}

func TestBounceTrainInSessionOneRating(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "")
		r.cmd(t, wire.CmdRatingOpen, wire.RatingOpen{Session: "s6", TimeoutS: 30})
		r.cmd(t, wire.CmdRatingOpen, wire.RatingOpen{Session: "s7", TimeoutS: 30}) // replaces s6
		for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low} {
			r.edge(1, l)
			r.advance(2 * time.Millisecond)
		}
		r.advance(confirm)
		got := r.rec.take()
		if len(got) != 1 || got[0] != (wire.Rating{Session: "s7", Level: 1}) {
			t.Fatalf("got %+v", got)
		}
	})
}

func TestStuckButtonFaultAndClear(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "stuck_s: 5")
		if s := r.rec.lastStatus(); s.State != wire.StateOnline {
			t.Fatalf("start status %+v", s)
		}
		r.edge(3, gpio.Low)
		r.advance(confirm + time.Millisecond)
		r.advance(4 * time.Second)
		if s := r.rec.lastStatus(); s.State != wire.StateOnline {
			t.Fatalf("fault too early: %+v", s)
		}
		r.advance(time.Second)
		s := r.rec.lastStatus()
		if s.State != wire.StateFault || s.Code != CodeStuckButton {
			t.Fatalf("status %+v, want fault stuck_button", s)
		}
		r.edge(3, gpio.High)
		r.advance(confirm + time.Millisecond)
		if s := r.rec.lastStatus(); s.State != wire.StateOnline {
			t.Fatalf("not cleared on release: %+v", s)
		}
	})
}

func TestBadCommandsAndConfig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "")
		if got := r.pad.Handle(context.Background(), wire.CmdRatingOpen, []byte(`{"session":""}`)); got.Status != wire.AckRejected || got.Code != CodeBadArgs {
			t.Fatalf("empty session: %+v", got)
		}
		if got := r.pad.Handle(context.Background(), wire.CmdRatingOpen, []byte(`{not json`)); got.Status != wire.AckRejected {
			t.Fatalf("bad json: %+v", got)
		}
		if got := r.cmd(t, wire.CmdRatingOpen, wire.RatingOpen{Session: "x", Window: 9}); got.Code != CodeWrongWindow {
			t.Fatalf("wrong window: %+v", got)
		}
		if got := r.cmd(t, wire.CmdPrint, struct{}{}); got.Code != CodeUnknownCmd {
			t.Fatalf("print: %+v", got)
		}
	})
	env := device.Env{Events: &recorder{}}
	for _, pins := range []map[string]string{nil, {"6": "A"}, {"1": "A", "2": "A"}, {"1": ""}} {
		if _, err := New(device.Config{ID: "p", Pins: pins}, env); err == nil {
			t.Errorf("pins %v accepted", pins)
		}
	}
	_, err := New(device.Config{ID: "p", Pins: map[string]string{"5": "NO_SUCH_PIN_99"}}, env)
	if !errors.Is(err, device.ErrUnavailable) {
		t.Fatalf("missing pin: %v", err)
	}
}

func TestEmulatedPadStarts(t *testing.T) {
	d, err := New(device.Config{ID: "pad-emu", Emulate: true, Pins: map[string]string{"5": "EMU_PAD5", "1": "EMU_PAD1"}}, device.Env{Events: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
