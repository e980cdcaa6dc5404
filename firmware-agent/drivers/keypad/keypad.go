// Package keypad drives a window's caller keypad (呼叫器) on a serial line
// and turns keys into evt/key {action, arg}: call-next, recall, no-show,
// start, finish, pause, resume, transfer.
//
// Vendors' keypad protocols are proprietary, so the agent speaks one simple
// documented protocol and the key map (options.keys) adapts a keypad to it.
//
// # The servicehall keypad protocol (v1)
//
// The keypad only sends; the host never writes. Two framings:
//
//   - byte (default): one byte per key. '0'..'9' type an argument (at most
//     max_digits, forgotten after digit_timeout_s), the clear key ('*')
//     drops typed digits, CR, LF and space are ignored, and every other byte
//     is looked up in the key map: a mapped key sends its action, taking
//     the typed digits as arg if it is an arg action (transfer), and clears
//     them. Letters match case-insensitively. Unmapped bytes are garbage:
//     counted, and they clear typed digits (a line error may have eaten a
//     key). Default map: N call-next, R recall, X no-show, S start,
//     F finish, P pause, C resume, T transfer. "12T" = transfer to 12.
//   - line: one ASCII line per key, ended by CR, LF or CRLF: a key word with
//     an optional numeric argument ("NEXT", "XFER 12", "T 12"), or a line of
//     digits that types an argument for the next key. Words match
//     case-insensitively: NEXT, RECALL, NOSHOW, START, FINISH, PAUSE,
//     RESUME, XFER/TRANSFER, plus the single letters. Lines longer than
//     max_line are dropped and counted.
//
// Transfer without digits is dropped and counted (a transfer needs a
// target). Key codes in options.keys are printable words or one byte in
// hex ("0x81"); giving keys replaces the default map.
//
// Config:
//
//	devices:
//	  - {id: caller-8, kind: caller-keypad, port: /dev/ttyUSB3, window: 8,
//	    options: {framing: byte, keys: {"0x81": call-next, "0x82": recall}}}
//
// The device survives unplugging: it reports offline (code unplugged or
// port_unavailable) and reopens the port with backoff. With emulate: true
// it runs a keypademu emulator on a pseudo-terminal and drives that.
package keypad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/keypad/keypademu"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

func init() { device.Register(wire.KindKeypad, New) }
func init() { device.RegisterOptions(wire.KindKeypad, DefaultOptions) }

// Stable status codes.
const (
	CodeUnplugged       = "unplugged"
	CodePortUnavailable = "port_unavailable"
)

// Keypad is a running caller keypad.
type Keypad struct {
	cfg     device.Config
	env     device.Env
	log     *slog.Logger
	backoff serialport.Backoff

	mu     sync.Mutex
	parser *Parser

	emu *keypademu.Emulator // emulate mode only
}

// New is the factory: it checks the options; the port is opened by Run.
func New(cfg device.Config, env device.Env) (device.Device, error) {
	o := DefaultOptions
	if err := cfg.DecodeOptions(&o); err != nil {
		return nil, err
	}
	p, err := NewParser(o)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", cfg.ID, err)
	}
	if cfg.Port == "" && !cfg.Emulate {
		return nil, fmt.Errorf("device %s: caller-keypad needs port", cfg.ID)
	}
	if env.Events == nil {
		return nil, errors.New("caller-keypad: env has no event sink")
	}
	if env.Clock == nil {
		env.Clock = clockwork.NewRealClock()
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	return &Keypad{cfg: cfg, env: env, log: env.Log.With("device", cfg.ID), parser: p, backoff: serialport.DefaultBackoff}, nil
}

// Emulator returns the emulator driven in emulate mode (nil before Run or
// when not emulating), so a demo can press keys.
func (k *Keypad) Emulator() *keypademu.Emulator {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.emu
}

// Stats returns the parser's counters.
func (k *Keypad) Stats() Stats {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.parser.Stats()
}

