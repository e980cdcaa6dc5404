// Package onbon encodes and decodes frames of the Onbon (仰邦) BX-5K/6K
// controller user protocol: the PHY0 frame (eight A5 bytes, escaped PHY1,
// 5A), byte escaping, the 14-byte packet header, CRC-16/ARC, the commands a
// window display needs (ping A2 00, status A1 02, clear A3 10, realtime
// dynamic area A3 06) and the controller's replies.
//
// Layout and published vectors: protocols/DEVICES.md §3.2. All multi-byte
// integers are little-endian. The request frames are verified byte for
// byte against the published examples; the reply layout is not verified on
// hardware (see ParseReply for what is assumed).
package onbon

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/servicehall/servicehall/displays/checksum"
)

// Frame bytes and header defaults.
const (
	FrameHead   = 0xA5 // repeated PreambleLen times
	FrameTail   = 0x5A
	PreambleLen = 8
	HeaderLen   = 14
	// MinDataLen is CmdGroup, Cmd, Response and two reserved bytes.
	MinDataLen = 5

	AddrBroadcast        uint16 = 0xFFFF // broadcast (timing)
	AddrBroadcastSetting uint16 = 0xFFFE // broadcast (settings)
	AddrHost             uint16 = 0x8000 // default source address of the host
	DeviceWildcard       byte   = 0xFE
	ProtocolVersion      byte   = 0x02

	// MaxFrame bounds an escaped frame; a BX-5K receive buffer is 1 KiB,
	// so anything larger is garbage.
	MaxFrame = 4096
)

// Response flags (third data byte).
const (
	RespRequired byte = 0x01
	RespNone     byte = 0x02
)

// Sentinel errors; every decode error wraps one of them.
var (
	ErrShort    = errors.New("onbon: frame too short")
	ErrFraming  = errors.New("onbon: bad framing")
	ErrEscape   = errors.New("onbon: bad escape sequence")
	ErrCRC      = errors.New("onbon: CRC mismatch")
	ErrLength   = errors.New("onbon: length mismatch")
	ErrTooLarge = errors.New("onbon: frame too large")
	ErrNotReply = errors.New("onbon: not a reply")
)

// Header is the 14-byte packet header.
type Header struct {
	Dst, Src   uint16
	DeviceType byte
	Version    byte
}

// DefaultHeader addresses screen addr from the host, any device type.
func DefaultHeader(addr uint16) Header {
	return Header{Dst: addr, Src: AddrHost, DeviceType: DeviceWildcard, Version: ProtocolVersion}
}

