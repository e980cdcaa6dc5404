// Package escposemu is an ESC/POS ticket printer emulator for tests and the
// demo hall. It speaks the protocol on a pseudo-terminal master (or any
// io.ReadWriter), prints what it receives to a "virtual paper" text log
// (GB18030 decoded back to Chinese, alignment and size markers, [QR: …],
// ---- cut ----), answers DLE EOT n and GS r 1 from its state, sends
// Automatic Status Back blocks once GS a n≠0 was seen, and injects faults:
// paper out, paper near end, cover open, cutter error, garbage bytes, slow
// or missing replies, and unplug/replug (see Line).
//
// Offline behaviour (a simplification of real printers, documented here
// because the driver's tests rely on it): while the cover is open or the
// paper is out the emulator drops printable data (one "[not printed: …]"
// line per offline period) instead of holding it; DLE EOT is always
// answered; GS r 1 is answered with paper end (0F) when the paper is out
// and not at all while the cover is open.
package escposemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos"
)

// Opts configures an Emulator. The zero value works.
type Opts struct {
	Clock clockwork.Clock // for slow replies; default real
	Log   *slog.Logger    // paper lines are logged at Info; default discard
	// Paper receives every virtual paper line plus "\n" as it is printed
	// (e.g. a file in the agent's state dir). Optional.
	Paper io.Writer
}

// Emulator is one emulated printer. Its state outlives connections: an
// unplug/replug keeps the paper and the faults.
type Emulator struct {
	clock clockwork.Clock
	log   *slog.Logger
	paper io.Writer

	mu      sync.Mutex
	st      escpos.Status
	mute    bool
	delay   time.Duration
	asbMask byte
	lines   []string
	recv    []byte
	sent    []byte
	out     chan []byte // current connection's reply queue, nil when none
	dec     *Decoder
	changed chan struct{} // closed and replaced on every paper line
	jobs    int           // GS r replies sent (confirmed jobs)
}

// New returns a healthy emulated printer.
func New(o Opts) *Emulator {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	e := &Emulator{clock: o.Clock, log: o.Log, paper: o.Paper, changed: make(chan struct{})}
	e.dec = NewDecoder()
	e.dec.Line = e.addLine
	e.dec.Request = e.request
	e.dec.Hold = func() bool { return !e.st.CanPrint() } // called with mu held
	e.dec.Dropped = func() { e.addLine("[not printed: " + e.st.Code() + "]") }
	return e
}

// Serve speaks ESC/POS on rw until ctx ends or rw fails (returns nil on
// ctx end or EOF, the read error otherwise).
func (e *Emulator) Serve(ctx context.Context, rw io.ReadWriter) error {
	// One writer per connection keeps replies in order; a full queue
	// (host not reading) drops replies like a line with no flow control.
	q := make(chan []byte, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for p := range q {
			rw.Write(p) // a dead connection just loses the reply
		}
	}()
	e.mu.Lock()
	e.out = q
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		if e.out == q {
			e.out = nil
		}
		e.mu.Unlock()
		close(q)
		<-done
	}()
	stop := context.AfterFunc(ctx, func() {
		if c, ok := rw.(io.Closer); ok {
			c.Close()
		}
	})
	defer stop()
	buf := make([]byte, 4096)
	for {
		n, err := rw.Read(buf)
		if n > 0 {
			e.mu.Lock()
			e.recv = append(e.recv, buf[:n]...)
			e.dec.Write(buf[:n])
			e.mu.Unlock()
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("escposemu: read: %w", err)
		}
	}
}

// addLine is called with mu held.
func (e *Emulator) addLine(s string) {
	e.lines = append(e.lines, s)
	if e.paper != nil {
		io.WriteString(e.paper, s+"\n")
	}
	e.log.Info("virtual paper", "line", s)
	close(e.changed)
	e.changed = make(chan struct{})
}