// Run reads keys until ctx ends, reopening the port after faults.
func (k *Keypad) Run(ctx context.Context) error {
	path := k.cfg.Port
	if k.cfg.Emulate {
		emu, stop, err := StartEmulator("keypad-"+k.cfg.ID, keypademu.New)
		if err != nil {
			return fmt.Errorf("caller-keypad %s: %w", k.cfg.ID, err)
		}
		defer stop()
		k.mu.Lock()
		k.emu = emu
		k.mu.Unlock()
		path = emu.Path()
		k.log.Info("emulated keypad", "path", path)
	}
	return ReadLoop(ctx, LoopEnv{Env: k.env, Log: k.log, Path: path, Baud: k.cfg.Baud, Backoff: k.backoff},
		func() {
			k.mu.Lock()
			k.parser.Reset()
			k.mu.Unlock()
		},
		func(b []byte) {
			k.mu.Lock()
			keys := k.parser.Feed(b, k.env.Clock.Now())
			k.mu.Unlock()
			for _, key := range keys {
				k.log.Info("key", "action", key.Action, "arg", key.Arg)
				if err := k.env.Events.Emit(ctx, wire.EvtKey, key); err != nil {
					k.log.Warn("key not sent", "err", err)
				}
			}
		})
}

// StartEmulator runs a serial emulator (the keypad's or the scanner's)
// behind a temporary stable link for emulate mode; stop closes it and
// removes the link.
func StartEmulator[E interface {
	Path() string
	Close() error
}](name string, newEmu func(link string) (E, error)) (emu E, stop func(), err error) {
	link, err := keypademu.TempLink(name)
	if err != nil {
		return emu, nil, fmt.Errorf("emulator: %w", err)
	}
	emu, err = newEmu(link)
	if err != nil {
		os.RemoveAll(filepath.Dir(link))
		return emu, nil, fmt.Errorf("emulator: %w", err)
	}
	return emu, func() {
		emu.Close()
		os.RemoveAll(filepath.Dir(link))
	}, nil
}

// LoopEnv is what ReadLoop needs.
type LoopEnv struct {
	device.Env
	Log     *slog.Logger
	Path    string
	Baud    int
	Backoff serialport.Backoff
}

// ReadLoop opens a one-way serial device, feeds every read to feed, and on
// any fault (open fails, read fails: unplugged) reports the device offline
// and retries with backoff until ctx ends; reset is called on each
// (re)connect. It returns nil when ctx ends. The QR scanner uses it too.
func ReadLoop(ctx context.Context, e LoopEnv, reset func(), feed func([]byte)) error {
	open := e.OpenPort
	if open == nil {
		open = func(ctx context.Context, path string, baud int) (device.Port, error) {
			return serialport.Open(ctx, path, baud)
		}
	}
	status := func(s wire.DevStatusMsg) {
		if e.Status != nil {
			e.Status.SetStatus(s)
		}
	}
	wait := e.Backoff.Min
	lastCode := ""
	for ctx.Err() == nil {
		port, err := open(ctx, e.Path, e.Baud)
		if err != nil {
			if lastCode != CodePortUnavailable {
				e.Log.Warn("port unavailable", "path", e.Path, "err", err)
				status(wire.DevStatusMsg{State: wire.StateOffline, Code: CodePortUnavailable, Detail: err.Error()})
				lastCode = CodePortUnavailable
			}
			if !serialport.Sleep(ctx, e.Clock, wait) {
				break
			}
			wait = e.Backoff.Next(wait)
			continue
		}
		wait = e.Backoff.Min
		lastCode = ""
		e.Log.Info("port open", "path", e.Path)
		status(wire.DevStatusMsg{State: wire.StateOnline})
		reset()
		err = readAll(ctx, port, feed)
		port.Close()
		if ctx.Err() != nil {
			break
		}
		e.Log.Warn("port lost", "path", e.Path, "err", err)
		status(wire.DevStatusMsg{State: wire.StateOffline, Code: CodeUnplugged, Detail: err.Error()})
		lastCode = CodeUnplugged
		if !serialport.Sleep(ctx, e.Clock, wait) {
			break
		}
	}
	return nil
}

// readAll reads until an error; ctx's end closes the port to unblock it.
func readAll(ctx context.Context, port device.Port, feed func([]byte)) error {
	stop := context.AfterFunc(ctx, func() { port.Close() })
	defer stop()
	buf := make([]byte, 512)
	zero := 0
	for {
		n, err := port.Read(buf)
		if n > 0 {
			zero = 0
			feed(buf[:n])
		}
		if err != nil {
			return err
		}
		if n == 0 {
			// A read timeout nobody set; many in a row mean a dead line.
			if zero++; zero > 100 {
				return errors.New("port returns no data")
			}
		}
	}
}

var _ device.Device = (*Keypad)(nil)
