// Package debounce wraps a GPIO input with a real debounce: an edge is only
// believed once the new level has held for a confirm time, and after a
// confirmed change to the active level the pin ignores the line for a
// lockout time (contact bounce, a double tap, a palm on the pad).
//
// periph's gpioutil.Debounce only denoises (its debounce duration is stored
// but never used) and keeps a private real clock, so it cannot be tested;
// this decorator takes a clockwork.Clock and returns the same gpio.PinIn
// interface, so drivers do not care whether a pin is debounced.
//
// It always waits on the underlying pin with a finite, positive timeout: on
// host v3.8.5's gpioioctl a WaitForEdge(-1) returns at once and 0 means "no
// deadline", both unlike the gpio.PinIn contract (protocols/DEVICES.md §4).
package debounce

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

// Opts tune the debounce. The zero value of a field means its default.
type Opts struct {
	// Pull is the bias set on the line; default gpio.PullUp (buttons to
	// ground, so pressed reads Low).
	Pull gpio.Pull
	// ActiveHigh makes High the pressed level; default false: pressed
	// reads Low.
	ActiveHigh bool
	// Confirm is how long a new level must hold before it counts;
	// default 30 ms (20–50 ms suits push buttons).
	Confirm time.Duration
	// Lockout is how long after a confirmed press the line is ignored;
	// default 500 ms (300–1000 ms).
	Lockout time.Duration
	// Poll caps each wait on the underlying pin; default 250 ms. It bounds
	// how late a cancelled context is noticed.
	Poll time.Duration
}

// DefaultOpts are the defaults used for zero fields.
var DefaultOpts = Opts{Pull: gpio.PullUp, Confirm: 30 * time.Millisecond, Lockout: 500 * time.Millisecond, Poll: 250 * time.Millisecond}

func (o Opts) withDefaults() Opts {
	if o.Pull == gpio.PullNoChange {
		o.Pull = DefaultOpts.Pull
	}
	if o.Confirm <= 0 {
		o.Confirm = DefaultOpts.Confirm
	}
	if o.Lockout < 0 {
		o.Lockout = 0
	} else if o.Lockout == 0 {
		o.Lockout = DefaultOpts.Lockout
	}
	if o.Poll <= 0 {
		o.Poll = DefaultOpts.Poll
	}
	return o
}

// Validate reports options out of the sane range for push buttons.
func (o Opts) Validate() error {
	var errs []error
	if o.Confirm < 0 || o.Confirm > time.Second {
		errs = append(errs, fmt.Errorf("confirm %s is outside 0..1s", o.Confirm))
	}
	if o.Lockout < 0 || o.Lockout > 10*time.Second {
		errs = append(errs, fmt.Errorf("lockout %s is outside 0..10s", o.Lockout))
	}
	return errors.Join(errs...)
}

// Pin is a debounced input. It implements gpio.PinIn; WaitForEdge reports
// confirmed changes only, and Read returns the debounced level. Use it from
// one goroutine (like any edge-waiting pin); Read and Stable are safe from
// any goroutine.
type Pin struct {
	raw    gpio.PinIn
	clock  clockwork.Clock
	o      Opts
	active gpio.Level

	mu     sync.Mutex
	stable gpio.Level
	edge   gpio.Edge // which confirmed changes WaitForEdge reports

	lockoutUntil time.Time
	pending      bool
	pendingSince time.Time
}

// New wraps raw. Call In before waiting, like on any pin.
func New(raw gpio.PinIn, clock clockwork.Clock, o Opts) *Pin {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	o = o.withDefaults()
	active := gpio.Low
	if o.ActiveHigh {
		active = gpio.High
	}
	return &Pin{raw: raw, clock: clock, o: o, active: active, stable: !active, edge: gpio.BothEdges}
}

// Raw returns the wrapped pin.
func (p *Pin) Raw() gpio.PinIn { return p.raw }

// Active returns the pressed level.
func (p *Pin) Active() gpio.Level { return p.active }

// In configures the underlying line for both edges (the debounce needs to
// see releases too) with the given pull (PullNoChange keeps Opts.Pull);
// edge selects which confirmed changes WaitForEdge reports.
func (p *Pin) In(pull gpio.Pull, edge gpio.Edge) error {
	if pull == gpio.PullNoChange {
		pull = p.o.Pull
	}
	if err := p.raw.In(pull, gpio.BothEdges); err != nil {
		return fmt.Errorf("debounce %s: %w", p.raw, err)
	}
	p.mu.Lock()
	if edge == gpio.NoEdge {
		edge = gpio.BothEdges
	}
	p.edge = edge
	p.stable = p.raw.Read()
	p.pending = false
	p.mu.Unlock()
	return nil
}

// Read returns the debounced level.
func (p *Pin) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stable
}