// request is called with mu held.
func (e *Emulator) request(r Request) {
	switch {
	case r.ASB:
		e.asbMask = byte(r.N) & 0x0f
		if e.asbMask != 0 {
			b := e.st.ASBBlock()
			e.reply(b[:])
		}
	case r.Realtime:
		e.reply([]byte{e.st.RealtimeReply(r.N)})
	case r.N == 1:
		if e.st.CoverOpen {
			return // offline: buffered commands wait, no reply
		}
		e.jobs++
		e.reply([]byte{e.st.PaperReply()})
	}
}

// reply sends p to the host now or after the configured delay; with mu held.
func (e *Emulator) reply(p []byte) {
	if e.mute {
		return
	}
	p = append([]byte(nil), p...)
	if e.delay > 0 {
		e.clock.AfterFunc(e.delay, func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.enqueue(p)
		})
		return
	}
	e.enqueue(p)
}

// enqueue queues p on the current connection; with mu held.
func (e *Emulator) enqueue(p []byte) bool {
	if e.out == nil {
		return false
	}
	select {
	case e.out <- p:
		e.sent = append(e.sent, p...)
		return true
	default:
		return false
	}
}

// set changes the status and sends an ASB block if enabled.
func (e *Emulator) set(f func(*escpos.Status)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.st
	f(&e.st)
	// Real printers raise the offline bit for these causes.
	e.st.Offline = e.st.CoverOpen || e.st.PaperEnd
	if e.st != old && e.asbMask != 0 {
		b := e.st.ASBBlock()
		e.reply(b[:])
	}
}

// SetPaperOut makes the roll run out (true) or reloads it.
func (e *Emulator) SetPaperOut(v bool) {
	e.set(func(s *escpos.Status) { s.PaperEnd, s.PaperNearEnd = v, v })
}

// SetPaperNearEnd sets the near-end sensor.
func (e *Emulator) SetPaperNearEnd(v bool) { e.set(func(s *escpos.Status) { s.PaperNearEnd = v }) }

// SetCoverOpen opens or closes the cover.
func (e *Emulator) SetCoverOpen(v bool) { e.set(func(s *escpos.Status) { s.CoverOpen = v }) }

// SetCutterError sets the autocutter error.
func (e *Emulator) SetCutterError(v bool) { e.set(func(s *escpos.Status) { s.CutterError = v }) }

// Status returns the emulated state.
func (e *Emulator) Status() escpos.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st
}

// SetMute stops (true) or resumes all replies: a printer that takes data
// but never answers.
func (e *Emulator) SetMute(v bool) {
	e.mu.Lock()
	e.mute = v
	e.mu.Unlock()
}

// SetReplyDelay delays every reply by d on the emulator's clock.
func (e *Emulator) SetReplyDelay(d time.Duration) {
	e.mu.Lock()
	e.delay = d
	e.mu.Unlock()
}

// Garbage writes p to the host as if the line were noisy.
func (e *Emulator) Garbage(p []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.enqueue(append([]byte(nil), p...)) {
		return errors.New("escposemu: not connected")
	}
	return nil
}

// Paper returns the virtual paper printed so far, one line per line.
func (e *Emulator) Paper() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.lines) == 0 {
		return ""
	}
	return strings.Join(e.lines, "\n") + "\n"
}

// Lines returns the paper lines and a channel closed at the next line,
// for tests that wait for output without sleeping.
func (e *Emulator) Lines() ([]string, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.lines...), e.changed
}

// WaitFor blocks until a paper line contains sub or ctx ends.
func (e *Emulator) WaitFor(ctx context.Context, sub string) error {
	for {
		lines, ch := e.Lines()
		for _, l := range lines {
			if strings.Contains(l, sub) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("escposemu: %q not printed: %w", sub, ctx.Err())
		case <-ch:
		}
	}
}

// Received returns every byte the host sent (for record/playback tests).
func (e *Emulator) Received() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]byte(nil), e.recv...)
}

// Sent returns every byte the emulator sent to the host.
func (e *Emulator) Sent() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]byte(nil), e.sent...)
}

// ResetRecording forgets the received bytes (not the paper).
func (e *Emulator) ResetRecording() {
	e.mu.Lock()
	e.recv, e.sent = nil, nil
	e.mu.Unlock()
}
