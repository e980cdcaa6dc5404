package led

import (
	"errors"

	"github.com/servicehall/servicehall/displays/framer"
	"github.com/servicehall/servicehall/displays/layout"
	"github.com/servicehall/servicehall/displays/onbon"
	"github.com/servicehall/servicehall/displays/textenc"
)

// reply is what the driver found in the bytes coming back.
type reply int

const (
	needMore reply = iota
	ack
	nak
)

// link is one wire protocol: frames out, replies in.
type link interface {
	frames(s layout.Screen) ([][]byte, error)
	// match looks for the answer in buf; code is the NAK's code. foreign
	// (may be nil) says whether an address is another screen's on the same
	// line, whose late reply must not be taken for ours.
	match(buf []byte, foreign func(addr int) bool) (r reply, code string, consumed int)
	wantsReply() bool
	canScroll() bool
	// probe is a frame that checks the controller answers (nil = none).
	probe() []byte
}

// onbonLink renders a screen as one A3 06 command with one dynamic area
// per row: static and centred when the row fits, moving left when not.
type onbonLink struct {
	addr uint16
}

func (l onbonLink) canScroll() bool  { return true }
func (l onbonLink) wantsReply() bool { return true }
func (l onbonLink) probe() []byte    { return onbon.Ping().Frame(onbon.DefaultHeader(l.addr)) }

func (l onbonLink) frames(s layout.Screen) ([][]byte, error) {
	areas := make([]onbon.Area, len(s.Rows))
	for i, r := range s.Rows {
		a := onbon.Area{
			Y: r.Y, Width: r.Width, Height: r.Height, ID: byte(i),
			Timeout: 2, SingleLine: onbon.LineSingle, NewLine: onbon.NewLineManual,
			Text: textenc.Encode(textenc.GB2312, r.Text),
		}
		if r.Mode == layout.Scroll {
			a.Align = onbon.AlignVCenter
			a.DisplayMode = onbon.DisplayMoveLeft
			a.Speed = 4
		} else {
			a.Align = onbon.AlignHCenter | onbon.AlignVCenter
			a.DisplayMode = onbon.DisplayStatic
		}
		areas[i] = a
	}
	c, err := onbon.DynamicArea(nil, areas...)
	if err != nil {
		return nil, err
	}
	f := c.Frame(onbon.DefaultHeader(l.addr))
	if len(f) > onbon.MaxFrame {
		return nil, framer.ErrTooLong
	}
	return [][]byte{f}, nil
}

func (l onbonLink) match(buf []byte, foreign func(addr int) bool) (reply, string, int) {
	used := 0
	for {
		frame, n := onbon.NextFrame(buf[used:])
		used += n
		if frame == nil {
			return needMore, "", used
		}
		p, err := onbon.Decode(frame)
		if err != nil {
			continue // line noise; keep looking
		}
		if p.Src == onbon.AddrHost {
			continue // our own frame echoed by a half-duplex RS-485 adapter
		}
		r, err := onbon.ParseReply(p)
		// Only the addressed screen answers on a multi-drop bus, so a reply
		// to the host is taken as ours even if its Src is not our address
		// (the reply layout is unverified on hardware) — unless Src is
		// another screen of our chain: that is its late reply.
		if err != nil || (r.Src != l.addr && (r.Dst != onbon.AddrHost || (foreign != nil && foreign(int(r.Src))))) {
			continue // not a reply, or another screen's
		}
		if r.OK {
			return ack, "", used
		}
		return nak, r.Err.Code(), used
	}
}

// profileLink speaks a framer profile (generic vendor screens, Modbus).
type profileLink struct {
	f    *framer.Framer
	addr int
}

func (l profileLink) canScroll() bool  { return l.f.Scrolls() }
func (l profileLink) wantsReply() bool { return l.f.WantsReply() }
func (l profileLink) probe() []byte    { return nil }

func (l profileLink) frames(s layout.Screen) ([][]byte, error) {
	return l.f.Frames(l.addr, s.Texts())
}

// match finds the reply by address through the profile (foreign is not
// needed: the profile's ACK pattern carries the address, or has none).
func (l profileLink) match(buf []byte, _ func(addr int) bool) (reply, string, int) {
	r, n := l.f.MatchReply(buf, l.addr)
	switch r {
	case framer.Ack:
		return ack, "", n
	case framer.Nak:
		return nak, CodeNak, n
	}
	return needMore, "", n
}

func isTooLong(err error) bool {
	return errors.Is(err, framer.ErrTooLong) || errors.Is(err, onbon.ErrArea)
}
