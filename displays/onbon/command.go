package onbon

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Command groups and codes used by a window display.
const (
	GroupReply byte = 0xA0 // controller replies (assumed, see ParseReply)
	GroupQuery byte = 0xA1
	GroupPing  byte = 0xA2
	GroupArea  byte = 0xA3

	CmdAck          byte = 0x00 // in GroupReply
	CmdNack         byte = 0x01 // in GroupReply
	CmdStatus       byte = 0x02 // in GroupQuery
	CmdPing         byte = 0x00 // in GroupPing
	CmdDynamicArea  byte = 0x06 // in GroupArea: realtime dynamic-area data
	CmdClearScreen  byte = 0x10 // in GroupArea
	ModeDynamicArea byte = 0x2D // the published A3 06 example's byte after Response (meaning unverified)
)

// Command is a packet's data field.
type Command struct {
	Group, Cmd byte
	Response   byte    // RespRequired or RespNone
	Mode       [2]byte // reserved bytes; A3 06 uses 2D 00 in the published example
	Payload    []byte
}

// Bytes lays the command out as packet data.
func (c Command) Bytes() []byte {
	b := make([]byte, 0, MinDataLen+len(c.Payload))
	b = append(b, c.Group, c.Cmd, c.Response, c.Mode[0], c.Mode[1])
	return append(b, c.Payload...)
}

// Frame encodes the command as a whole frame for screen h.
func (c Command) Frame(h Header) []byte { return Encode(h, c.Bytes()) }

// ParseCommand splits packet data into a Command.
func ParseCommand(data []byte) (Command, error) {
	if len(data) < MinDataLen {
		return Command{}, fmt.Errorf("%w: %d data bytes", ErrShort, len(data))
	}
	return Command{Group: data[0], Cmd: data[1], Response: data[2], Mode: [2]byte{data[3], data[4]}, Payload: data[MinDataLen:]}, nil
}

// Ping is A2 00 with a reply requested.
func Ping() Command { return Command{Group: GroupPing, Cmd: CmdPing, Response: RespRequired} }

// QueryStatus is A1 02.
func QueryStatus() Command { return Command{Group: GroupQuery, Cmd: CmdStatus, Response: RespRequired} }

// ClearScreen is A3 10.
func ClearScreen() Command {
	return Command{Group: GroupArea, Cmd: CmdClearScreen, Response: RespRequired}
}

// Text alignment bits, line and display modes of a dynamic area.
const (
	AlignLeft    byte = 0x00
	AlignRight   byte = 0x01
	AlignHCenter byte = 0x02
	AlignBottom  byte = 0x04
	AlignVCenter byte = 0x08

	LineSingle byte = 0x01
	LineMulti  byte = 0x02

	NewLineManual byte = 0x01
	NewLineAuto   byte = 0x02

	DisplayStatic    byte = 0x01
	DisplayQuick     byte = 0x02
	DisplayMoveLeft  byte = 0x03
	DisplayMoveRight byte = 0x04
	DisplayMoveUp    byte = 0x05
	DisplayMoveDown  byte = 0x06

	RunCycle byte = 0x00
)

// areaFixedLen is the AreaData length without the text.
const areaFixedLen = 27

// pixelUnits is the flag in X and Width that switches from 8-px units to
// pixels.
const pixelUnits = 0x8000

// Area is one dynamic area of an A3 06 command. X and Width are in pixels;
// they go on the wire in 8-px units when divisible by 8, else in pixels
// with the pixel flag. Text is already encoded (GB2312 by default).
type Area struct {
	Type                byte
	X, Y, Width, Height int
	ID                  byte
	LineSpacing         byte
	RunMode             byte
	Timeout             uint16 // seconds
	Sound               byte
	ExtParaCount        byte
	Align               byte
	SingleLine          byte
	NewLine             byte
	DisplayMode         byte
	ExitMode            byte
	Speed               byte
	StayTime            byte // 0.5 s units
	Text                []byte
}

// ErrArea reports an area that cannot be encoded.
var ErrArea = errors.New("onbon: bad area")

func xunits(px int) (uint16, error) {
	if px < 0 || px > 0x7FFF {
		return 0, fmt.Errorf("%w: coordinate %d", ErrArea, px)
	}
	if px%8 == 0 {
		return uint16(px / 8), nil
	}
	return uint16(px) | pixelUnits, nil
}

func fromXUnits(v uint16) int {
	if v&pixelUnits != 0 {
		return int(v &^ pixelUnits)
	}
	return int(v) * 8
}

