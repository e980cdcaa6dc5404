// Package idcardemu emulates the security module (SAM) of a second-
// generation ID-card reader on a byte stream, usually the master side of a
// pseudo-terminal (firmware-agent/ptypair). It answers the real GA/T 467
// protocol (package sam) from a configurable card whose 256-byte text block
// is built like a real one, lets a test or the demo hall present and remove
// the card, and injects faults: garbage bytes, bad checksums, truncated,
// slow or missing replies, SAM error codes and unplug.
//
// The card behaves like the published readers (DEVICES.md §2.7): no card →
// 80; card present → find 9F; select 90; read 90 with the 1295-byte base
// message; after a successful read, find answers 80 until the card is
// removed and presented again.
package idcardemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/sys/unix"

	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/sam"
)

// Exchange is one command the emulator handled, for recordings and tests.
type Exchange struct {
	Command sam.Command // zero for a frame that failed its checksum or length
	In      []byte      // the host frame as received (re-framed payload)
	Out     []byte      // bytes written back, garbage included; nil when dropped
	Dropped bool        // no reply (unplugged or DropNext)
}

// Opts configure an Emulator; the zero value works.
type Opts struct {
	// Clock times delayed replies (DelayNext); default the real clock.
	Clock clockwork.Clock
	// Log gets one debug line per exchange (command names and codes, never
	// card content); default discards.
	Log *slog.Logger
	// FindAfterRead keeps answering find with 9F after a read while the
	// card stays in the field, as some readers do. Default false: 80 until
	// the card is presented again.
	FindAfterRead bool
	// OnExchange, when set, is called after each handled command (from the
	// Run goroutine; it must not block for long).
	OnExchange func(Exchange)
}

type cardState int

const (
	noCard cardState = iota
	present
	found
	selected
	readDone
)

// Emulator is a SAM with one card slot. Its methods are safe for
// concurrent use with Run.
type Emulator struct {
	opts Opts

	mu      sync.Mutex
	card    sam.Identity
	text    []byte
	photo   []byte
	state   cardState
	unplug  bool
	fault   sam.Status             // every command answered with this, 0 = none
	failNxt map[[2]byte]sam.Status // next reply to a command
	garbage []byte
	corrupt int
	trunc   int
	drop    int
	delay   time.Duration
	served  int
	lifted  int // finds still to answer "no card" (Swipe)
}

// New returns an emulator with no card.
func New(opts Opts) *Emulator {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	photo := make([]byte, 1024)
	copy(photo, "WLT-EMULATED") // opaque, like the real vendor format
	return &Emulator{opts: opts, photo: photo, failNxt: map[[2]byte]sam.Status{}}
}

// DemoCard is the card the demo hall presents: the GB 11643 Appendix A
// number with a matching record.
func DemoCard() sam.Identity {
	return sam.Identity{
		Name: "张三", Sex: "2", Nation: "01", Birth: "19491231",
		Address: "北京市朝阳区示例路1号", ID: "11010519491231002X",
		Issuer: "北京市公安局朝阳分局", ValidFrom: "20200101", ValidTo: sam.ValidForever,
	}
}

