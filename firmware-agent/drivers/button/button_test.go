package button

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/gpio/pins"
	"github.com/servicehall/servicehall/wire"
)

type recorder struct {
	mu     sync.Mutex
	events []wire.Press
}

func (r *recorder) Emit(_ context.Context, typ string, data any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if typ == wire.EvtPress {
		r.events = append(r.events, data.(wire.Press))
	}
	return nil
}

func (r *recorder) n() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func TestOnePressPerPush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clockwork.NewFakeClock()
		raw := &gpiotest.Pin{N: "T_BTN", L: gpio.High, EdgesChan: make(chan gpio.Level, 16), Clock: clk}
		rec := &recorder{}
		env := device.Env{Clock: clk, Events: rec, OpenPin: func(string) (gpio.PinIO, error) { return raw, nil }}
		d, err := New(device.Config{ID: "btn-1", Pin: "T_BTN", Item: "HR-001"}, env)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		synctest.Wait()
		step := func(l gpio.Level, after time.Duration) {
			raw.EdgesChan <- l
			synctest.Wait()
			clk.Advance(after)
			synctest.Wait()
		}
		for push := 1; push <= 3; push++ {
			// press with bounces, hold, release with bounces
			for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low} {
				step(l, 2*time.Millisecond)
			}
			clk.Advance(40 * time.Millisecond)
			synctest.Wait()
			for _, l := range []gpio.Level{gpio.High, gpio.Low, gpio.High} {
				step(l, time.Millisecond)
			}
			clk.Advance(time.Second)
			synctest.Wait()
			clk.Advance(time.Second)
			synctest.Wait()
			if rec.n() != push {
				t.Fatalf("after push %d: %d events", push, rec.n())
			}
		}
		if rec.events[0].Item != "HR-001" {
			t.Fatalf("item %q", rec.events[0].Item)
		}
		cancel()
		clk.Advance(time.Second)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	env := device.Env{Events: &recorder{}}
	if _, err := New(device.Config{ID: "b", Pin: "X"}, env); err == nil {
		t.Fatal("no item accepted")
	}
	if _, err := New(device.Config{ID: "b", Item: "I"}, env); err == nil {
		t.Fatal("no pin accepted")
	}
	_, err := New(device.Config{ID: "b", Item: "I", Pin: "NO_SUCH_PIN_7"}, env)
	if !errors.Is(err, device.ErrUnavailable) {
		t.Fatalf("missing pin: %v", err)
	}
}

// emuRuns names each run's emulated pin apart: gpioreg is process-wide and
// outlives a synctest bubble (go test -count=N).
var emuRuns atomic.Int32

func TestEmulatedButtonPresses(t *testing.T) {
	name := fmt.Sprintf("EMU_BTN_T%d", emuRuns.Add(1))
	synctest.Test(t, func(t *testing.T) {
		clk := clockwork.NewFakeClock()
		rec := &recorder{}
		d, err := New(device.Config{ID: "b", Item: "HR-002", Pin: name, Emulate: true}, device.Env{Clock: clk, Events: rec})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		synctest.Wait()
		if err := pins.Set(name, gpio.Low); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		clk.Advance(100 * time.Millisecond)
		synctest.Wait()
		if rec.n() != 1 {
			t.Fatalf("%d events", rec.n())
		}
		cancel()
		clk.Advance(time.Second)
		<-done
	})
}