func (a Area) appendTo(b []byte) ([]byte, error) {
	x, err := xunits(a.X)
	if err != nil {
		return nil, err
	}
	w, err := xunits(a.Width)
	if err != nil {
		return nil, err
	}
	if a.Y < 0 || a.Y > 0xFFFF || a.Height < 0 || a.Height > 0xFFFF {
		return nil, fmt.Errorf("%w: y %d height %d", ErrArea, a.Y, a.Height)
	}
	if areaFixedLen+len(a.Text) > 0xFFFF {
		return nil, fmt.Errorf("%w: text of %d bytes", ErrArea, len(a.Text))
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(areaFixedLen+len(a.Text)))
	b = append(b, a.Type)
	b = binary.LittleEndian.AppendUint16(b, x)
	b = binary.LittleEndian.AppendUint16(b, uint16(a.Y))
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, uint16(a.Height))
	b = append(b, a.ID, a.LineSpacing, a.RunMode)
	b = binary.LittleEndian.AppendUint16(b, a.Timeout)
	b = append(b, a.Sound, a.ExtParaCount, a.Align, a.SingleLine, a.NewLine, a.DisplayMode, a.ExitMode, a.Speed, a.StayTime)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(a.Text)))
	return append(b, a.Text...), nil
}

// DynamicArea builds the A3 06 command: delete the areas in del, then
// create or update areas.
func DynamicArea(del []byte, areas ...Area) (Command, error) {
	if len(del) > 0xFF || len(areas) > 0xFF {
		return Command{}, fmt.Errorf("%w: too many areas", ErrArea)
	}
	p := []byte{byte(len(del))}
	p = append(p, del...)
	p = append(p, byte(len(areas)))
	for _, a := range areas {
		var err error
		if p, err = a.appendTo(p); err != nil {
			return Command{}, err
		}
	}
	return Command{Group: GroupArea, Cmd: CmdDynamicArea, Response: RespRequired, Mode: [2]byte{ModeDynamicArea, 0}, Payload: p}, nil
}

// ParseDynamicArea decodes an A3 06 payload (for emulators and tests).
func ParseDynamicArea(p []byte) (del []byte, areas []Area, err error) {
	short := func(what string) error { return fmt.Errorf("%w: A3 06 %s", ErrShort, what) }
	if len(p) < 1 {
		return nil, nil, short("delete count")
	}
	nd := int(p[0])
	if len(p) < 2+nd {
		return nil, nil, short("delete list")
	}
	del = append([]byte(nil), p[1:1+nd]...)
	na := int(p[1+nd])
	p = p[2+nd:]
	for i := range na {
		if len(p) < 2 {
			return nil, nil, short(fmt.Sprintf("area %d length", i))
		}
		n := int(binary.LittleEndian.Uint16(p))
		p = p[2:]
		if n < areaFixedLen || len(p) < n {
			return nil, nil, fmt.Errorf("%w: area %d length %d, %d left", ErrLength, i, n, len(p))
		}
		d := p[:n]
		p = p[n:]
		a := Area{
			Type:         d[0],
			X:            fromXUnits(binary.LittleEndian.Uint16(d[1:])),
			Y:            int(binary.LittleEndian.Uint16(d[3:])),
			Width:        fromXUnits(binary.LittleEndian.Uint16(d[5:])),
			Height:       int(binary.LittleEndian.Uint16(d[7:])),
			ID:           d[9],
			LineSpacing:  d[10],
			RunMode:      d[11],
			Timeout:      binary.LittleEndian.Uint16(d[12:]),
			Sound:        d[14],
			ExtParaCount: d[15],
			Align:        d[16],
			SingleLine:   d[17],
			NewLine:      d[18],
			DisplayMode:  d[19],
			ExitMode:     d[20],
			Speed:        d[21],
			StayTime:     d[22],
		}
		tl := binary.LittleEndian.Uint32(d[23:])
		if uint64(tl) != uint64(n-areaFixedLen) {
			return nil, nil, fmt.Errorf("%w: area %d text length %d, %d bytes", ErrLength, i, tl, n-areaFixedLen)
		}
		a.Text = append([]byte(nil), d[areaFixedLen:]...)
		areas = append(areas, a)
	}
	if len(p) != 0 {
		return nil, nil, fmt.Errorf("%w: %d trailing bytes after areas", ErrLength, len(p))
	}
	return del, areas, nil
}
