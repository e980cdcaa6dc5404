// Package idcard is the firmware-agent driver for second-generation ID-card
// readers (kind idcard-reader) speaking the GA/T 467 SAM protocol on a
// serial line. It polls find / select / read, validates the record
// (GB 11643 check character, birth date and sex cross-checks) and emits one
// evt/card per card presentation: the card must leave the field before the
// same or another card yields another event.
//
// Privacy (DESIGN.md "Privacy and security"): the event carries the keyed
// hash of the number (HMAC-SHA256 with the hall secret), the masked number
// and name, birth year, sex and validity. The raw name and number go into
// wire.Card.Raw only with options.raw: true, which the agent accepts only
// with a TLS MQTT url (CheckTransport). Nothing here logs raw values.
//
// Subpackages: sam (framing, commands, text block), gb11643 (the number's
// check character), idcardemu (the emulator used by tests, the demo hall
// and `emulate: true`).
package idcard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/gpio/pins"
	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/gb11643"
	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/idcardemu"
	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/sam"
	"github.com/servicehall/servicehall/firmware-agent/ptypair"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

// Kind is the config kind this driver registers.
const Kind = wire.KindIDReader

// Status codes on dev/<d>/status.
const (
	CodeReaderFault     = "reader_fault"     // fault: the SAM answered an error code
	CodePortUnavailable = "port_unavailable" // offline: the port cannot be opened
	CodeNoReply         = "no_reply"         // offline: MaxMisses replies missing or garbled
	CodePortError       = "port_error"       // offline: the line failed (unplug)
)

// DefaultBaud is the SAM's factory rate.
const DefaultBaud = 115200

// Errors of the factory.
var (
	ErrNoPort   = errors.New("idcard: no port configured")
	ErrNoSecret = errors.New("idcard: the hall secret is empty; id_hash would be an unkeyed hash of the ID number")
)

func init() { device.Register(Kind, New) }
func init() { device.RegisterOptions(Kind, DefaultOpts()) }

// Reader is the driver.
type Reader struct {
	cfg     device.Config
	env     device.Env
	opts    Opts
	backoff serialport.Backoff

	mu     sync.Mutex
	status wire.DevStatusMsg

	// The last event's card and time, for Opts.Repeat; kept across
	// reconnects. Only the Run goroutine touches them.
	lastHash string
	lastAt   time.Time

	// onIdle, when set (tests), is called each time the poll loop is about
	// to wait Opts.Poll.
	onIdle func()
}

// New is the device.Factory: it decodes and checks the options. A real
// reader needs a port and a non-empty hall secret (Env.Secret); an
// emulated one (cfg.Emulate) runs without a secret for demos.
func New(cfg device.Config, env device.Env) (device.Device, error) {
	return newReader(cfg, env)
}

