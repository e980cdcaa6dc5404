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

	mu   sync.Mutex // serialises Apply and the exchange on the line
	conn *conn
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
	d := &Driver{cfg: cfg, env: env, s: s, log: env.Log.With("device", cfg.ID), backoff: serialport.DefaultBackoff}
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

// conn is an open port with its reader goroutine.
type conn struct {
	port device.Port
	rx   chan []byte
	dead chan struct{} // closed when the port fails
	err  error         // why, once dead is closed
	buf  []byte        // received, not yet matched
}

func (d *Driver) startConn(p device.Port) *conn {
	c := &conn{port: p, rx: make(chan []byte, 64), dead: make(chan struct{})}
	go func() {
		defer close(c.dead)
		for {
			b := make([]byte, 256)
			n, err := p.Read(b)
			if n > 0 {
				select {
				case c.rx <- b[:n]:
				default:
					d.log.Warn("led: receive queue full, dropping bytes", "n", n)
				}
			}
			if err != nil {
				c.err = err
				return
			}
		}
	}()
	return c
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

// Run keeps the port open: open, probe, serve until the port fails, back
// off, reopen. The last desired document is re-applied after every
// reconnect (a controller loses dynamic areas when it loses power).
func (d *Driver) Run(ctx context.Context) error {
	path := d.cfg.Port
	if d.cfg.Emulate {
		p, err := d.startEmulator(ctx)
		if err != nil {
			return err
		}
		path = p
	}
	open := d.env.OpenPort
	if open == nil {
		open = func(ctx context.Context, path string, baud int) (device.Port, error) {
			return serialport.Open(ctx, path, baud)
		}
	}
	d.setStatus(wire.StateOffline, "", "starting")
	var wait time.Duration
	for {
		port, err := open(ctx, path, d.s.baud)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.setStatus(wire.StateOffline, CodePortGone, err.Error())
			wait = d.backoff.Next(wait)
			d.log.Info("led: port unavailable, retrying", "port", path, "in", wait, "err", err)
			if !serialport.Sleep(ctx, d.env.Clock, wait) {
				return nil
			}
			continue
		}
		wait = 0
		c := d.startConn(port)
		d.mu.Lock()
		d.conn = c
		d.mu.Unlock()
		d.connected(ctx)
		d.watch(ctx, c)
		d.mu.Lock()
		d.conn = nil
		d.mu.Unlock()
		port.Close()
		<-c.dead
		if ctx.Err() != nil {
			d.setStatus(wire.StateOffline, "", "stopped")
			return nil
		}
		d.log.Warn("led: port lost", "port", path, "err", c.err)
		d.setStatus(wire.StateOffline, CodeOffline, fmt.Sprint(c.err))
		wait = d.backoff.Min
		if !serialport.Sleep(ctx, d.env.Clock, wait) {
			return nil
		}
	}
}

// watch waits until the port fails or ctx ends, checking the controller
// every probe interval: a controller that stopped answering is marked
// faulty, and one that answers again gets the last document again (it
// lost its dynamic areas if it lost power).
func (d *Driver) watch(ctx context.Context, c *conn) {
	if d.s.probeEvery <= 0 {
		select {
		case <-ctx.Done():
		case <-c.dead:
		}
		return
	}
	t := d.env.Clock.NewTicker(d.s.probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.dead:
			return
		case <-t.Chan():
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
// timeout up to the configured retries.
func (d *Driver) exchangeLocked(ctx context.Context, frame []byte) error {
	c := d.conn
	if c == nil {
		return &Error{Code: CodeOffline, Err: fmt.Errorf("led %s: %w", d.cfg.ID, ErrOffline)}
	}
	var err error
	for range d.s.retries + 1 {
		if err = d.sendOnce(ctx, c, frame); err == nil || !errors.Is(err, ErrTimeout) {
			break
		}
	}
	if errors.Is(err, ErrTimeout) {
		d.setStatus(wire.StateFault, CodeNoReply, err.Error())
	}
	return err
}

func (d *Driver) sendOnce(ctx context.Context, c *conn, frame []byte) error {
	// Drop whatever came before: a late ACK must not answer this frame.
	c.buf = c.buf[:0]
	for drained := false; !drained; {
		select {
		case <-c.rx:
		default:
			drained = true
		}
	}
	if d.log.Enabled(ctx, slog.LevelDebug) {
		d.log.Debug("led: tx", "bytes", fmt.Sprintf("% X", frame))
	}
	if _, err := c.port.Write(frame); err != nil {
		return &Error{Code: CodeIO, Err: fmt.Errorf("led %s: write: %w", d.cfg.ID, err)}
	}
	if !d.link.wantsReply() {
		return nil
	}
	t := d.env.Clock.NewTimer(d.s.timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return &Error{Code: CodeCanceled, Err: fmt.Errorf("led %s: %w", d.cfg.ID, ctx.Err())}
		case <-c.dead:
			return &Error{Code: CodeOffline, Err: fmt.Errorf("led %s: %w: %v", d.cfg.ID, ErrOffline, c.err)}
		case <-t.Chan():
			return &Error{Code: CodeTimeout, Err: fmt.Errorf("led %s: %w after %v", d.cfg.ID, ErrTimeout, d.s.timeout)}
		case b := <-c.rx:
			c.buf = append(c.buf, b...)
			r, code, n := d.link.match(c.buf)
			if d.log.Enabled(ctx, slog.LevelDebug) {
				d.log.Debug("led: rx", "bytes", fmt.Sprintf("% X", c.buf), "reply", int(r), "code", code)
			}
			c.buf = c.buf[n:]
			switch r {
			case ack:
				return nil
			case nak:
				return &Error{Code: code, Err: fmt.Errorf("led %s: %w (%s)", d.cfg.ID, ErrNak, code)}
			}
			if len(c.buf) > 64<<10 {
				c.buf = c.buf[:0]
			}
		}
	}
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
			b, _ := json.Marshal(map[string]any{"lines": lines})
			if err := os.WriteFile(file, b, 0o644); err != nil {
				d.log.Warn("led: emulator screen file", "err", err)
			}
		}
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
