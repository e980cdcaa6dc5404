package led

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
)

// A line is one serial port and the screens on it. Several led-display
// devices with the same port and different addresses are an RS-485 chain:
// the first device to start opens the port (and takes its flock) and one
// goroutine owns it, putting one frame on the wire at a time and reading
// that frame's reply, matched by address, before the next. A single
// screen is a chain of one.
//
// Requests are served in arrival order; every screen has at most one
// request outstanding (its Driver.mu), so a screen waits for at most one
// frame of each other screen. A screen that stopped answering costs the
// others one reply timeout per frame; Driver.exchangeLocked stops retrying
// it while it is faulty on a shared line.
type line struct {
	path    string
	baud    int
	proto   string
	open    device.PortOpener
	clock   clockwork.Clock
	log     *slog.Logger
	backoff serialport.Backoff

	reqs   chan *request
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	members []*Driver
	st      lineState
	wake    chan struct{}
}

// lineState is the port's state; gen rises with every change.
type lineState struct {
	gen  int
	c    *conn  // nil while the port is closed
	code string // why it is closed: CodePortGone, CodeOffline ("" before the first open)
	err  error
}

// request is one frame to put on the line and how to read its reply.
type request struct {
	ctx     context.Context
	id      string // the device, for errors
	frame   []byte
	match   func(buf []byte) (reply, string, int)
	reply   bool // wait for a reply at all
	timeout time.Duration
	clock   clockwork.Clock
	log     *slog.Logger
	done    chan error
}

// lineSet is the lines in use, keyed by port path. The agent builds each
// device separately (device.Factory) and its core knows no driver, so this
// is where the devices of one chain meet.
type lineSet struct {
	mu sync.Mutex
	m  map[string]*line
}

// chains is the process's lines: two agents' worth of devices on one port
// is what the flock refuses, two devices of one agent share the line.
var chains = newLineSet()

func newLineSet() *lineSet { return &lineSet{m: map[string]*line{}} }

// join adds d to the line on path, opening it on first use. A device whose
// line settings disagree with the chain's, or whose address is taken, is
// refused (the agent's config check reports these with their key paths).
func (ls *lineSet) join(d *Driver, path string) (*line, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.m[path]
	if l == nil {
		open := d.env.OpenPort
		if open == nil {
			open = func(ctx context.Context, path string, baud int) (device.Port, error) {
				return serialport.Open(ctx, path, baud)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		l = &line{
			path: path, baud: d.s.baud, proto: d.s.protocol, open: open,
			clock: d.env.Clock, log: d.env.Log.With("port", path), backoff: d.backoff,
			reqs: make(chan *request), cancel: cancel, done: make(chan struct{}),
			wake: make(chan struct{}),
		}
		l.members = append(l.members, d)
		ls.m[path] = l
		go l.run(ctx)
		return l, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.members {
		switch {
		case o.s.protocol != d.s.protocol:
			return nil, fmt.Errorf("%w: device %s: protocol %s differs from %s on the same port (device %s)", ErrConfig, d.cfg.ID, d.s.protocol, o.s.protocol, o.cfg.ID)
		case o.s.baud != d.s.baud:
			return nil, fmt.Errorf("%w: device %s: baud %d differs from %d on the same port (device %s)", ErrConfig, d.cfg.ID, d.s.baud, o.s.baud, o.cfg.ID)
		case o.s.addr == d.s.addr:
			return nil, fmt.Errorf("%w: device %s: address %d is also device %s's on the same port", ErrConfig, d.cfg.ID, d.s.addr, o.cfg.ID)
		}
	}
	l.members = append(l.members, d)
	return l, nil
}

// leave removes d; the last one out closes the port.
func (ls *lineSet) leave(l *line, d *Driver) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l.mu.Lock()
	l.members = slices.DeleteFunc(l.members, func(o *Driver) bool { return o == d })
	last := len(l.members) == 0
	l.mu.Unlock()
	if !last {
		return
	}
	delete(ls.m, l.path)
	l.cancel()
	<-l.done // the port is closed before another join may open it
}

// shared says whether more than one screen is on the line.
func (l *line) shared() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.members) > 1
}

// others returns whether addr belongs to another screen on the line than d.
func (l *line) others(d *Driver) func(addr int) bool {
	l.mu.Lock()
	set := map[int]bool{}
	for _, o := range l.members {
		if o != d {
			set[o.s.addr] = true
		}
	}
	l.mu.Unlock()
	return func(addr int) bool { return set[addr] }
}

// state returns the port's state and a channel closed at its next change.
func (l *line) state() (lineState, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st, l.wake
}

