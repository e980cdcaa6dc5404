package led

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/displays/layout"
	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/led/ledemu"
	"github.com/servicehall/servicehall/firmware-agent/ptypair"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

// Driver is one LED display.
type Driver struct {
	cfg     device.Config
	env     device.Env
	s       settings
	link    link
	log     *slog.Logger
	backoff serialport.Backoff

	lines *lineSet // where the device finds the other screens on its port

	mu   sync.Mutex       // serialises Apply and the exchanges of this screen
	ln   *line            // nil before Run
	last *wire.DesiredMsg // re-applied after a reconnect

	stMu   sync.Mutex
	status wire.DevStatusMsg

	emu *ledemu.Emulator // when cfg.Emulate
}

// New is the device.Factory for kind led-display.
func New(cfg device.Config, env device.Env) (device.Device, error) {
	s, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	if env.Clock == nil {
		env.Clock = clockwork.NewRealClock()
	}
	d := &Driver{cfg: cfg, env: env, s: s, log: env.Log.With("device", cfg.ID), backoff: serialport.DefaultBackoff, lines: chains}
	if s.protocol == ProtocolOnbon {
		d.link = onbonLink{addr: uint16(s.addr)}
	} else {
		d.link = profileLink{f: s.framer, addr: s.addr}
	}
	return d, nil
}

// Emulator is the emulated controller when the config says emulate: true
// (nil before Run starts it, or without emulation).
func (d *Driver) Emulator() *ledemu.Emulator {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.emu
}

// Caps lists what the panel does, for the birth message.
func (d *Driver) Caps() []string {
	caps := []string{"panel:" + d.s.panel.String(), fmt.Sprintf("rows:%d", d.s.panel.Rows())}
	if d.link.canScroll() {
		caps = append(caps, "scroll")
	}
	return caps
}

func (d *Driver) setStatus(state, code, detail string) {
	m := wire.DevStatusMsg{State: state, Code: code, Detail: detail}
	d.stMu.Lock()
	same := d.status == m
	d.status = m
	d.stMu.Unlock()
	if !same && d.env.Status != nil {
		d.env.Status.SetStatus(m)
	}
}

// Run joins the device's line (opening the port if it is the first
// screen on it) and follows the port's state: when it opens, probe the
// controller and re-apply the last document (a controller loses dynamic
// areas when it loses power), then check it every probe interval; when it
// fails, report offline while the line reopens it.
func (d *Driver) Run(ctx context.Context) error {
	path := d.cfg.Port
	if d.cfg.Emulate {
		p, err := d.startEmulator(ctx)
		if err != nil {
			return err
		}
		path = p
	}
	ln, err := d.lines.join(d, path)
	if err != nil {
		return err
	}
	defer d.lines.leave(ln, d)
	d.mu.Lock()
	d.ln = ln
	d.mu.Unlock()
	d.setStatus(wire.StateOffline, "", "starting")
	seen := -1
	var ticker clockwork.Ticker
	var tick <-chan time.Time
	stopTicker := func() {
		if ticker != nil {
			ticker.Stop()
			ticker, tick = nil, nil
		}
	}
	defer stopTicker()
	for {
		st, changed := ln.state()
		if st.gen != seen {
			seen = st.gen
			stopTicker()
			switch {
			case st.c != nil:
				d.connected(ctx)
				if d.s.probeEvery > 0 {
					ticker = d.env.Clock.NewTicker(d.s.probeEvery)
					tick = ticker.Chan()
				}
			case st.code != "":
				d.setStatus(wire.StateOffline, st.code, fmt.Sprint(st.err))
			}
			continue // the port may have changed meanwhile
		}
		select {
		case <-ctx.Done():
			d.setStatus(wire.StateOffline, "", "stopped")
			return nil
		case <-changed:
		case <-tick:
			d.check(ctx)
		}
	}
}

// check probes the controller (or, without a probe frame, re-sends the
// last document while the device is faulty).
func (d *Driver) check(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stMu.Lock()
	faulty := d.status.State == wire.StateFault
	d.stMu.Unlock()
	pr := d.link.probe()
	if pr == nil {
		if faulty && d.last != nil {
			if err := d.applyLocked(ctx, *d.last); err != nil {
				d.log.Debug("led: still faulty", "err", err)
			}
		}
		return
	}
	if err := d.exchangeLocked(ctx, pr); err != nil {
		d.log.Debug("led: probe failed", "err", err)
		return
	}
	if faulty {
		d.log.Info("led: controller answers again")
		if d.last != nil {
			if err := d.applyLocked(ctx, *d.last); err != nil {
				d.log.Warn("led: re-apply after recovery failed", "err", err)
				return
			}
		}
		d.setStatus(wire.StateOnline, "", "")
	}
}

