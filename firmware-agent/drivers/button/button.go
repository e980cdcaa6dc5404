// Package button drives the ticket button (取号按钮) of a kiosk: one GPIO
// line, debounced, one `press` event per push carrying the button's
// configured item. hallctl issues the ticket and prints it on the printer
// the button names.
//
// Offline numbering: the button keeps the newest lease (cmd/lease) of its
// item in the agent's store. A push while the controller cannot be
// reached takes the lease's next number, prints the ticket on the
// button's printer at once (with 等候时间暂不可估算 instead of an estimate)
// and queues the press with `ticket` set; the controller enters it by its
// print time when it is back. A number once taken is never used again. An
// expired or used-up lease is not used: the press then waits in the
// outbox as a plain press. `offline: false` turns this off (the button
// then takes no leases).
//
// Config:
//
//	devices:
//	  - {id: btn-1, kind: ticket-button, pin: GPIO17, item: HR-001, printer: printer-1,
//	    options: {confirm_ms: 30, lockout_ms: 500, active_high: false, offline: true}}
package button

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/gpio/debounce"
	"github.com/servicehall/servicehall/firmware-agent/drivers/gpio/pins"
	"github.com/servicehall/servicehall/wire"
)

func init() { device.Register(wire.KindButton, New) }
func init() { device.RegisterOptions(wire.KindButton, Options{}) }

// Options are the button's `options:`.
type Options struct {
	debounce.Config `yaml:",inline"`
	// Offline: issue leased numbers while the controller is unreachable;
	// default true.
	Offline *bool `yaml:"offline,omitempty" default:"true" doc:"keep a lease of numbers (hall config leases:) and print leased numbers while the controller is unreachable; announces the lease capability. false: presses always wait for the controller"`
}

// Button is a running ticket button.
type Button struct {
	cfg   device.Config
	env   device.Env
	log   *slog.Logger
	pin   *debounce.Pin
	press atomic.Uint64
	// offline numbering is on (option, and the agent gives a store)
	offline bool
	leaseMu sync.Mutex // the stored lease: cmd/lease vs presses
}

// New is the factory: it checks the config and finds the pin.
func New(cfg device.Config, env device.Env) (device.Device, error) {
	var o Options
	if err := cfg.DecodeOptions(&o); err != nil {
		return nil, err
	}
	dopts, err := o.Opts()
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", cfg.ID, err)
	}
	if cfg.Item == "" {
		return nil, fmt.Errorf("device %s: ticket-button needs item", cfg.ID)
	}
	if cfg.Pin == "" {
		return nil, fmt.Errorf("device %s: ticket-button needs pin", cfg.ID)
	}
	if env.Clock == nil {
		env.Clock = clockwork.NewRealClock()
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	if env.Events == nil {
		return nil, errors.New("ticket-button: env has no event sink")
	}
	if cfg.Emulate {
		if err := pins.Emulate(env.Clock, cfg.Pin); err != nil {
			return nil, fmt.Errorf("device %s: %w", cfg.ID, err)
		}
	}
	raw, err := pins.Open(env, cfg.Pin)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", cfg.ID, err)
	}
	return &Button{cfg: cfg, env: env, log: env.Log.With("device", cfg.ID), pin: debounce.New(raw, env.Clock, dopts),
		offline: (o.Offline == nil || *o.Offline) && env.KV != nil}, nil
}

// Presses returns how many pushes were reported.
func (b *Button) Presses() uint64 { return b.press.Load() }

// Run watches the line until ctx ends.
func (b *Button) Run(ctx context.Context) error {
	edge := gpio.FallingEdge
	if b.pin.Active() == gpio.High {
		edge = gpio.RisingEdge
	}
	if err := b.pin.In(gpio.PullNoChange, edge); err != nil {
		return fmt.Errorf("ticket-button %s: %w", b.cfg.ID, err)
	}
	if b.env.Status != nil {
		b.env.Status.SetStatus(wire.DevStatusMsg{State: wire.StateOnline})
	}
	if b.cfg.Emulate && b.env.StateDir != "" {
		// An emulated button is pushed by writing a line to its pipe.
		go func() {
			err := pins.ServeControl(ctx, filepath.Join(b.env.StateDir, "press"), func(string) error {
				return pins.Press(ctx, b.env.Clock, b.cfg.Pin, 100*time.Millisecond)
			})
			if err != nil {
				b.log.Warn("emulated button control", "err", err)
			}
		}()
	}
	// Presses are handled in order by one worker, so the line is watched
	// while an offline ticket prints (a push then is not lost).
	presses := make(chan struct{}, maxPending)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-presses:
				b.onPress(ctx)
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()
	for {
		lvl, changed, err := b.pin.Next(ctx, -1)
		if err != nil {
			return nil
		}
		if !changed || lvl != b.pin.Active() {
			continue
		}
		b.press.Add(1)
		select {
		case presses <- struct{}{}:
		default:
			b.log.Warn("press dropped: too many presses waiting", "waiting", maxPending)
		}
	}
}

// maxPending bounds presses waiting for the one before them (printing).
const maxPending = 64

// onPress emits the press, printing from the lease first when the
// controller cannot be reached.
func (b *Button) onPress(ctx context.Context) {
	p := wire.Press{Item: b.cfg.Item}
	b.log.Debug("press", "n", b.press.Load())
	if b.offline && b.env.Ctl != nil && !b.env.Ctl.Reachable() {
		p.Ticket = b.printOffline(ctx)
	}
	if err := b.env.Events.Emit(ctx, wire.EvtPress, p); err != nil {
		b.log.Warn("press not sent", "err", err)
	}
}

var (
	_ device.Device    = (*Button)(nil)
	_ device.Commander = (*Button)(nil)
	_ device.Capper    = (*Button)(nil)
)