func (l *line) set(c *conn, code string, err error) {
	l.mu.Lock()
	l.st = lineState{gen: l.st.gen + 1, c: c, code: code, err: err}
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

// run keeps the port open until ctx ends: open, serve requests until the
// port fails, back off, reopen.
func (l *line) run(ctx context.Context) {
	defer close(l.done)
	var wait time.Duration
	for {
		port, err := l.open(ctx, l.path, l.baud)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.set(nil, CodePortGone, err)
			wait = l.backoff.Next(wait)
			l.log.Info("led: port unavailable, retrying", "in", wait, "err", err)
			if !serialport.Sleep(ctx, l.clock, wait) {
				return
			}
			continue
		}
		wait = 0
		c := startConn(port, l.log)
		l.set(c, "", nil)
		l.serve(ctx, c)
		port.Close()
		<-c.dead
		if ctx.Err() != nil {
			l.set(nil, CodeOffline, ctx.Err())
			return
		}
		l.log.Warn("led: port lost", "err", c.err)
		l.set(nil, CodeOffline, c.err)
		wait = l.backoff.Min
		if !serialport.Sleep(ctx, l.clock, wait) {
			return
		}
	}
}

func (l *line) serve(ctx context.Context, c *conn) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.dead:
			return
		case r := <-l.reqs:
			r.done <- exchange(ctx, c, r)
		}
	}
}

// do puts r's frame on the line and waits for its reply.
func (l *line) do(r *request) error {
	st, _ := l.state()
	if st.c == nil {
		return &Error{Code: CodeOffline, Err: fmt.Errorf("led %s: %w", r.id, ErrOffline)}
	}
	r.done = make(chan error, 1)
	select {
	case l.reqs <- r:
	case <-st.c.dead:
		return &Error{Code: CodeOffline, Err: fmt.Errorf("led %s: %w: %v", r.id, ErrOffline, st.c.err)}
	case <-r.ctx.Done():
		return &Error{Code: CodeCanceled, Err: fmt.Errorf("led %s: %w", r.id, r.ctx.Err())}
	}
	return <-r.done // serve answers every request it takes
}

// conn is an open port with its reader goroutine.
type conn struct {
	port device.Port
	rx   chan []byte
	dead chan struct{} // closed when the port fails
	err  error         // why, once dead is closed
	buf  []byte        // received, not yet matched
}

func startConn(p device.Port, log *slog.Logger) *conn {
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
					log.Warn("led: receive queue full, dropping bytes", "n", n)
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

// exchange writes one frame and waits for its reply on c (or until the
// line closes: lineCtx).
func exchange(lineCtx context.Context, c *conn, r *request) error {
	ctx := r.ctx
	// Drop whatever came before: a late ACK (another screen's, too) must
	// not answer this frame.
	c.buf = c.buf[:0]
	for drained := false; !drained; {
		select {
		case <-c.rx:
		default:
			drained = true
		}
	}
	if r.log.Enabled(ctx, slog.LevelDebug) {
		r.log.Debug("led: tx", "bytes", fmt.Sprintf("% X", r.frame))
	}
	if _, err := c.port.Write(r.frame); err != nil {
		return &Error{Code: CodeIO, Err: fmt.Errorf("led %s: write: %w", r.id, err)}
	}
	if !r.reply {
		return nil
	}
	t := r.clock.NewTimer(r.timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return &Error{Code: CodeCanceled, Err: fmt.Errorf("led %s: %w", r.id, ctx.Err())}
		case <-c.dead:
			return &Error{Code: CodeOffline, Err: fmt.Errorf("led %s: %w: %v", r.id, ErrOffline, c.err)}
		case <-lineCtx.Done():
			return &Error{Code: CodeOffline, Err: fmt.Errorf("led %s: %w: line closed", r.id, ErrOffline)}
		case <-t.Chan():
			return &Error{Code: CodeTimeout, Err: fmt.Errorf("led %s: %w after %v", r.id, ErrTimeout, r.timeout)}
		case b := <-c.rx:
			c.buf = append(c.buf, b...)
			res, code, n := r.match(c.buf)
			if r.log.Enabled(ctx, slog.LevelDebug) {
				r.log.Debug("led: rx", "bytes", fmt.Sprintf("% X", c.buf), "reply", int(res), "code", code)
			}
			c.buf = c.buf[n:]
			switch res {
			case ack:
				return nil
			case nak:
				return &Error{Code: code, Err: fmt.Errorf("led %s: %w (%s)", r.id, ErrNak, code)}
			}
			if len(c.buf) > 64<<10 {
				c.buf = c.buf[:0]
			}
		}
	}
}