func newReader(cfg device.Config, env device.Env) (*Reader, error) {
	o, err := DecodeOpts(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Port == "" && !cfg.Emulate {
		return nil, fmt.Errorf("device %s: %w", cfg.ID, ErrNoPort)
	}
	if len(env.Secret) == 0 && !cfg.Emulate {
		return nil, fmt.Errorf("device %s: %w", cfg.ID, ErrNoSecret)
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	if env.Clock == nil {
		env.Clock = clockwork.NewRealClock()
	}
	if env.OpenPort == nil {
		env.OpenPort = func(ctx context.Context, path string, baud int) (device.Port, error) {
			return serialport.Open(ctx, path, baud)
		}
	}
	if cfg.Baud == 0 {
		cfg.Baud = DefaultBaud
	}
	return &Reader{cfg: cfg, env: env, opts: o, backoff: serialport.DefaultBackoff}, nil
}

// Caps lists "raw" when the raw record is sent.
func (r *Reader) Caps() []string {
	if r.opts.Raw {
		return []string{"raw"}
	}
	return nil
}

// Run drives the reader until ctx ends: open the port (with backoff),
// check the SAM, poll for cards, reopen on unplug.
func (r *Reader) Run(ctx context.Context) error {
	path := r.cfg.Port
	if r.cfg.Emulate {
		p, stop, err := r.startEmulator(ctx)
		if err != nil {
			return err
		}
		defer stop()
		path = p
	}
	var wait time.Duration
	for ctx.Err() == nil {
		port, err := r.env.OpenPort(ctx, path, r.cfg.Baud)
		if err != nil {
			r.setStatus(wire.StateOffline, CodePortUnavailable, err.Error())
		} else {
			s := &session{r: r, port: port}
			code, detail := s.run(ctx)
			if ctx.Err() != nil {
				break
			}
			r.setStatus(wire.StateOffline, code, detail)
			if s.wasOnline {
				wait = 0
			}
		}
		wait = r.backoff.Next(wait)
		if !serialport.Sleep(ctx, r.env.Clock, wait) {
			break
		}
	}
	return nil
}

// startEmulator runs idcardemu on a pty pair and returns the path to open.
func (r *Reader) startEmulator(ctx context.Context) (string, func(), error) {
	pair, err := ptypair.Open()
	if err != nil {
		return "", nil, fmt.Errorf("device %s: emulator: %w", r.cfg.ID, err)
	}
	emu := idcardemu.New(idcardemu.Opts{Clock: r.env.Clock, Log: r.env.Log.With("emulator", true)})
	card := r.opts.Emulator.card()
	if r.opts.Emulator.Present {
		if err := emu.Present(card); err != nil {
			pair.Close()
			return "", nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := emu.Run(ctx, pair.Master); err != nil {
			r.env.Log.Warn("idcard emulator stopped", "err", err)
		}
	})
	// A person presents the card through a pipe in the device's state dir:
	// `echo > STATE_DIR/card` (or `echo present`) lifts the card and puts
	// it back (a new read), `echo remove` takes it out.
	if r.env.StateDir != "" {
		wg.Go(func() {
			err := pins.ServeControl(ctx, filepath.Join(r.env.StateDir, "card"), func(line string) error {
				switch line {
				case "", "present":
					return emu.Swipe(card)
				case "remove":
					emu.Remove()
					return nil
				}
				r.env.Log.Warn("idcard emulator control: present or remove", "line_len", len(line))
				return nil
			})
			if err != nil {
				r.env.Log.Warn("idcard emulator control", "err", err)
			}
		})
	}
	if c := r.opts.Emulator.Cycle; c > 0 {
		wg.Go(func() {
			for serialport.Sleep(ctx, r.env.Clock, c) {
				emu.Remove()
				_ = emu.Present(card)
			}
		})
	}
	r.env.Log.Info("idcard emulator on pty", "path", pair.Path())
	return pair.Path(), func() {
		cancel()
		wg.Wait()
		pair.Close()
	}, nil
}

// setStatus reports a change of state or code (not repeats).
func (r *Reader) setStatus(state, code, detail string) {
	r.mu.Lock()
	if r.status.State == state && r.status.Code == code {
		r.mu.Unlock()
		return
	}
	r.status = wire.DevStatusMsg{State: state, Code: code, Detail: detail}
	r.mu.Unlock()
	if r.env.Status != nil {
		r.env.Status.SetStatus(wire.DevStatusMsg{State: state, Code: code, Detail: detail})
	}
	r.env.Log.Info("idcard status", "state", state, "code", code, "detail", detail)
}

var (
	_ device.Device = (*Reader)(nil)
	_ device.Capper = (*Reader)(nil)
)

// gbCode maps validation errors to a log code (never the value).
func gbCode(err error) string {
	if c := gb11643.Code(err); c != "" {
		return c
	}
	switch {
	case errors.Is(err, sam.ErrCardType):
		return "card_type"
	case errors.Is(err, sam.ErrTextLen), errors.Is(err, sam.ErrPayload):
		return "bad_read_reply"
	}
	return "bad_field"
}