// Escape appends src to dst with A5, A6, 5A, 5B escaped.
func Escape(dst, src []byte) []byte {
	for _, c := range src {
		switch c {
		case 0xA5:
			dst = append(dst, 0xA6, 0x02)
		case 0xA6:
			dst = append(dst, 0xA6, 0x01)
		case 0x5A:
			dst = append(dst, 0x5B, 0x02)
		case 0x5B:
			dst = append(dst, 0x5B, 0x01)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// Unescape reverses Escape. A bare A5 or 5A, an A6/5B at the end, or an
// A6/5B followed by anything but 01/02 is an error.
func Unescape(src []byte) ([]byte, error) {
	out := make([]byte, 0, len(src))
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case 0xA5, 0x5A:
			return nil, fmt.Errorf("%w: bare %02X at %d", ErrEscape, c, i)
		case 0xA6, 0x5B:
			if i+1 >= len(src) {
				return nil, fmt.Errorf("%w: %02X at end", ErrEscape, c)
			}
			switch src[i+1] {
			case 0x01:
				out = append(out, c)
			case 0x02:
				out = append(out, c-1)
			default:
				return nil, fmt.Errorf("%w: %02X %02X at %d", ErrEscape, c, src[i+1], i)
			}
			i++
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

// Packet is a decoded PHY1 packet: header and data (CmdGroup, Cmd,
// Response or CmdError, two reserved/mode bytes, payload).
type Packet struct {
	Header
	Data []byte
}

// Encode builds the whole PHY0 frame for h and data: preamble, escaped
// header+data+CRC, tail.
func Encode(h Header, data []byte) []byte {
	phy1 := make([]byte, 0, HeaderLen+len(data)+2)
	phy1 = binary.LittleEndian.AppendUint16(phy1, h.Dst)
	phy1 = binary.LittleEndian.AppendUint16(phy1, h.Src)
	phy1 = append(phy1, 0, 0, 0, 0, 0, 0, h.DeviceType, h.Version)
	phy1 = binary.LittleEndian.AppendUint16(phy1, uint16(len(data)))
	phy1 = append(phy1, data...)
	phy1 = binary.LittleEndian.AppendUint16(phy1, checksum.ARC(phy1))
	out := make([]byte, 0, PreambleLen+len(phy1)*5/4+1)
	for range PreambleLen {
		out = append(out, FrameHead)
	}
	out = Escape(out, phy1)
	return append(out, FrameTail)
}

// Decode parses one PHY0 frame (leading A5 bytes, escaped body, 5A). One
// or more A5 bytes are accepted (a line may lose some of the preamble).
func Decode(frame []byte) (Packet, error) {
	if len(frame) > MaxFrame {
		return Packet{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(frame))
	}
	i := 0
	for i < len(frame) && frame[i] == FrameHead {
		i++
	}
	if i == 0 || len(frame) < i+1 || frame[len(frame)-1] != FrameTail {
		return Packet{}, fmt.Errorf("%w: missing A5 head or 5A tail", ErrFraming)
	}
	return DecodeBody(frame[i : len(frame)-1])
}

// DecodeBody parses the escaped PHY1 body of a frame (no A5s, no 5A):
// unescape, check the CRC and the DataLen field.
func DecodeBody(body []byte) (Packet, error) {
	phy1, err := Unescape(body)
	if err != nil {
		return Packet{}, err
	}
	if len(phy1) < HeaderLen+2 {
		return Packet{}, fmt.Errorf("%w: %d bytes after unescape", ErrShort, len(phy1))
	}
	n := len(phy1) - 2
	want := binary.LittleEndian.Uint16(phy1[n:])
	if got := checksum.ARC(phy1[:n]); got != want {
		return Packet{}, fmt.Errorf("%w: computed %04X, frame has %04X", ErrCRC, got, want)
	}
	dataLen := int(binary.LittleEndian.Uint16(phy1[12:14]))
	if dataLen != n-HeaderLen {
		return Packet{}, fmt.Errorf("%w: DataLen %d, %d data bytes", ErrLength, dataLen, n-HeaderLen)
	}
	return Packet{
		Header: Header{
			Dst:        binary.LittleEndian.Uint16(phy1[0:2]),
			Src:        binary.LittleEndian.Uint16(phy1[2:4]),
			DeviceType: phy1[10],
			Version:    phy1[11],
		},
		Data: bytes.Clone(phy1[HeaderLen:n]),
	}, nil
}

// NextFrame finds the first complete frame in buf. It returns the frame
// (A5 run through 5A, aliasing buf) and how many bytes of buf to drop:
// garbage before the frame plus the frame. With no complete frame, frame
// is nil and consumed says how much leading garbage can go (the rest may be
// the start of a frame still arriving). An A5 inside a frame's body
// restarts the frame there: escaped bodies never contain A5.
func NextFrame(buf []byte) (frame []byte, consumed int) {
	start := bytes.IndexByte(buf, FrameHead)
	if start < 0 {
		return nil, len(buf)
	}
	i := start
	for i < len(buf) && buf[i] == FrameHead {
		i++
	}
	for j := i; j < len(buf); j++ {
		switch buf[j] {
		case FrameTail:
			if j == i { // A5…A5 5A: no body, drop it
				return nil, j + 1
			}
			return buf[start : j+1], j + 1
		case FrameHead:
			// Lost tail: restart at this A5 run.
			f, c := NextFrame(buf[j:])
			return f, j + c
		}
		if j-start >= MaxFrame {
			return nil, j
		}
	}
	return nil, start
}