// Present puts card in the field (replacing any other). The card must fit
// the text block; it is not otherwise validated, so tests can present
// cards with bad check digits.
func (e *Emulator) Present(card sam.Identity) error {
	text, err := sam.EncodeText(card)
	if err != nil {
		return fmt.Errorf("present card: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.card, e.text, e.state = card, text, present
	return nil
}

// Swipe lifts the card out of the field and puts it (or another) back,
// as a person presenting their card again: the next find answers "no
// card", then the card is found and read anew.
func (e *Emulator) Swipe(card sam.Identity) error {
	text, err := sam.EncodeText(card)
	if err != nil {
		return fmt.Errorf("present card: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.card, e.text, e.state, e.lifted = card, text, present, 1
	return nil
}

// Remove takes the card out of the field.
func (e *Emulator) Remove() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.state, e.text = noCard, nil
}

// Unplug makes the reader silent: commands are swallowed unanswered until
// Replug, as when its cable is pulled (a pty cannot vanish, so the driver
// sees missing replies).
func (e *Emulator) Unplug() { e.set(func() { e.unplug = true }) }

// Replug ends Unplug; the card state is kept.
func (e *Emulator) Replug() { e.set(func() { e.unplug = false }) }

// InjectGarbage writes b before the next reply.
func (e *Emulator) InjectGarbage(b []byte) {
	e.set(func() { e.garbage = append(e.garbage, b...) })
}

// CorruptNext flips the checksum of the next n replies.
func (e *Emulator) CorruptNext(n int) { e.set(func() { e.corrupt += n }) }

// TruncateNext cuts the next n replies short (half of each is sent).
func (e *Emulator) TruncateNext(n int) { e.set(func() { e.trunc += n }) }

// DropNext leaves the next n commands unanswered.
func (e *Emulator) DropNext(n int) { e.set(func() { e.drop += n }) }

// DelayNext holds the next reply for d on the emulator's clock.
func (e *Emulator) DelayNext(d time.Duration) { e.set(func() { e.delay = d }) }

// FailNext answers the next occurrence of cmd with sw3.
func (e *Emulator) FailNext(cmd sam.Command, sw3 sam.Status) {
	e.set(func() { e.failNxt[[2]byte{cmd.Cmd, cmd.Para}] = sw3 })
}

// SetFault answers every command with sw3 (e.g. sam.StatusSelfTest) until
// SetFault(0).
func (e *Emulator) SetFault(sw3 sam.Status) { e.set(func() { e.fault = sw3 }) }

// Served is the number of commands handled so far.
func (e *Emulator) Served() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.served
}

func (e *Emulator) set(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f()
}

// pollable duplicates f's descriptor in non-blocking mode.
func pollable(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// Run answers commands read from rw until ctx is done or rw fails. For an
// *os.File (a pty master) or anything with SetReadDeadline, ctx's end
// unblocks the pending read; otherwise close rw to stop Run.
func (e *Emulator) Run(ctx context.Context, rw io.ReadWriter) error {
	if f, ok := rw.(*os.File); ok {
		// creack/pty leaves the master in blocking mode, where neither a
		// deadline nor Close interrupts a read: use a non-blocking
		// duplicate that the runtime poller can wake.
		if nf, err := pollable(f); err == nil {
			defer nf.Close()
			rw = nf
		}
	}
	if d, ok := rw.(interface{ SetReadDeadline(time.Time) error }); ok {
		stop := context.AfterFunc(ctx, func() { _ = d.SetReadDeadline(time.Now()) })
		defer stop()
	}
	dec := sam.NewDecoder(rw)
	for {
		p, err := dec.Next()
		if ctx.Err() != nil {
			return nil
		}
		var x Exchange
		switch {
		case errors.Is(err, sam.ErrChecksum):
			x = Exchange{Out: sam.Reply{SW3: sam.StatusHostChecksum}.Encode()}
		case errors.Is(err, sam.ErrLength):
			x = Exchange{Out: sam.Reply{SW3: sam.StatusHostLength}.Encode()}
		case err != nil:
			return fmt.Errorf("idcard emulator: read: %w", err)
		default:
			c, perr := sam.ParseCommand(p)
			if perr != nil {
				x = Exchange{In: sam.Frame(p), Out: sam.Reply{SW3: sam.StatusHostLength}.Encode()}
			} else {
				x = Exchange{Command: c, In: sam.Frame(p)}
			}
		}
		delay := e.answer(&x)
		if delay > 0 && !sleep(ctx, e.opts.Clock, delay) {
			return nil
		}
		if !x.Dropped {
			if _, err := rw.Write(x.Out); err != nil {
				return fmt.Errorf("idcard emulator: write: %w", err)
			}
		}
		e.opts.Log.Debug("sam exchange", "cmd", x.Command.String(), "dropped", x.Dropped, "reply_bytes", len(x.Out))
		if e.opts.OnExchange != nil {
			e.opts.OnExchange(x)
		}
	}
}

func sleep(ctx context.Context, clock clockwork.Clock, d time.Duration) bool {
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.Chan():
		return true
	}
}

// answer fills x.Out (or x.Dropped) and applies the faults; it returns the
// delay before the reply.
func (e *Emulator) answer(x *Exchange) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.served++
	if e.unplug {
		x.Dropped, x.Out = true, nil
		return 0
	}
	if e.drop > 0 {
		e.drop--
		x.Dropped, x.Out = true, nil
		return 0
	}
	if x.Out == nil {
		x.Out = e.reply(x.Command).Encode()
	}
	if e.corrupt > 0 {
		e.corrupt--
		x.Out[len(x.Out)-1] ^= 0x5A
	}
	if e.trunc > 0 {
		e.trunc--
		x.Out = x.Out[:len(x.Out)/2]
	}
	if len(e.garbage) > 0 {
		x.Out = append(e.garbage, x.Out...)
		e.garbage = nil
	}
	d := e.delay
	e.delay = 0
	return d
}

// reply is the state machine; e.mu is held.
func (e *Emulator) reply(c sam.Command) sam.Reply {
	if e.fault != 0 {
		return sam.Reply{SW3: e.fault}
	}
	k := [2]byte{c.Cmd, c.Para}
	if sw, ok := e.failNxt[k]; ok {
		delete(e.failNxt, k)
		if c.Is(sam.CmdSelect) || c.Is(sam.CmdRead) || c.Is(sam.CmdReadFP) {
			if e.state != noCard {
				e.state = present // a failed select/read needs a new find
			}
		}
		return sam.Reply{SW3: sw}
	}
	switch {
	case c.Is(sam.CmdReset), c.Is(sam.CmdStatus), c.Cmd == 0x60 && c.Para <= 4:
		return sam.Reply{SW3: sam.StatusOK}
	case c.Is(sam.CmdSAMID):
		return sam.Reply{SW3: sam.StatusOK, Data: []byte("EMULATED-SAM-0001")[:16]}
	case c.Is(sam.CmdFind):
		if e.lifted > 0 {
			e.lifted--
			return sam.Reply{SW3: sam.StatusNoCard}
		}
		if e.state == present || e.state == found || e.state == selected {
			e.state = found
			return sam.Reply{SW3: sam.StatusFound, Data: make([]byte, 4)}
		}
		return sam.Reply{SW3: sam.StatusNoCard}
	case c.Is(sam.CmdSelect):
		if e.state == found || e.state == selected {
			e.state = selected
			return sam.Reply{SW3: sam.StatusOK, Data: make([]byte, 8)}
		}
		return sam.Reply{SW3: sam.StatusSelectFailed}
	case c.Is(sam.CmdRead), c.Is(sam.CmdReadFP):
		if e.state != selected {
			return sam.Reply{SW3: sam.StatusReadFailed}
		}
		m := sam.BaseMessage{Text: e.text, Photo: e.photo}
		if c.Is(sam.CmdReadFP) {
			m.Fingerprint = []byte{}
		}
		e.state = readDone
		if e.opts.FindAfterRead {
			e.state = present
		}
		return sam.Reply{SW3: sam.StatusOK, Data: m.Encode()}
	case c.Is(sam.CmdReadAddress):
		return sam.Reply{SW3: sam.StatusNoContent}
	}
	return sam.Reply{SW3: sam.StatusCommand}
}
