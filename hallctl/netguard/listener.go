// Package netguard bounds what one client can hold of hallctl's HTTP
// server: a listener that caps open connections in all and per client
// address (docs/security.md, "HTTP limits").
//
// A connection over a cap is closed before a byte is read or written:
// refusing costs the server no TLS handshake, request parsing or answer.
// With Limits.Hold it is held that long first (unread, at most MaxHeld at
// once; beyond that closed at once): a client that redials the moment its
// connection is closed would otherwise have the server accepting and
// closing in a tight loop. Every refusal is counted in
// hallctl_http_conns_refused_total{reason="total"|"per_ip"}.
package netguard

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits are a Listener's caps; zero or negative means no cap.
type Limits struct {
	Total int // connections open at once
	PerIP int // connections open at once from one client address
	// Hold keeps a refused connection open, unread, this long before
	// closing it (zero: close at once).
	Hold time.Duration
}

// MaxHeld bounds the refused connections held at once.
const MaxHeld = 256

// Listener wraps a net.Listener with connection caps. Accept only returns
// connections within the caps; the others are closed and counted.
type Listener struct {
	net.Listener
	lim     Limits
	refused *prometheus.CounterVec

	slots Slots
	held  atomic.Int64
}

// Listen wraps ln. reg (may be nil) gets the refusal counter.
func Listen(ln net.Listener, lim Limits, reg prometheus.Registerer) *Listener {
	l := &Listener{Listener: ln, lim: lim,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_http_conns_refused_total",
			Help: "HTTP connections closed at accept because a connection cap was reached (reason total or per_ip)."}, []string{"reason"})}
	for _, r := range []string{"total", "per_ip"} {
		l.refused.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(l.refused)
	}
	return l
}

// Refused reports how many connections were refused for reason ("total"
// or "per_ip").
func (l *Listener) Refused(reason string) float64 {
	return counterValue(l.refused.WithLabelValues(reason))
}

// Open reports the connections open now (in all, and from ip).
func (l *Listener) Open(ip string) (total, fromIP int) { return l.slots.Open(ip) }

// Accept waits for the next connection within the caps.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		reason, release := l.slots.Take(hostOf(c.RemoteAddr()), l.lim.Total, l.lim.PerIP)
		if reason != "" {
			l.refused.WithLabelValues(reason).Inc()
			l.refuse(c)
			continue
		}
		return &conn{Conn: c, release: release}, nil
	}
}

// refuse closes a refused connection, after Limits.Hold when fewer than
// MaxHeld are held.
func (l *Listener) refuse(c net.Conn) {
	if l.lim.Hold <= 0 || l.held.Add(1) > MaxHeld {
		if l.lim.Hold > 0 {
			l.held.Add(-1)
		}
		_ = c.Close()
		return
	}
	time.AfterFunc(l.lim.Hold, func() {
		l.held.Add(-1) // before the close: whoever sees it closed sees it counted out
		_ = c.Close()
	})
}

// Held reports the refused connections held open now.
func (l *Listener) Held() int { return int(l.held.Load()) }

// conn gives its slot back on Close (the HTTP server and a hijacking
// websocket may both close it; the release counts once).
type conn struct {
	net.Conn
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// hostOf is the client address a connection counts against: the TCP
// peer's IP (forwarded headers are not trusted).
func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