// WaitForEdge waits for a confirmed change matching the edge given to In.
// timeout < 0 waits without limit (internally still in finite slices).
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	var until time.Time
	if timeout >= 0 {
		until = p.clock.Now().Add(timeout)
	}
	for {
		max := time.Duration(-1)
		if !until.IsZero() {
			if max = until.Sub(p.clock.Now()); max <= 0 {
				return false
			}
		}
		if _, ok, _ := p.Next(context.Background(), max); ok && p.matches() {
			return true
		}
	}
}

func (p *Pin) matches() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.edge {
	case gpio.FallingEdge:
		return p.stable == gpio.Low
	case gpio.RisingEdge:
		return p.stable == gpio.High
	}
	return true
}

// Next waits up to max (max < 0: until ctx ends) for the next confirmed
// change of level, in either direction. It returns the debounced level and
// whether it changed; err is ctx.Err() once ctx is done.
func (p *Pin) Next(ctx context.Context, max time.Duration) (gpio.Level, bool, error) {
	var until time.Time
	if max >= 0 {
		until = p.clock.Now().Add(max)
	}
	for {
		// Done, not Err: some contexts (clockwork's fake-clock ones) block
		// in Err until they are done.
		select {
		case <-ctx.Done():
			return p.Read(), false, ctx.Err()
		default:
		}
		now := p.clock.Now()
		wait := p.o.Poll
		p.mu.Lock()
		switch {
		case now.Before(p.lockoutUntil):
			wait = min(wait, p.lockoutUntil.Sub(now))
		case p.pending:
			wait = min(wait, p.pendingSince.Add(p.o.Confirm).Sub(now))
		}
		p.mu.Unlock()
		if !until.IsZero() {
			left := until.Sub(now)
			if left <= 0 {
				return p.Read(), false, nil
			}
			wait = min(wait, left)
		}
		if wait <= 0 {
			wait = time.Millisecond // a finite positive wait, never 0 or -1
		}
		edge := p.raw.WaitForEdge(wait)
		if lvl, changed := p.observe(edge, p.raw.Read(), p.clock.Now()); changed {
			return lvl, true, nil
		}
	}
}

// observe feeds one wake-up (an edge, or a timeout) into the state
// machine and says whether the debounced level changed.
func (p *Pin) observe(edge bool, raw gpio.Level, now time.Time) (gpio.Level, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Before(p.lockoutUntil) {
		// Bounces and the release during the lockout are ignored; the
		// level is sampled again when it ends.
		return p.stable, false
	}
	if raw == p.stable {
		p.pending = false
		return p.stable, false
	}
	if edge || !p.pending {
		// A fresh change (or another bounce): start confirming from now.
		p.pending = true
		p.pendingSince = now
		return p.stable, false
	}
	if now.Sub(p.pendingSince) < p.o.Confirm {
		return p.stable, false
	}
	p.pending = false
	p.stable = raw
	if raw == p.active {
		p.lockoutUntil = now.Add(p.o.Lockout)
	}
	return p.stable, true
}

// String implements conn.Resource.
func (p *Pin) String() string { return "debounced(" + p.raw.String() + ")" }

// Name implements pin.Pin.
func (p *Pin) Name() string { return p.raw.Name() }

// Number implements pin.Pin.
func (p *Pin) Number() int { return p.raw.Number() }

// Function implements pin.Pin.
func (p *Pin) Function() string { return p.raw.Function() }

// Halt implements conn.Resource.
func (p *Pin) Halt() error { return p.raw.Halt() }

// Pull implements gpio.PinIn.
func (p *Pin) Pull() gpio.Pull { return p.raw.Pull() }

// DefaultPull implements gpio.PinIn.
func (p *Pin) DefaultPull() gpio.Pull { return p.raw.DefaultPull() }

var _ gpio.PinIn = (*Pin)(nil)

// Config is the YAML form of Opts, for a driver's `options:`.
type Config struct {
	ConfirmMS  int  `yaml:"confirm_ms" default:"30" doc:"how long (ms) a new level must hold before it counts, 0–1000; 20–50 suits push buttons"`
	LockoutMS  int  `yaml:"lockout_ms" default:"500" doc:"how long (ms) after a press the line is ignored (bounce, a double tap), 0–10000; 300–1000 suits people"`
	ActiveHigh bool `yaml:"active_high" default:"false" doc:"pressed reads High (pull-down bias); false: pressed reads Low with the pull-up bias (buttons to ground)"`
}

// Opts converts c, validating the ranges.
func (c Config) Opts() (Opts, error) {
	o := Opts{
		Confirm:    time.Duration(c.ConfirmMS) * time.Millisecond,
		Lockout:    time.Duration(c.LockoutMS) * time.Millisecond,
		ActiveHigh: c.ActiveHigh,
	}
	if c.ActiveHigh {
		o.Pull = gpio.PullDown
	}
	if err := o.Validate(); err != nil {
		return o, err
	}
	return o, nil
}
