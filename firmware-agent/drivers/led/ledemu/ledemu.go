// Package ledemu emulates an LED window-display controller on a serial
// line (normally the master side of a pseudo-terminal, firmware-agent/
// ptypair): it speaks the Onbon BX-5K/6K protocol or a framer profile
// (generic or Modbus RTU), checks every frame, answers with the ACK the
// protocol defines, and keeps what the panel "shows" for tests and the
// demo hall. Faults can be injected: garbage bytes before replies, slow
// replies, missing replies, NACKs and an unplugged (silent) controller.
// A Bus puts several controllers with different addresses on one line,
// as screens on an RS-485 chain are.
//
// The Onbon reply layout is an assumption (see onbon.ParseReply): the
// emulator answers A0 00 00 00 00 (ACK) or A0 01 <CmdError> 00 00.
package ledemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/displays/framer"
	"github.com/servicehall/servicehall/displays/onbon"
	"github.com/servicehall/servicehall/displays/textenc"
)

// Protocol names (the same as the led driver's config values).
const (
	Onbon   = "onbon-bx5k"
	Generic = "generic"
	Modbus  = "modbus-rtu"
)

// Opts configure an emulator.
type Opts struct {
	Protocol string         // Onbon, Generic or Modbus
	Address  int            // the controller's bus address
	Framer   *framer.Framer // the profile for Generic and Modbus
	Log      *slog.Logger   // nil = discard
	Clock    clockwork.Clock
	// OnChange is called (outside the emulator's lock) with the lines the
	// panel shows after every change.
	OnChange func(lines []string)
}

// Faults to inject; the zero value is a healthy controller.
type Faults struct {
	Garbage []byte         // bytes sent before every reply
	Delay   time.Duration  // wait before every reply (on Opts.Clock)
	Drop    bool           // apply frames but never reply
	Unplug  bool           // ignore the line entirely: no apply, no reply
	Nack    onbon.CmdError // Onbon: answer every command with this error (0 = ACK)
}

// Area is one dynamic area (Onbon) or row (profiles) the panel shows.
type Area struct {
	ID   int
	Y    int
	Text string
	Mode string // "static" or "scroll" (Onbon display mode); "" for profiles
}

// Emulator is one emulated controller.
type Emulator struct {
	o Opts

	mu     sync.Mutex
	faults Faults
	areas  map[int]Area
	rx     []byte   // every byte received, for record/playback tests
	frames [][]byte // every valid frame addressed to us
	bad    int      // frames that failed CRC or parsing
	lost   int      // bytes ignored while unplugged
	wake   chan struct{}
}

// New checks the options and makes an emulator.
func New(o Opts) (*Emulator, error) {
	switch o.Protocol {
	case Onbon:
	case Generic, Modbus:
		if o.Framer == nil {
			return nil, fmt.Errorf("ledemu: protocol %s needs a profile", o.Protocol)
		}
	default:
		return nil, fmt.Errorf("ledemu: unknown protocol %q", o.Protocol)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	return &Emulator{o: o, areas: map[int]Area{}, wake: make(chan struct{})}, nil
}

// SetFaults replaces the injected faults.
func (e *Emulator) SetFaults(f Faults) {
	e.mu.Lock()
	e.faults = f
	e.mu.Unlock()
}

// Lines is what the panel shows, top to bottom.
func (e *Emulator) Lines() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.linesLocked()
}

func (e *Emulator) linesLocked() []string {
	as := e.areasLocked()
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Text
	}
	return out
}

// Areas is what the panel shows, with positions and modes.
func (e *Emulator) Areas() []Area {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.areasLocked()
}

func (e *Emulator) areasLocked() []Area {
	out := make([]Area, 0, len(e.areas))
	for _, a := range e.areas {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Y != out[j].Y {
			return out[i].Y < out[j].Y
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Received returns every byte the emulator has read so far.
func (e *Emulator) Received() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return bytes.Clone(e.rx)
}

// Frames returns the valid frames addressed to this controller, in order.
func (e *Emulator) Frames() [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([][]byte, len(e.frames))
	for i, f := range e.frames {
		out[i] = bytes.Clone(f)
	}
	return out
}

// BadFrames counts frames that failed their check.
func (e *Emulator) BadFrames() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bad
}

// PowerCycle wipes the panel, as a controller that lost power does
// (dynamic areas live in RAM).
func (e *Emulator) PowerCycle() {
	e.mu.Lock()
	clear(e.areas)
	e.notifyLocked()
	e.mu.Unlock()
}

// Lost counts the bytes ignored while unplugged.
func (e *Emulator) Lost() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lost
}

// Changed returns a channel closed at the next change of the screen or of
// the received frames; for tests waiting without sleeps.
func (e *Emulator) Changed() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.wake
}

