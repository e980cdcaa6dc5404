package printer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos"
)

// session is one open line to the printer. A reader goroutine demultiplexes
// the printer's bytes (escpos.StatusParser): DLE EOT replies go to rt, GS r
// replies to buf, ASB blocks to onASB, XON/XOFF gate the writer, garbage is
// dropped. DLE EOT and GS r replies are told apart by their fixed bits, so
// a status poll may run while a job waits for its GS r answer; within one
// kind, requests are serialised (rtMu, bufMu) and matched in order.
type session struct {
	port  device.Port
	clock clockwork.Clock
	onASB func([4]byte)

	rt, buf chan byte

	rtMu, bufMu, wMu sync.Mutex

	flowMu sync.Mutex
	xoff   bool
	resume chan struct{} // closed on XON while xoff

	dead chan struct{} // closed when the line failed
	err  error         // why, set before dead closes
}

func newSession(port device.Port, clock clockwork.Clock, onASB func([4]byte)) *session {
	return &session{port: port, clock: clock, onASB: onASB,
		rt: make(chan byte, 16), buf: make(chan byte, 16), dead: make(chan struct{})}
}

func (s *session) readLoop() {
	var parser escpos.StatusParser
	var replies []escpos.Reply
	b := make([]byte, 256)
	for {
		n, err := s.port.Read(b)
		replies = parser.Feed(b[:n], replies[:0])
		for _, r := range replies {
			s.dispatch(r)
		}
		if err != nil {
			if isPortGone(err) {
				err = fmt.Errorf("printer line gone: %w", err)
			}
			s.err = err
			close(s.dead)
			s.port.Close() // unblock a writer stuck on a dead line
			return
		}
	}
}

func (s *session) dispatch(r escpos.Reply) {
	switch r.Kind {
	case escpos.ReplyRealtime:
		offer(s.rt, r.B[0])
	case escpos.ReplyBuffered:
		offer(s.buf, r.B[0])
	case escpos.ReplyASB:
		if s.onASB != nil {
			s.onASB(r.B)
		}
	case escpos.ReplyXOFF:
		s.flowMu.Lock()
		if !s.xoff {
			s.xoff, s.resume = true, make(chan struct{})
		}
		s.flowMu.Unlock()
	case escpos.ReplyXON:
		s.flowMu.Lock()
		if s.xoff {
			s.xoff = false
			close(s.resume)
		}
		s.flowMu.Unlock()
	}
}

// offer queues a reply, dropping the oldest when nobody reads them.
func offer(ch chan byte, b byte) {
	for {
		select {
		case ch <- b:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

func drain(ch chan byte) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// write sends p in chunks, pausing while the printer says XOFF (at most
// timeout in all).
func (s *session) write(ctx context.Context, p []byte, timeout time.Duration) error {
	s.wMu.Lock()
	defer s.wMu.Unlock()
	var t clockwork.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for len(p) > 0 {
		s.flowMu.Lock()
		wait, resume := s.xoff, s.resume
		s.flowMu.Unlock()
		if wait {
			if t == nil {
				t = s.clock.NewTimer(timeout)
			}
			select {
			case <-resume:
			case <-t.Chan():
				return fmt.Errorf("%w: XOFF for %v", ErrTimeout, timeout)
			case <-s.dead:
				return fmt.Errorf("%w: %v", ErrOffline, s.err)
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		n := min(len(p), 256)
		if _, err := s.port.Write(p[:n]); err != nil {
			return fmt.Errorf("%w: write: %v", ErrOffline, err)
		}
		p = p[n:]
	}
	return nil
}

// await takes want replies from ch within timeout.
func (s *session) await(ctx context.Context, ch chan byte, want int, timeout time.Duration, what string) ([]byte, error) {
	t := s.clock.NewTimer(timeout)
	defer t.Stop()
	out := make([]byte, 0, want)
	for len(out) < want {
		select {
		case b := <-ch:
			out = append(out, b)
		case <-t.Chan():
			return out, fmt.Errorf("%w: %s after %v", ErrTimeout, what, timeout)
		case <-s.dead:
			return out, fmt.Errorf("%w: %v", ErrOffline, s.err)
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
	return out, nil
}

// realtime asks DLE EOT 1, 2, 3, 4 and folds the four replies.
func (s *session) realtime(ctx context.Context, timeout time.Duration) (escpos.Status, error) {
	s.rtMu.Lock()
	defer s.rtMu.Unlock()
	drain(s.rt)
	req := make([]byte, 0, 12)
	for n := 1; n <= 4; n++ {
		req = append(req, escpos.RequestRealtime(n)...)
	}
	if err := s.write(ctx, req, timeout); err != nil {
		return escpos.Status{}, err
	}
	got, err := s.await(ctx, s.rt, 4, timeout, "DLE EOT")
	if err != nil {
		return escpos.Status{}, err
	}
	var st escpos.Status
	for i, b := range got {
		st.ApplyRealtime(i+1, b) // the parser only routes valid replies here
	}
	return st, nil
}

// paper asks GS r 1 after everything written so far and waits for it.
func (s *session) paper(ctx context.Context, timeout time.Duration) (byte, error) {
	s.bufMu.Lock()
	defer s.bufMu.Unlock()
	drain(s.buf)
	if err := s.write(ctx, escpos.RequestPaper, timeout); err != nil {
		return 0, err
	}
	got, err := s.await(ctx, s.buf, 1, timeout, "GS r 1")
	if err != nil {
		return 0, err
	}
	return got[0], nil
}