// connected probes the controller and re-applies the last document.
func (d *Driver) connected(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if pr := d.link.probe(); pr != nil {
		if err := d.exchangeLocked(ctx, pr); err != nil {
			d.log.Warn("led: controller does not answer", "err", err)
			d.setStatus(wire.StateFault, CodeNoReply, err.Error())
			// Still try the document: some firmware ignores pings.
		} else {
			d.setStatus(wire.StateOnline, "", "")
		}
	} else {
		d.setStatus(wire.StateOnline, "", "")
	}
	if d.last != nil {
		if err := d.applyLocked(ctx, *d.last); err != nil {
			d.log.Warn("led: re-apply after reconnect failed", "version", d.last.Version, "err", err)
		}
	}
}

// Apply shows doc on the panel and returns when the controller has
// acknowledged every frame. Errors are *Error with a stable code.
func (d *Driver) Apply(ctx context.Context, doc wire.DesiredMsg) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cp := doc
	cp.Lines = append([]string(nil), doc.Lines...)
	d.last = &cp
	return d.applyLocked(ctx, cp)
}

func (d *Driver) applyLocked(ctx context.Context, doc wire.DesiredMsg) error {
	screen := layout.Layout(d.s.panel, doc.Lines, layout.Opts{CanScroll: d.link.canScroll()})
	frames, err := d.link.frames(screen)
	if err != nil {
		code := CodeTooLong
		if !isTooLong(err) {
			code = "encode"
		}
		return &Error{Code: code, Err: fmt.Errorf("led %s: render version %d: %w", d.cfg.ID, doc.Version, err)}
	}
	for _, f := range frames {
		if err := d.exchangeLocked(ctx, f); err != nil {
			return err
		}
	}
	d.setStatus(wire.StateOnline, "", "")
	d.log.Debug("led: applied", "version", doc.Version, "rows", len(screen.Rows))
	return nil
}

// exchangeLocked sends one frame and waits for its ACK, resending after a
// timeout up to the configured retries. A screen that is faulty on a
// shared line gets one try per frame: the other screens wait for every
// timeout it costs.
func (d *Driver) exchangeLocked(ctx context.Context, frame []byte) error {
	ln := d.ln
	if ln == nil {
		return &Error{Code: CodeOffline, Err: fmt.Errorf("led %s: %w", d.cfg.ID, ErrOffline)}
	}
	tries := d.s.retries + 1
	if ln.shared() {
		d.stMu.Lock()
		faulty := d.status.State == wire.StateFault && d.status.Code == CodeNoReply
		d.stMu.Unlock()
		if faulty {
			tries = 1
		}
	}
	foreign := ln.others(d)
	r := &request{
		ctx: ctx, id: d.cfg.ID, frame: frame,
		match:   func(buf []byte) (reply, string, int) { return d.link.match(buf, foreign) },
		reply:   d.link.wantsReply(),
		timeout: d.s.timeout, clock: d.env.Clock, log: d.log,
	}
	var err error
	for range tries {
		if err = ln.do(r); err == nil || !errors.Is(err, ErrTimeout) {
			break
		}
	}
	if errors.Is(err, ErrTimeout) {
		d.setStatus(wire.StateFault, CodeNoReply, err.Error())
	}
	return err
}

// startEmulator runs ledemu on a new pseudo-terminal for the life of ctx
// and returns the path the driver opens.
func (d *Driver) startEmulator(ctx context.Context) (string, error) {
	pair, err := ptypair.Open()
	if err != nil {
		return "", fmt.Errorf("led %s: emulator: %w", d.cfg.ID, err)
	}
	var onChange func([]string)
	if d.env.StateDir != "" {
		file := filepath.Join(d.env.StateDir, "led-screen.json")
		onChange = func(lines []string) {
			if lines == nil {
				lines = []string{}
			}
			b, _ := json.Marshal(map[string]any{"lines": lines})
			if err := os.WriteFile(file, b, 0o644); err != nil {
				d.log.Warn("led: emulator screen file", "err", err)
			}
		}
		// The file exists from the start, showing the idle (blank) panel,
		// so `cat …/led-screen.json` works before the first call.
		if err := os.MkdirAll(d.env.StateDir, 0o755); err != nil {
			d.log.Warn("led: emulator screen file", "err", err)
		}
		onChange(nil)
	}
	emu, err := ledemu.New(ledemu.Opts{
		Protocol: d.s.protocol, Address: d.s.addr, Framer: d.s.framer,
		Log: d.log.With("emulator", true), Clock: d.env.Clock, OnChange: onChange,
	})
	if err != nil {
		pair.Close()
		return "", err
	}
	d.mu.Lock()
	d.emu = emu
	d.mu.Unlock()
	go func() {
		if err := emu.Serve(ctx, pair.Master); err != nil {
			d.log.Warn("led: emulator stopped", "err", err)
		}
		pair.Close()
	}()
	return pair.Path(), nil
}

var (
	_ device.Device    = (*Driver)(nil)
	_ device.Displayer = (*Driver)(nil)
	_ device.Capper    = (*Driver)(nil)
)