// WaitFrames waits until n valid frames have been handled (or ctx ends).
func (e *Emulator) WaitFrames(ctx context.Context, n int) error {
	for {
		ch := e.Changed()
		if len(e.Frames()) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("emulator handled %d frames, want %d: %w", len(e.Frames()), n, ctx.Err())
		case <-ch:
		}
	}
}

// WaitLines waits until the panel shows want (or ctx ends).
func (e *Emulator) WaitLines(ctx context.Context, want []string) error {
	for {
		ch := e.Changed()
		if got := e.Lines(); slices.Equal(got, want) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("panel shows %q, want %q: %w", e.Lines(), want, ctx.Err())
		case <-ch:
		}
	}
}

func (e *Emulator) notifyLocked() {
	close(e.wake)
	e.wake = make(chan struct{})
}

// Serve speaks the protocol on rw until ctx ends or rw fails. When ctx
// ends, a blocked read is released with a read deadline if rw has one, or
// by closing rw.
func (e *Emulator) Serve(ctx context.Context, rw io.ReadWriter) error {
	var buf []byte
	return serveLine(ctx, rw, func(chunk []byte) {
		buf = e.feed(ctx, rw, buf, chunk)
	})
}

// serveLine reads rw until ctx ends or rw fails, handing every chunk read
// to got.
func serveLine(ctx context.Context, rw io.ReadWriter, got func(chunk []byte)) error {
	stop := context.AfterFunc(ctx, func() {
		if d, ok := rw.(interface{ SetReadDeadline(time.Time) error }); ok && d.SetReadDeadline(time.Now()) == nil {
			return
		}
		if c, ok := rw.(io.Closer); ok {
			c.Close()
		}
	})
	defer stop()
	chunk := make([]byte, 512)
	for {
		n, err := rw.Read(chunk)
		if ctx.Err() != nil {
			return nil
		}
		if n > 0 {
			got(chunk[:n])
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("ledemu: read: %w", err)
		}
	}
}

// feed takes bytes read from the line: buf is what is not yet handled, and
// the rest is returned. An unplugged controller ignores them.
func (e *Emulator) feed(ctx context.Context, w io.Writer, buf, chunk []byte) []byte {
	e.mu.Lock()
	unplugged := e.faults.Unplug
	if unplugged {
		e.lost += len(chunk)
		e.notifyLocked()
	} else {
		e.rx = append(e.rx, chunk...)
	}
	e.mu.Unlock()
	if unplugged {
		return buf
	}
	return e.process(ctx, w, append(buf, chunk...))
}

// Bus is several emulated controllers on one line, as on an RS-485 chain:
// every controller sees every byte and answers only the frames addressed
// to it, so one silenced (SetFaults Unplug or Drop) leaves the others
// answering.
type Bus struct {
	screens []*Emulator
}

// NewBus puts controllers of one protocol with different addresses on one
// line.
func NewBus(screens ...*Emulator) (*Bus, error) {
	if len(screens) == 0 {
		return nil, errors.New("ledemu: a bus needs a controller")
	}
	seen := map[int]bool{}
	for _, e := range screens {
		if e.o.Protocol != screens[0].o.Protocol {
			return nil, fmt.Errorf("ledemu: bus mixes %s and %s", screens[0].o.Protocol, e.o.Protocol)
		}
		if seen[e.o.Address] {
			return nil, fmt.Errorf("ledemu: two controllers at address %d", e.o.Address)
		}
		seen[e.o.Address] = true
	}
	return &Bus{screens: screens}, nil
}

// Screen returns the controller at addr (nil if none).
func (b *Bus) Screen(addr int) *Emulator {
	for _, e := range b.screens {
		if e.o.Address == addr {
			return e
		}
	}
	return nil
}

// Serve speaks for every controller on rw until ctx ends or rw fails (as
// Emulator.Serve). Replies go out one at a time, in frame order.
func (b *Bus) Serve(ctx context.Context, rw io.ReadWriter) error {
	bufs := make([][]byte, len(b.screens))
	return serveLine(ctx, rw, func(chunk []byte) {
		for i, e := range b.screens {
			bufs[i] = e.feed(ctx, rw, bufs[i], chunk)
		}
	})
}

// process handles every complete frame in buf and returns the rest.
func (e *Emulator) process(ctx context.Context, w io.Writer, buf []byte) []byte {
	for len(buf) > 0 {
		var reply []byte
		var used int
		var ok bool
		e.mu.Lock()
		f := e.faults // one snapshot per frame: a reply is decided once
		e.mu.Unlock()
		switch e.o.Protocol {
		case Onbon:
			reply, used, ok = e.onbonFrame(buf, f)
		default:
			reply, used, ok = e.profileFrame(buf)
		}
		buf = buf[used:]
		if !ok {
			if used == 0 {
				break
			}
			continue
		}
		if reply != nil {
			e.send(ctx, w, reply, f)
		}
	}
	if len(buf) > 64<<10 {
		buf = nil
	}
	return buf
}

