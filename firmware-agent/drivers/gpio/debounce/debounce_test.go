package debounce

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

const (
	L = gpio.Low
	H = gpio.High
)

// rig drives a debounced gpiotest pin with a fake clock inside a synctest
// bubble: synctest.Wait() says the watcher is parked on the pin or the clock.
type rig struct {
	t      *testing.T
	clk    *clockwork.FakeClock
	raw    *gpiotest.Pin
	pin    *Pin
	events chan gpio.Level
}

func newRig(t *testing.T, o Opts) *rig {
	clk := clockwork.NewFakeClock()
	raw := &gpiotest.Pin{N: "BTN", EdgesChan: make(chan gpio.Level, 16), Clock: clk}
	p := New(raw, clk, o)
	if err := p.In(gpio.PullUp, gpio.FallingEdge); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, clk: clk, raw: raw, pin: p, events: make(chan gpio.Level, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			lvl, ok, err := p.Next(ctx, -1)
			if err != nil {
				return
			}
			if ok {
				r.events <- lvl
			}
		}
	}()
	t.Cleanup(func() { cancel(); r.clk.Advance(time.Second); <-done })
	synctest.Wait()
	return r
}

func (r *rig) edge(l gpio.Level, after time.Duration) {
	r.raw.EdgesChan <- l
	synctest.Wait()
	r.advance(after)
}

func (r *rig) advance(d time.Duration) {
	r.clk.Advance(d)
	synctest.Wait()
}

func (r *rig) got() []gpio.Level {
	var out []gpio.Level
	for {
		select {
		case l := <-r.events:
			out = append(out, l)
		default:
			return out
		}
	}
}

func eq(a, b []gpio.Level) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBounceTrainGivesOneEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Opts{Confirm: 30 * time.Millisecond, Lockout: 500 * time.Millisecond})
		for _, l := range []gpio.Level{L, H, L, H, L} { // within 10 ms
			r.edge(l, 2*time.Millisecond)
		}
		if got := r.got(); len(got) != 0 {
			t.Fatalf("event before confirm: %v", got)
		}
		r.advance(30 * time.Millisecond)
		if got := r.got(); !eq(got, []gpio.Level{L}) {
			t.Fatalf("after confirm got %v, want one Low", got)
		}
		if r.pin.Read() != L {
			t.Fatal("debounced level is not Low")
		}
		// Release with bounces inside the lockout: ignored until it ends,
		// then the release is confirmed from a fresh sample.
		r.edge(H, time.Millisecond)
		r.edge(L, time.Millisecond)
		r.edge(H, time.Millisecond)
		if got := r.got(); len(got) != 0 {
			t.Fatalf("event during lockout: %v", got)
		}
		r.advance(500 * time.Millisecond) // lockout over, release pending
		r.advance(30 * time.Millisecond)
		if got := r.got(); !eq(got, []gpio.Level{H}) {
			t.Fatalf("release: got %v, want one High", got)
		}
		// A second push after the lockout counts again.
		r.edge(L, 40*time.Millisecond)
		if got := r.got(); !eq(got, []gpio.Level{L}) {
			t.Fatalf("second push: got %v", got)
		}
	})
}

func TestGlitchShorterThanConfirmIsIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Opts{Confirm: 30 * time.Millisecond})
		r.edge(L, 5*time.Millisecond)
		r.edge(H, 100*time.Millisecond)
		if got := r.got(); len(got) != 0 {
			t.Fatalf("glitch gave %v", got)
		}
		if r.pin.Read() != H {
			t.Fatal("level changed on a glitch")
		}
	})
}

func TestHeldButtonGivesOnePress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Opts{Confirm: 20 * time.Millisecond, Lockout: 300 * time.Millisecond})
		r.edge(L, 25*time.Millisecond)
		for range 20 {
			r.advance(time.Second)
		}
		if got := r.got(); !eq(got, []gpio.Level{L}) {
			t.Fatalf("held button: got %v", got)
		}
	})
}

func TestWaitForEdgeHonoursTimeoutAndEdge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clockwork.NewFakeClock()
		raw := &gpiotest.Pin{N: "B2", EdgesChan: make(chan gpio.Level, 4), Clock: clk}
		p := New(raw, clk, Opts{})
		if err := p.In(gpio.PullNoChange, gpio.FallingEdge); err != nil {
			t.Fatal(err)
		}
		res := make(chan bool, 1)
		go func() { res <- p.WaitForEdge(100 * time.Millisecond) }()
		synctest.Wait()
		clk.Advance(150 * time.Millisecond)
		synctest.Wait()
		if <-res {
			t.Fatal("WaitForEdge reported an edge without one")
		}
		go func() { res <- p.WaitForEdge(-1) }()
		synctest.Wait()
		raw.EdgesChan <- L
		synctest.Wait()
		clk.Advance(DefaultOpts.Confirm)
		synctest.Wait()
		if !<-res {
			t.Fatal("WaitForEdge missed a confirmed press")
		}
		if p.String() != "debounced(B2(0))" || p.Name() != "B2" {
			t.Fatalf("names: %s %s", p, p.Name())
		}
	})
}

func TestValidate(t *testing.T) {
	if err := (Opts{Confirm: 2 * time.Second, Lockout: -1}).Validate(); err == nil {
		t.Fatal("bad opts accepted")
	}
	if err := DefaultOpts.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestActiveHigh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clockwork.NewFakeClock()
		raw := &gpiotest.Pin{N: "B3", EdgesChan: make(chan gpio.Level, 4), Clock: clk}
		o, err := Config{ConfirmMS: 20, LockoutMS: 300, ActiveHigh: true}.Opts()
		if err != nil {
			t.Fatal(err)
		}
		p := New(raw, clk, o)
		if err := p.In(gpio.PullNoChange, gpio.RisingEdge); err != nil {
			t.Fatal(err)
		}
		if raw.P != gpio.PullDown || p.Active() != H || p.Read() != L {
			t.Fatalf("pull %s active %s level %s", raw.P, p.Active(), p.Read())
		}
		res := make(chan bool, 1)
		go func() { res <- p.WaitForEdge(time.Second) }()
		synctest.Wait()
		raw.EdgesChan <- H
		synctest.Wait()
		clk.Advance(25 * time.Millisecond)
		synctest.Wait()
		if !<-res {
			t.Fatal("active-high press missed")
		}
		clk.Advance(time.Second) // let clockwork's timeout context end
	})
}
