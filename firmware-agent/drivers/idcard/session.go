package idcard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/sam"
	"github.com/servicehall/servicehall/wire"
)

// errTimeout is a missing reply.
var errTimeout = errors.New("idcard: reply timeout")

// frameResult is what the line reader hands the poll loop.
type frameResult struct {
	payload []byte
	err     error
}

// session is one open port: a line reader goroutine and the poll loop.
type session struct {
	r         *Reader
	port      device.Port
	frames    chan frameResult
	lineErr   chan error
	misses    int
	latched   bool // a card was read; wait until it leaves the field
	wasOnline bool
}

// run polls until the link is lost or ctx ends; it returns the offline
// code and detail, and closes the port.
func (s *session) run(ctx context.Context) (code, detail string) {
	s.frames = make(chan frameResult)
	s.lineErr = make(chan error, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.readLine(done) })
	defer func() {
		close(done)
		s.port.Close() // unblocks the reader
		wg.Wait()
	}()

	// The SAM status command proves the module answers before we poll.
	for {
		err := s.step(ctx, func(ctx context.Context) error {
			rep, err := s.exchange(ctx, sam.CmdStatus, s.r.opts.Timeout)
			if err != nil {
				return err
			}
			if err := rep.Err(); err != nil {
				return err
			}
			s.online()
			return nil
		})
		if err != nil {
			return s.lost(err)
		}
		if s.wasOnline {
			break
		}
		if !s.idle(ctx) {
			return "", ""
		}
	}
	for {
		if !s.idle(ctx) {
			return "", ""
		}
		if err := s.step(ctx, s.poll); err != nil {
			return s.lost(err)
		}
	}
}

// lost maps the error that ended a session to an offline code.
func (s *session) lost(err error) (string, string) {
	if errors.Is(err, errTimeout) || errors.Is(err, sam.ErrChecksum) || errors.Is(err, sam.ErrLength) || errors.Is(err, sam.ErrPayload) {
		return CodeNoReply, err.Error()
	}
	return CodePortError, err.Error()
}

// idle waits one poll interval; false when ctx ended.
func (s *session) idle(ctx context.Context) bool {
	if s.r.onIdle != nil {
		s.r.onIdle()
	}
	t := s.r.env.Clock.NewTimer(s.r.opts.Poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.Chan():
		return true
	}
}

// step runs f and sorts its error: line errors end the session; missing
// or garbled replies count towards MaxMisses; SAM reader-class codes
// report reader_fault; card-class codes are retried at the next poll.
func (s *session) step(ctx context.Context, f func(context.Context) error) error {
	err := f(ctx)
	var se *sam.StatusError
	switch {
	case err == nil:
		s.misses = 0
		return nil
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, errTimeout), errors.Is(err, sam.ErrChecksum), errors.Is(err, sam.ErrLength), errors.Is(err, sam.ErrPayload):
		s.misses++
		s.r.env.Log.Debug("idcard reply missing or garbled", "err", err, "misses", s.misses)
		if s.misses >= s.r.opts.MaxMisses {
			return fmt.Errorf("%d replies missing or garbled: %w", s.misses, err)
		}
		return nil
	case errors.As(err, &se):
		s.misses = 0
		if errors.Is(err, sam.ErrReader) {
			s.r.setStatus(wire.StateFault, CodeReaderFault, se.SW3.String())
			return nil
		}
		s.online()
		s.r.env.Log.Debug("idcard card error", "code", se.SW3.Code())
		return nil
	}
	return err
}

func (s *session) online() {
	s.wasOnline = true
	s.r.setStatus(wire.StateOnline, "", "")
}

// poll is one find (and, for a new card, select and read).
func (s *session) poll(ctx context.Context) error {
	rep, err := s.exchange(ctx, sam.CmdFind, s.r.opts.Timeout)
	if err != nil {
		return err
	}
	switch rep.SW3 {
	case sam.StatusNoCard:
		s.latched = false
		s.online()
		return nil
	case sam.StatusFound:
	default:
		return rep.Err()
	}
	s.online()
	if s.latched {
		return nil // the card read last is still in the field
	}
	if rep, err = s.exchange(ctx, sam.CmdSelect, s.r.opts.Timeout); err != nil {
		return err
	}
	if err := rep.Err(); err != nil {
		return err
	}
	if rep, err = s.exchange(ctx, sam.CmdRead, s.r.opts.ReadTimeout); err != nil {
		return err
	}
	if err := rep.Err(); err != nil {
		return err
	}
	// The SAM read the card: whatever its content, wait for it to leave.
	s.latched = true
	s.card(ctx, rep.Data)
	return nil
}