func (e *Emulator) send(ctx context.Context, w io.Writer, reply []byte, f Faults) {
	if f.Drop || f.Unplug {
		return
	}
	if f.Delay > 0 {
		select {
		case <-ctx.Done():
			return
		case <-e.o.Clock.After(f.Delay):
		}
	}
	out := append(bytes.Clone(f.Garbage), reply...)
	if e.o.Log.Enabled(ctx, slog.LevelDebug) {
		e.o.Log.Debug("ledemu: reply", "bytes", fmt.Sprintf("% X", out))
	}
	if _, err := w.Write(out); err != nil {
		e.o.Log.Warn("ledemu: write reply", "err", err)
	}
}

// onbonFrame handles the first Onbon frame in buf. ok is false when no
// complete frame was there; used is what to drop either way.
func (e *Emulator) onbonFrame(buf []byte, f Faults) (reply []byte, used int, ok bool) {
	frame, used := onbon.NextFrame(buf)
	if frame == nil {
		return nil, used, false
	}
	addr := uint16(e.o.Address)
	p, err := onbon.Decode(frame)
	if err != nil {
		e.mu.Lock()
		e.bad++
		e.notifyLocked()
		e.mu.Unlock()
		e.o.Log.Info("ledemu: bad frame", "err", err)
		if errors.Is(err, onbon.ErrCRC) {
			return onbon.Encode(onbon.ReplyHeader(addr), onbon.AckData(onbon.ErrChecksum)), used, true
		}
		return nil, used, true
	}
	if p.Dst != addr && p.Dst != onbon.AddrBroadcast && p.Dst != onbon.AddrBroadcastSetting {
		return nil, used, true // another screen on the bus
	}
	c, err := onbon.ParseCommand(p.Data)
	if err != nil {
		return nil, used, true
	}
	nack := f.Nack
	e.mu.Lock()
	e.frames = append(e.frames, bytes.Clone(frame))
	code := onbon.ErrNone
	changed := false
	switch {
	case nack != onbon.ErrNone:
		code = nack
	case c.Group == onbon.GroupArea && c.Cmd == onbon.CmdDynamicArea:
		del, areas, err := onbon.ParseDynamicArea(c.Payload)
		if err != nil {
			code = onbon.ErrNoCmd
			break
		}
		for _, id := range del {
			delete(e.areas, int(id))
		}
		for _, a := range areas {
			mode := "static"
			if a.DisplayMode != onbon.DisplayStatic {
				mode = "scroll"
			}
			e.areas[int(a.ID)] = Area{ID: int(a.ID), Y: a.Y, Text: textenc.Decode(textenc.GB2312, a.Text), Mode: mode}
		}
		changed = true
	case c.Group == onbon.GroupArea && c.Cmd == onbon.CmdClearScreen:
		clear(e.areas)
		changed = true
	case c.Group == onbon.GroupPing, c.Group == onbon.GroupQuery:
	default:
		code = onbon.ErrNoCmd
	}
	lines := e.linesLocked()
	e.notifyLocked()
	e.mu.Unlock()
	if changed {
		e.changed(lines)
	}
	if c.Response != onbon.RespRequired || p.Dst != addr {
		return nil, used, true // broadcasts are never answered
	}
	return onbon.Encode(onbon.ReplyHeader(addr), onbon.AckData(code)), used, true
}

func (e *Emulator) profileFrame(buf []byte) (reply []byte, used int, ok bool) {
	f := e.o.Framer
	fr, used, err := f.Decode(buf, e.o.Address)
	if err != nil {
		return nil, used, false
	}
	e.mu.Lock()
	e.frames = append(e.frames, fr.Raw)
	if f.Joined() {
		clear(e.areas)
		parts := []string{fr.Text}
		if sep := f.Profile().Separator; sep != "" {
			parts = strings.Split(fr.Text, sep)
		}
		for i, t := range parts {
			e.areas[i] = Area{ID: i, Y: i, Text: t}
		}
	} else {
		e.areas[fr.Row] = Area{ID: fr.Row, Y: fr.Row, Text: fr.Text}
	}
	lines := e.linesLocked()
	e.notifyLocked()
	e.mu.Unlock()
	e.changed(lines)
	if !f.WantsReply() {
		return nil, used, true
	}
	return f.Reply(fr), used, true
}

func (e *Emulator) changed(lines []string) {
	e.o.Log.Info("ledemu: panel shows", "lines", strings.Join(lines, " | "))
	if e.o.OnChange != nil {
		e.o.OnChange(lines)
	}
}
