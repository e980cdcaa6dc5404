package broker

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"golang.org/x/time/rate"
)

// Accept back-off: a failed accept (no file descriptors left, …) is
// retried after acceptBackoffMin, doubling up to acceptBackoffMax, as
// net/http does.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// listener replaces mochi's TCP listener, whose accept loop returns on the
// first Accept error: with the process out of file descriptors for a moment
// (EMFILE), the broker then stopped accepting for good, silently. This one
// counts the error, logs it (rate limited), backs off and keeps accepting
// until Close.
//
// It also guards each connection: the CONNECT packet must come within
// Limits.ConnectTimeout, at most Limits.Clients plus a handshake margin
// connections are open at once, and every write to a client must finish
// within Limits.WriteTimeout (mochi's keep-alive deadline is applied to
// reads only), so a client that stops reading is disconnected instead of
// holding the broker's writer.
type listener struct {
	id   string
	ln   net.Listener
	b    *Broker
	log  *slog.Logger
	errs rate.Sometimes // accept-error log lines

	open atomic.Int64 // connections open now
	end  atomic.Bool
	done chan struct{}
	once sync.Once

	// conns are the connections being served, closed by Close, which
	// waits for their goroutines (mochi's own wait group is added to
	// inside them, too late for its Wait to see).
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newListener(id string, ln net.Listener, b *Broker) *listener {
	return &listener{id: id, ln: ln, b: b, log: b.log,
		errs: rate.Sometimes{First: 3, Interval: 10 * time.Second}, done: make(chan struct{}),
		conns: map[net.Conn]struct{}{}}
}

func (l *listener) ID() string                { return l.id }
func (l *listener) Address() string           { return l.ln.Addr().String() }
func (l *listener) Protocol() string          { return "tcp" }
func (l *listener) Init(_ *slog.Logger) error { return nil }

// Serve accepts until Close, handing each connection to establish.
func (l *listener) Serve(establish listeners.EstablishFn) {
	var delay time.Duration
	var failed uint64 // accept errors since the last success
	for {
		conn, err := l.ln.Accept()
		if l.end.Load() {
			if conn != nil {
				conn.Close()
			}
			return
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.b.acceptErrors.Add(1)
			failed++
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			l.errs.Do(func() {
				l.log.Error("mqtt accept failed; retrying", "err", err, "failures", failed, "retry_in", delay)
			})
			select {
			case <-time.After(delay):
			case <-l.done:
				return
			}
			continue
		}
		if failed > 0 {
			l.log.Warn("mqtt accepting again", "failures", failed)
		}
		delay, failed = 0, 0
		if l.open.Load() >= int64(l.b.opts.Limits.Clients)+handshakeMargin(l.b.opts.Limits.Clients) {
			l.b.reject(ReasonTooManyClients)
			conn.Close()
			continue
		}
		if !l.track(conn) {
			conn.Close()
			return
		}
		go l.serveConn(establish, conn)
	}
}

// handshakeMargin is how many connections beyond Limits.Clients may be
// open at once, still waiting for their CONNECT (or to be refused).
func handshakeMargin(clients int) int64 { return int64(max(16, clients/8)) }

// track registers conn as served, unless the listener is closing.
func (l *listener) track(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.end.Load() {
		return false
	}
	l.conns[conn] = struct{}{}
	l.open.Add(1)
	l.wg.Add(1)
	return true
}

func (l *listener) serveConn(establish listeners.EstablishFn, conn net.Conn) {
	defer func() {
		l.mu.Lock()
		delete(l.conns, conn)
		l.mu.Unlock()
		l.open.Add(-1)
		l.wg.Done()
	}()
	lim := l.b.opts.Limits
	gc := &guardedConn{Conn: conn, writeTimeout: lim.WriteTimeout, slow: func() { l.b.reject(ReasonSlowConsumer) }}
	_ = conn.SetReadDeadline(time.Now().Add(lim.ConnectTimeout))
	if err := establish(l.id, gc); err != nil {
		l.log.Debug("mqtt connection ended", "err", err, "remote", conn.RemoteAddr().String())
	}
}

// Close stops accepting and closes every client.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
		l.mu.Lock()
		l.end.Store(true)
		l.mu.Unlock()
		close(l.done)
		closeClients(l.id)
		l.ln.Close()
		l.mu.Lock()
		for c := range l.conns {
			c.Close() // connections still before their CONNECT
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
}

var _ listeners.Listener = (*listener)(nil)

// guardedConn applies mochi's deadlines to reads only and gives every
// write its own deadline; a write that times out marks the client a slow
// consumer and closes the connection (mochi's writer ignores write errors).
type guardedConn struct {
	net.Conn
	writeTimeout time.Duration
	slow         func()
	once         sync.Once
}

func (c *guardedConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	n, err := c.Conn.Write(p)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.once.Do(c.slow)
		c.Conn.Close()
	}
	return n, err
}

func (c *guardedConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

func (c *guardedConn) SetWriteDeadline(time.Time) error { return nil }