// card decodes, validates and emits a read; content problems are logged
// by code only.
func (s *session) card(ctx context.Context, data []byte) {
	log := s.r.env.Log
	m, err := sam.ParseBaseMessage(data, false)
	if err != nil {
		log.Warn("idcard read reply refused", "code", gbCode(err))
		return
	}
	id, err := sam.DecodeText(m.Text)
	if err == nil {
		err = id.Validate()
	}
	if err != nil {
		log.Warn("idcard record refused", "code", gbCode(err))
		return
	}
	c := MakeCard(id, s.r.env.Secret, s.r.opts.Raw)
	now := s.r.env.Clock.Now()
	if s.r.opts.Repeat > 0 && c.IDHash == s.r.lastHash && now.Sub(s.r.lastAt) < s.r.opts.Repeat {
		log.Debug("idcard same card again within repeat window", "card", c.IDHash[:12])
		return
	}
	s.r.lastHash, s.r.lastAt = c.IDHash, now
	if err := s.r.env.Events.Emit(ctx, wire.EvtCard, c); err != nil {
		log.Warn("idcard event not emitted", "card", c.IDHash[:12], "err", err)
		return
	}
	log.Info("idcard card read", "card", c.IDHash[:12], "birth_year", c.BirthYear)
}

// readLine decodes frames from the port until it fails.
func (s *session) readLine(done <-chan struct{}) {
	dec := sam.NewDecoder(s.port)
	for {
		p, err := dec.Next()
		if err != nil && !errors.Is(err, sam.ErrChecksum) && !errors.Is(err, sam.ErrLength) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			s.lineErr <- err
			return
		}
		select {
		case s.frames <- frameResult{payload: p, err: err}:
		case <-done:
			return
		}
	}
}

// exchange sends c and waits up to timeout for one reply. Replies that
// arrived late for an earlier command are dropped first.
func (s *session) exchange(ctx context.Context, c sam.Command, timeout time.Duration) (sam.Reply, error) {
	for drained := false; !drained; {
		select {
		case <-s.frames:
		default:
			drained = true
		}
	}
	if _, err := s.port.Write(c.Encode()); err != nil {
		return sam.Reply{}, fmt.Errorf("write %v: %w", c, err)
	}
	t := s.r.env.Clock.NewTimer(timeout)
	defer t.Stop()
	var garbled error
	for {
		select {
		case <-ctx.Done():
			return sam.Reply{}, ctx.Err()
		case err := <-s.lineErr:
			return sam.Reply{}, fmt.Errorf("read %v reply: %w", c, err)
		case <-t.Chan():
			if garbled != nil {
				return sam.Reply{}, fmt.Errorf("%v reply: %w", c, garbled)
			}
			return sam.Reply{}, fmt.Errorf("%v: %w", c, errTimeout)
		case f := <-s.frames:
			if f.err != nil {
				// The decoder dropped a bad frame and resynchronises; the
				// real reply may still follow within the timeout.
				garbled = f.err
				continue
			}
			rep, err := sam.ParseReply(f.payload)
			if err != nil {
				garbled = err
				continue
			}
			if !fits(c, rep) {
				// A late reply to an earlier command: keep waiting.
				s.r.env.Log.Debug("idcard stale reply dropped", "cmd", c.String(), "sw3", rep.SW3.Code())
				continue
			}
			return rep, nil
		}
	}
}

// fits reports whether rep can be the reply to c, so a late reply to an
// earlier command (the SAM does not echo the command) is not taken for
// the current one. Error codes fit any command.
func fits(c sam.Command, rep sam.Reply) bool {
	switch {
	case c.Is(sam.CmdFind):
		return rep.SW3 != sam.StatusOK && (rep.SW3 != sam.StatusFound || len(rep.Data) == 4)
	case c.Is(sam.CmdRead):
		return rep.SW3 != sam.StatusFound && (rep.SW3 != sam.StatusOK || len(rep.Data) >= 4+sam.TextLen)
	default:
		return rep.SW3 != sam.StatusFound && (rep.SW3 != sam.StatusOK || len(rep.Data) <= 64)
	}
}
