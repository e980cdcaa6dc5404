// Package pins finds the GPIO lines a driver is configured with, and in
// emulate mode stands gpiotest pins in for them so a GPIO device starts on
// a machine without GPIO (a developer laptop, the demo hall, CI).
//
// Emulated pins are registered in periph's gpioreg under the configured
// line names; Set injects a level change on one, like a finger on a button.
package pins

import (
	"errors"
	"fmt"
	"sync"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/servicehall/servicehall/firmware-agent/device"
)

// ErrNotEmulated is returned by Set for a line that is not an emulated pin.
var ErrNotEmulated = errors.New("not an emulated pin")

var (
	mu       sync.Mutex
	emulated = map[string]*gpiotest.Pin{}
)

// Emulate registers a gpiotest pin for each name that gpioreg does not
// know yet, idle High (pull-up, button released). clock may be nil.
func Emulate(clock clockwork.Clock, names ...string) error {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range names {
		if n == "" {
			return errors.New("emulate pin: empty line name")
		}
		if _, ok := emulated[n]; ok || gpioreg.ByName(n) != nil {
			continue
		}
		p := &gpiotest.Pin{N: n, Num: -1, L: gpio.High, P: gpio.PullUp, EdgesChan: make(chan gpio.Level, 64), Clock: clock}
		if err := gpioreg.Register(p); err != nil {
			return fmt.Errorf("emulate pin %s: %w", n, err)
		}
		emulated[n] = p
	}
	return nil
}

// Set injects a level change on an emulated pin (Low = pressed for a
// pull-up button). It does not block; an edge is dropped if 64 are queued.
func Set(name string, l gpio.Level) error {
	mu.Lock()
	p, ok := emulated[name]
	mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotEmulated, name)
	}
	select {
	case p.EdgesChan <- l:
		return nil
	default:
		return fmt.Errorf("emulated pin %s: edge queue full", name)
	}
}

// Open finds a line through env.OpenPin (gpioreg.ByName when env has no
// opener). A missing line is an error wrapping device.ErrUnavailable that
// names the line, so the agent reports the device as skipped.
func Open(env device.Env, name string) (gpio.PinIO, error) {
	if name == "" {
		return nil, errors.New("no pin configured")
	}
	var (
		p   gpio.PinIO
		err error
	)
	if env.OpenPin != nil {
		p, err = env.OpenPin(name)
	} else {
		p = gpioreg.ByName(name)
	}
	if err != nil {
		if errors.Is(err, device.ErrUnavailable) {
			return nil, fmt.Errorf("pin %s: %w", name, err)
		}
		return nil, fmt.Errorf("pin %s: %w: %v", name, device.ErrUnavailable, err)
	}
	if p == nil {
		return nil, fmt.Errorf("pin %s not found on this board: %w", name, device.ErrUnavailable)
	}
	return p, nil
}
