// Package scanner drives a kiosk's QR/barcode scanner (扫码器) on a serial
// line (or a USB CDC-ACM port) in its usual "serial output" mode: each code
// is sent as text ended by CR, LF or CRLF. Every code becomes evt/scan
// {code} (appointment codes, ticket or case look-ups).
//
// Empty lines are ignored; a line longer than max_len is dropped whole and
// counted (a scanner misconfigured to send images, or line noise), never
// cut and sent; lines with control bytes or invalid UTF-8 are dropped and
// counted. The device survives unplugging (status offline, code unplugged
// or port_unavailable, then reopen with backoff). With emulate: true it
// drives a scanneremu emulator on a pseudo-terminal.
//
// Config:
//
//	devices:
//	  - {id: scan-1, kind: qr-scanner, port: /dev/ttyACM0, baud: 9600, options: {max_len: 512}}
package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/gpio/pins"
	"github.com/servicehall/servicehall/firmware-agent/drivers/keypad"
	"github.com/servicehall/servicehall/firmware-agent/drivers/scanner/scanneremu"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

func init() { device.Register(wire.KindScanner, New) }
func init() { device.RegisterOptions(wire.KindScanner, DefaultOptions) }

// Options are the scanner's `options:`.
type Options struct {
	// MaxLen bounds a code in bytes; default 512, at most 4096.
	MaxLen int `yaml:"max_len"`
}

// DefaultOptions are the defaults.
var DefaultOptions = Options{MaxLen: 512}

// Scanner is a running QR/barcode scanner.
type Scanner struct {
	cfg     device.Config
	env     device.Env
	log     *slog.Logger
	backoff serialport.Backoff

	mu    sync.Mutex
	lines *Lines
	emu   *scanneremu.Emulator
}

// New is the factory: it checks the options; the port is opened by Run.
func New(cfg device.Config, env device.Env) (device.Device, error) {
	o := DefaultOptions
	if err := cfg.DecodeOptions(&o); err != nil {
		return nil, err
	}
	if o.MaxLen < 1 || o.MaxLen > 4096 {
		return nil, fmt.Errorf("device %s: max_len %d is outside 1..4096", cfg.ID, o.MaxLen)
	}
	if cfg.Port == "" && !cfg.Emulate {
		return nil, fmt.Errorf("device %s: qr-scanner needs port", cfg.ID)
	}
	if env.Events == nil {
		return nil, errors.New("qr-scanner: env has no event sink")
	}
	if env.Clock == nil {
		env.Clock = clockwork.NewRealClock()
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	return &Scanner{cfg: cfg, env: env, log: env.Log.With("device", cfg.ID), lines: NewLines(o.MaxLen), backoff: serialport.DefaultBackoff}, nil
}

// Emulator returns the emulator in emulate mode (nil otherwise).
func (s *Scanner) Emulator() *scanneremu.Emulator {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.emu
}

// Stats returns the line counters.
func (s *Scanner) Stats() LineStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines.Stats()
}

// Run reads codes until ctx ends, reopening the port after faults.
func (s *Scanner) Run(ctx context.Context) error {
	path := s.cfg.Port
	if s.cfg.Emulate {
		emu, stop, err := keypad.StartEmulator("scanner-"+s.cfg.ID, scanneremu.New)
		if err != nil {
			return fmt.Errorf("qr-scanner %s: %w", s.cfg.ID, err)
		}
		defer stop()
		s.mu.Lock()
		s.emu = emu
		s.mu.Unlock()
		path = emu.Path()
		s.log.Info("emulated scanner", "path", path)
		// A person scans a code through a pipe in the device's state dir:
		// `echo 'A001' > STATE_DIR/scan` (one code per line).
		if s.env.StateDir != "" {
			cctx, ccancel := context.WithCancel(ctx)
			cdone := make(chan struct{})
			go func() {
				defer close(cdone)
				err := pins.ServeControl(cctx, filepath.Join(s.env.StateDir, "scan"), func(line string) error {
					if line == "" {
						return nil
					}
					return emu.Scan(line)
				})
				if err != nil {
					s.log.Warn("emulated scanner control", "err", err)
				}
			}()
			defer func() { ccancel(); <-cdone }()
		}
	}
	return keypad.ReadLoop(ctx, keypad.LoopEnv{Env: s.env, Log: s.log, Path: path, Baud: s.cfg.Baud, Backoff: s.backoff},
		func() {
			s.mu.Lock()
			s.lines.Reset()
			s.mu.Unlock()
		},
		func(b []byte) {
			s.mu.Lock()
			codes := s.lines.Feed(b)
			s.mu.Unlock()
			for _, c := range codes {
				// Codes can be case numbers: log the length, not the code.
				s.log.Info("scan", "len", len(c))
				if err := s.env.Events.Emit(ctx, wire.EvtScan, wire.Scan{Code: c}); err != nil {
					s.log.Warn("scan not sent", "err", err)
				}
			}
		})
}

var _ device.Device = (*Scanner)(nil)
