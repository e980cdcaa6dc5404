// Package sam speaks the host side of the GA/T 467 (GA 467-2013 §7) serial
// protocol of second-generation ID-card readers' security modules (SAM):
// framing (preamble AA AA AA 96 69, big-endian length, XOR check) with
// preamble resynchronisation, the find / select / read-base-message
// commands, the module's SW3 status codes, and the GA 490 256-byte UCS-2
// text block. The WLT photo is carried as opaque bytes.
//
// Byte layouts and test vectors: protocols/DEVICES.md §2. Nothing in this
// package logs; Identity redacts itself when formatted.
package sam

import (
	"errors"
	"fmt"
	"io"
)

// Preamble starts every frame in both directions.
var Preamble = [5]byte{0xAA, 0xAA, 0xAA, 0x96, 0x69}

// MaxLen bounds the LEN field. A base message with fingerprints is about
// 2.3 KB; anything over 4096 is garbage and is refused.
const MaxLen = 4096

// headerLen is the preamble plus the 2-byte LEN.
const headerLen = 7

// Framing errors. Split drops the offending preamble, so a decoder
// resynchronises on the next one.
var (
	ErrShort    = errors.New("sam: incomplete frame")
	ErrLength   = errors.New("sam: frame length out of range")
	ErrChecksum = errors.New("sam: frame checksum mismatch")
	ErrPayload  = errors.New("sam: malformed payload")
)

// checksum is the XOR of b.
func checksum(b []byte) byte {
	var x byte
	for _, c := range b {
		x ^= c
	}
	return x
}

// Frame wraps payload (command or reply bytes, without CHK) in a frame:
// preamble, LEN = len(payload)+1 big-endian, payload, CHK.
func Frame(payload []byte) []byte {
	n := len(payload) + 1
	out := make([]byte, 0, headerLen+n)
	out = append(out, Preamble[:]...)
	out = append(out, byte(n>>8), byte(n))
	out = append(out, payload...)
	return append(out, checksum(out[5:]))
}

// indexPreamble returns the index of the first full preamble in b, or -1.
func indexPreamble(b []byte) int {
	for i := 0; i+len(Preamble) <= len(b); i++ {
		if b[i] == Preamble[0] && b[i+1] == Preamble[1] && b[i+2] == Preamble[2] && b[i+3] == Preamble[3] && b[i+4] == Preamble[4] {
			return i
		}
	}
	return -1
}

// Split finds the first frame in buf. It returns the frame's payload (the
// bytes between LEN and CHK, aliasing buf) and how many bytes of buf the
// caller should drop: garbage before the preamble plus the frame. With
// ErrShort the frame is incomplete (n counts only garbage that can go).
// With ErrLength or ErrChecksum, n also drops the bad preamble, so the
// next call resynchronises on a later one.
func Split(buf []byte) (payload []byte, n int, err error) {
	i := indexPreamble(buf)
	if i < 0 {
		// Keep a tail that may be the start of a preamble.
		keep := min(len(buf), len(Preamble)-1)
		return nil, len(buf) - keep, ErrShort
	}
	if len(buf) < i+headerLen {
		return nil, i, ErrShort
	}
	l := int(buf[i+5])<<8 | int(buf[i+6])
	if l < 1 || l > MaxLen {
		return nil, i + len(Preamble), fmt.Errorf("%w: %d", ErrLength, l)
	}
	end := i + headerLen + l
	if len(buf) < end {
		return nil, i, ErrShort
	}
	if checksum(buf[i+5:end-1]) != buf[end-1] {
		return nil, i + len(Preamble), ErrChecksum
	}
	return buf[i+headerLen : end-1], end, nil
}

// Decoder reads frames from a byte stream, skipping garbage.
type Decoder struct {
	r   io.Reader
	buf []byte
	tmp []byte
	// Skipped counts bytes dropped outside valid frames (garbage and bad
	// frames' preambles).
	Skipped int
}

// NewDecoder reads frames from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r, tmp: make([]byte, 2048)}
}

// Next returns the next frame's payload (valid until the next call).
// ErrLength and ErrChecksum report a dropped bad frame; calling Next again
// continues after it. Read errors from the stream are returned as they are.
func (d *Decoder) Next() ([]byte, error) {
	for {
		p, n, err := Split(d.buf)
		if err == nil {
			out := append([]byte(nil), p...)
			d.buf = d.buf[n:]
			d.Skipped += n - len(p) - headerLen - 1
			return out, nil
		}
		d.Skipped += n
		d.buf = d.buf[n:]
		if !errors.Is(err, ErrShort) {
			return nil, err
		}
		m, rerr := d.r.Read(d.tmp)
		if m > 0 {
			// Compact: the buffer never holds more than one frame plus a read.
			d.buf = append(append(make([]byte, 0, len(d.buf)+m), d.buf...), d.tmp[:m]...)
		}
		if rerr != nil && m == 0 {
			return nil, rerr
		}
	}
}
