// Package button drives the ticket button (取号按钮) of a kiosk: one GPIO
// line, debounced, one `press` event per push carrying the button's
// configured item. hallctl issues the ticket and prints it on the printer
// the button names.
//
// Config:
//
//	devices:
//	  - {id: btn-1, kind: ticket-button, pin: GPIO17, item: HR-001, printer: printer-1,
//	    options: {confirm_ms: 30, lockout_ms: 500, active_high: false}}
package button

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
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

// Options are the button's `options:`.
type Options struct {
	debounce.Config `yaml:",inline"`
}

// Button is a running ticket button.
type Button struct {
	cfg   device.Config
	env   device.Env
	log   *slog.Logger
	pin   *debounce.Pin
	press atomic.Uint64
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
	return &Button{cfg: cfg, env: env, log: env.Log.With("device", cfg.ID), pin: debounce.New(raw, env.Clock, dopts)}, nil
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
	for {
		lvl, changed, err := b.pin.Next(ctx, -1)
		if err != nil {
			return nil
		}
		if !changed || lvl != b.pin.Active() {
			continue
		}
		b.press.Add(1)
		if err := b.env.Events.Emit(ctx, wire.EvtPress, wire.Press{Item: b.cfg.Item}); err != nil {
			b.log.Warn("press not sent", "err", err)
		}
	}
}

var _ device.Device = (*Button)(nil)
