// Package devicetest has in-memory fake devices for tests of the agent
// core: a printer that records prints and returns a controllable outcome, a
// button whose Press emits a press event, and a display that records the
// desired documents it applied. A Set creates them and gives the agent a
// lookup function, so tests never depend on the global device registry.
package devicetest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

// Fake device kinds.
const (
	KindPrinter     = "fake-printer"
	KindButton      = "fake-button"
	KindDisplay     = "fake-display"
	KindUnavailable = "fake-unavailable" // factory fails with device.ErrUnavailable
	KindBroken      = "fake-broken"      // factory fails with another error
)

// Set creates fakes and remembers the latest instance per device id (an
// agent restart creates new instances with the same ids).
type Set struct {
	mu       sync.Mutex
	printers map[string]*Printer
	buttons  map[string]*Button
	displays map[string]*Display
}

// NewSet returns an empty Set.
func NewSet() *Set {
	return &Set{printers: map[string]*Printer{}, buttons: map[string]*Button{}, displays: map[string]*Display{}}
}

// Lookup is a device.Lookup for the fake kinds, falling back to nothing.
func (s *Set) Lookup(kind string) (device.Factory, bool) {
	switch kind {
	case KindPrinter:
		return func(cfg device.Config, env device.Env) (device.Device, error) {
			p := NewPrinter(cfg, env)
			s.mu.Lock()
			if old := s.printers[cfg.ID]; old != nil {
				p.outcome = old.outcome // keep what the test set across restarts
				p.calls = old.calls
			}
			s.printers[cfg.ID] = p
			s.mu.Unlock()
			return p, nil
		}, true
	case KindButton:
		return func(cfg device.Config, env device.Env) (device.Device, error) {
			b := &Button{cfg: cfg, env: env}
			s.mu.Lock()
			s.buttons[cfg.ID] = b
			s.mu.Unlock()
			return b, nil
		}, true
	case KindDisplay:
		return func(cfg device.Config, env device.Env) (device.Device, error) {
			d := &Display{Applied: make(chan wire.DesiredMsg, 256)}
			s.mu.Lock()
			s.displays[cfg.ID] = d
			s.mu.Unlock()
			return d, nil
		}, true
	case KindUnavailable:
		return func(cfg device.Config, env device.Env) (device.Device, error) {
			return nil, fmt.Errorf("pin %q not found: %w", cfg.Pin, device.ErrUnavailable)
		}, true
	case KindBroken:
		return func(cfg device.Config, env device.Env) (device.Device, error) {
			return nil, errors.New("bad options")
		}, true
	}
	return nil, false
}

// Printer returns the latest fake printer with that id, or nil.
func (s *Set) Printer(id string) *Printer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.printers[id]
}

// Button returns the latest fake button with that id, or nil.
func (s *Set) Button(id string) *Button {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buttons[id]
}

// Display returns the latest fake display with that id, or nil.
func (s *Set) Display(id string) *Display {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.displays[id]
}

// Call is one command a fake printer handled.
type Call struct {
	Name string
	Args []byte
}

// Printer records every command it handles and answers with Outcome.
type Printer struct {
	cfg device.Config
	env device.Env

	mu      sync.Mutex
	outcome *device.Result
	calls   *[]Call
	gate    chan struct{}
	// Started receives a call when Handle starts waiting on a Hold.
	Started chan Call
	// Handled receives every call (buffered; never blocks the agent).
	Handled chan Call
	// RunErr, when sent a value, makes Run return it (to test restarts).
	RunErr chan error
}

// NewPrinter builds a fake printer outside a Set.
func NewPrinter(cfg device.Config, env device.Env) *Printer {
	return &Printer{cfg: cfg, env: env, outcome: &device.Result{Status: wire.AckDone}, calls: &[]Call{},
		Handled: make(chan Call, 1024), RunErr: make(chan error, 1), Started: make(chan Call, 16)}
}

// SetOutcome sets the Result of later commands.
func (p *Printer) SetOutcome(r device.Result) {
	p.mu.Lock()
	*p.outcome = r
	p.mu.Unlock()
}

// Hold makes later commands wait in Handle until Release.
func (p *Printer) Hold() {
	p.mu.Lock()
	p.gate = make(chan struct{})
	p.mu.Unlock()
}

// Release lets held commands finish.
func (p *Printer) Release() {
	p.mu.Lock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
	p.mu.Unlock()
}

// Calls returns every command handled so far (across restarts in a Set).
func (p *Printer) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), *p.calls...)
}

// Run blocks until ctx ends or RunErr is sent an error.
func (p *Printer) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-p.RunErr:
		return err
	}
}

// Handle records the call and returns the configured outcome.
func (p *Printer) Handle(ctx context.Context, name string, args []byte) device.Result {
	c := Call{Name: name, Args: append([]byte(nil), args...)}
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	if gate != nil {
		p.Started <- c
		select {
		case <-gate:
		case <-ctx.Done():
			return device.Failed("cancelled", ctx.Err())
		}
	}
	p.mu.Lock()
	*p.calls = append(*p.calls, c)
	r := *p.outcome
	p.mu.Unlock()
	select {
	case p.Handled <- c:
	default:
	}
	return r
}

// Caps lists the fake's capabilities.
func (p *Printer) Caps() []string { return []string{"cut", "qr"} }

// Button emits a press event with its configured item on Press.
type Button struct {
	cfg device.Config
	env device.Env
}

// Run blocks until ctx ends.
func (b *Button) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Press emits evt/press; it returns once the event is durable.
func (b *Button) Press(ctx context.Context) error {
	return b.env.Events.Emit(ctx, wire.EvtPress, wire.Press{Item: b.cfg.Item})
}

// SetStatus reports a device status through the agent.
func (b *Button) SetStatus(s wire.DevStatusMsg) { b.env.Status.SetStatus(s) }

// Display records every desired document applied.
type Display struct {
	// Applied receives each applied document in order.
	Applied chan wire.DesiredMsg
	mu      sync.Mutex
	fail    error
}

// Run blocks until ctx ends.
func (d *Display) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// FailWith makes later Apply calls return err (nil to succeed again).
func (d *Display) FailWith(err error) {
	d.mu.Lock()
	d.fail = err
	d.mu.Unlock()
}

// Apply records doc.
func (d *Display) Apply(ctx context.Context, doc wire.DesiredMsg) error {
	d.mu.Lock()
	err := d.fail
	d.mu.Unlock()
	if err != nil {
		return err
	}
	d.Applied <- doc
	return nil
}

var (
	_ device.Commander = (*Printer)(nil)
	_ device.Capper    = (*Printer)(nil)
	_ device.Device    = (*Button)(nil)
	_ device.Displayer = (*Display)(nil)
)
