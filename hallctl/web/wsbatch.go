package web

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// A stream's writer sends one websocket message per hall event. In a
// busy hall events come in bursts (a ticket is issued, its estimate and
// the screen's counts change), and with every stream costing one socket
// write per event, a few streams held open by one client cut the hall's
// ticket issue by a third (the websockets abuse run, docs/security.md).
// batchConn lets the writer drain what is pending and hand the whole
// burst to the kernel in one write: the messages and their framing are
// unchanged; only the number of system calls drops.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      []byte
	// The websocket library sets the write deadline before every frame;
	// a batch's frames reach the socket in one write, so the deadline is
	// applied to the socket only then, and only when it changed (each
	// change re-arms the runtime's timer).
	deadline, applied time.Time
}

// maxBatch bounds what a batch holds before it is written anyway.
const maxBatch = 256 << 10

// Write sends p at once, or adds it to the open batch.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batching && len(c.buf)+len(p) <= maxBatch {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	if err := c.applyDeadline(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// SetWriteDeadline takes effect at the next write to the socket.
func (c *batchConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

// SetDeadline sets both deadlines: the read one at once, the write one
// like SetWriteDeadline.
func (c *batchConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// applyDeadline gives the socket the latest write deadline; c.mu is held.
func (c *batchConn) applyDeadline() error {
	if c.deadline.Equal(c.applied) {
		return nil
	}
	if err := c.Conn.SetWriteDeadline(c.deadline); err != nil {
		return err
	}
	c.applied = c.deadline
	return nil
}

// begin opens a batch: writes are held until flush.
func (c *batchConn) begin() {
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

// flush closes the batch and writes what it holds.
func (c *batchConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	return c.flushLocked()
}

func (c *batchConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	if err := c.applyDeadline(); err != nil {
		return err
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > 64<<10 {
		c.buf = nil // a rare large burst does not pin its buffer
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// batchHijacker hands the websocket upgrader a batchConn.
type batchHijacker struct {
	http.ResponseWriter
	conn *batchConn
}

func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: nc}
	return h.conn, brw, nil
}
