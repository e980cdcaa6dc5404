package escposemu

import (
	"fmt"
	"strings"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos"
)

// maxCommand bounds one command's declared length (QR store, raster):
// longer declarations are treated as noise rather than buffered forever.
const maxCommand = 1 << 20

// Request is a status request found in the stream.
type Request struct {
	Realtime bool // DLE EOT n (real-time) or GS r n (buffered)
	N        int
	ASB      bool // GS a n: N is the new ASB mask
}

// Decoder turns the bytes a host sends to a printer into virtual paper
// lines and status requests. It is fed in arbitrary chunks; a command split
// across writes waits for the rest.
//
// Paper line format: "[A SIZE B] text" where A is L, C or R (alignment),
// SIZE is WxH when not 1x1, B marks bold; e.g. "[C 4x4] A001". A native QR
// code prints as "[QR: data]", a raster image as "[IMAGE WxH]", a cut as
// "---- cut ----", ESC d n as n empty lines. Unknown commands show inline
// as "<ESC xx>", text bytes outside Chinese mode as "?".
type Decoder struct {
	// Line receives each finished paper line.
	Line func(string)
	// Request receives status requests, in stream order.
	Request func(Request)
	// Hold, when it returns true, stops buffered processing (the printer
	// is offline): printable data is dropped and Dropped is called once per
	// offline period. DLE EOT is still processed.
	Hold    func() bool
	Dropped func()

	pending []byte
	chinese bool
	align   byte
	w, h    int
	bold    bool
	cur     strings.Builder
	curTag  string // attributes of the last text added
	lineTag string // attributes at the start of the current line
	qrData  []byte
	held    bool
}

// NewDecoder returns a decoder in the power-on state (Chinese mode off:
// the host must send FS &).
func NewDecoder() *Decoder {
	d := &Decoder{}
	d.reset()
	return d
}

func (d *Decoder) reset() {
	d.chinese, d.align, d.w, d.h, d.bold = false, 0, 1, 1, false
}

// Write feeds bytes; it never fails.
func (d *Decoder) Write(p []byte) (int, error) {
	d.pending = append(d.pending, p...)
	for len(d.pending) > 0 {
		n := d.step(d.pending)
		if n == 0 {
			break
		}
		d.pending = d.pending[n:]
	}
	if len(d.pending) == 0 {
		d.pending = nil // let a large job's buffer go
	}
	return len(p), nil
}

// Flush ends the current line, if any (used at the end of a recording).
func (d *Decoder) Flush() {
	if d.cur.Len() > 0 {
		d.endLine()
	}
}

func (d *Decoder) tag() string {
	t := "[" + string("LCR"[min(int(d.align), 2)])
	if d.w != 1 || d.h != 1 {
		t += fmt.Sprintf(" %dx%d", d.w, d.h)
	}
	if d.bold {
		t += " B"
	}
	return t + "]"
}

func (d *Decoder) emit(s string) {
	if d.Line != nil {
		d.Line(s)
	}
}

// text adds printable text at the current attributes.
func (d *Decoder) text(s string) {
	if d.hold() {
		return
	}
	t := d.tag()
	if d.cur.Len() == 0 {
		d.curTag, d.lineTag = t, t
	} else if t != d.curTag {
		d.cur.WriteString(t) // attributes changed mid-line
		d.curTag = t
	}
	d.cur.WriteString(s)
}

func (d *Decoder) endLine() {
	if d.cur.Len() == 0 {
		d.emit("")
		return
	}
	d.emit(d.lineTag + " " + d.cur.String())
	d.cur.Reset()
}

func (d *Decoder) flushPartial() {
	if d.cur.Len() > 0 {
		d.endLine()
	}
}

// hold reports whether printable data is dropped now.
func (d *Decoder) hold() bool {
	if d.Hold == nil || !d.Hold() {
		d.held = false
		return false
	}
	if !d.held && d.Dropped != nil {
		d.Dropped()
	}
	d.held = true
	return true
}

func (d *Decoder) request(r Request) {
	if d.Request != nil {
		d.Request(r)
	}
}

// step handles one token at the start of p and returns its length, or 0
// when p holds only part of a command.
func (d *Decoder) step(p []byte) int {
	c := p[0]
	switch {
	case c == escpos.ESC:
		return d.esc(p)
	case c == escpos.GS:
		return d.gs(p)
	case c == escpos.FS:
		return d.fs(p)
	case c == escpos.DLE:
		return d.dle(p)
	case c == escpos.LF:
		if !d.hold() {
			d.endLine()
		}
		return 1
	case c == '\t':
		d.text(" ")
		return 1
	case c < 0x20 || c == 0x7f:
		return 1 // CR, FF and other controls: nothing on paper
	case c < 0x80:
		d.text(string(rune(c)))
		return 1
	}
	if !d.chinese || c == 0x80 || c == 0xff {
		d.text("?")
		return 1
	}
	if len(p) < 2 {
		return 0
	}
	n := 2
	if p[1] >= 0x30 && p[1] <= 0x39 {
		n = 4
		if len(p) < 4 {
			return 0
		}
	}
	s, err := simplifiedchinese.GB18030.NewDecoder().Bytes(p[:n])
	if err != nil || len(s) == 0 || strings.ContainsRune(string(s), '\ufffd') {
		d.text("?")
		return 1
	}
	d.text(string(s))
	return n
}

func need(p []byte, n int) bool { return len(p) >= n }

func (d *Decoder) unknown(p []byte) {
	d.text(fmt.Sprintf("<% X>", p))
}

// escArgs is the argument count of the ESC commands we know.
var escArgs = map[byte]int{'@': 0, '2': 0, 'a': 1, 'E': 1, 'd': 1, 't': 1, '!': 1, '-': 1, 'J': 1, '3': 1,
	'G': 1, 'M': 1, 'V': 1, 'R': 1, '{': 1, 'U': 1, ' ': 1, 'r': 1, 'p': 3, 'c': 2, '$': 2, '\\': 2}

func (d *Decoder) esc(p []byte) int {
	if !need(p, 2) {
		return 0
	}
	k, ok := escArgs[p[1]]
	if !ok {
		if p[1] == '*' { // ESC * m nL nH d…: bit image
			if !need(p, 5) {
				return 0
			}
			n := int(p[3]) | int(p[4])<<8
			if p[2] == 32 || p[2] == 33 {
				n *= 3
			}
			if !need(p, 5+n) {
				return 0
			}
			d.text("[IMAGE]")
			return 5 + n
		}
		d.unknown(p[:2])
		return 2
	}
	if !need(p, 2+k) {
		return 0
	}
	switch p[1] {
	case '@':
		d.flushPartial()
		d.reset()
	case 'a':
		a := p[2]
		if a >= '0' {
			a -= '0'
		}
		if a > 2 {
			a = 0
		}
		d.align = a
	case 'E':
		d.bold = p[2]&1 != 0
	case '!':
		d.bold = p[2]&0x08 != 0
		d.h, d.w = 1, 1
		if p[2]&0x10 != 0 {
			d.h = 2
		}
		if p[2]&0x20 != 0 {
			d.w = 2
		}
	case 'd':
		if !d.hold() {
			d.flushPartial()
			for range int(p[2]) {
				d.emit("")
			}
		}
	case 'J':
		if !d.hold() {
			d.flushPartial()
		}
	}
	return 2 + k
}

func (d *Decoder) fs(p []byte) int {
	if !need(p, 2) {
		return 0
	}
	switch p[1] {
	case '&':
		d.chinese = true
		return 2
	case '.':
		d.chinese = false
		return 2
	case '!', 'W', '-', 'C':
		if !need(p, 3) {
			return 0
		}
		return 3
	case 'S', 'p':
		if !need(p, 4) {
			return 0
		}
		return 4
	case '(': // FS ( fn pL pH d…: font and Kanji settings
		if !need(p, 5) {
			return 0
		}
		n := int(p[3]) | int(p[4])<<8
		if !need(p, 5+n) {
			return 0
		}
		return 5 + n
	}
	d.unknown(p[:2])
	return 2
}

func (d *Decoder) dle(p []byte) int {
	if !need(p, 2) {
		return 0
	}
	switch p[1] {
	case escpos.EOT:
		if !need(p, 3) {
			return 0
		}
		if p[2] >= 1 && p[2] <= 4 {
			d.request(Request{Realtime: true, N: int(p[2])})
		}
		return 3
	case 0x05: // DLE ENQ n
		if !need(p, 3) {
			return 0
		}
		return 3
	case 0x14: // DLE DC4 fn …
		if !need(p, 3) {
			return 0
		}
		n := 5
		if p[2] == 8 {
			n = 10
		}
		if !need(p, n) {
			return 0
		}
		return n
	}
	d.unknown(p[:2])
	return 2
}

func (d *Decoder) gs(p []byte) int {
	if !need(p, 2) {
		return 0
	}
	one := func() int {
		if !need(p, 3) {
			return 0
		}
		return 3
	}
	switch p[1] {
	case '!':
		if !need(p, 3) {
			return 0
		}
		d.w, d.h = int(p[2]>>4&7)+1, int(p[2]&7)+1
		return 3
	case 'r':
		if !need(p, 3) {
			return 0
		}
		d.request(Request{N: int(p[2] & 0x0f)})
		return 3
	case 'a':
		if !need(p, 3) {
			return 0
		}
		d.request(Request{ASB: true, N: int(p[2])})
		return 3
	case 'V':
		if !need(p, 3) {
			return 0
		}
		n := 3
		if p[2] == 65 || p[2] == 66 || p[2] == 97 || p[2] == 98 || p[2] == 103 || p[2] == 104 {
			n = 4
		}
		if !need(p, n) {
			return 0
		}
		if !d.hold() {
			d.flushPartial()
			d.emit("---- cut ----")
		}
		return n
	case '(':
		if !need(p, 5) {
			return 0
		}
		n := int(p[3]) | int(p[4])<<8
		if n > maxCommand {
			d.unknown(p[:5])
			return 5
		}
		if !need(p, 5+n) {
			return 0
		}
		if p[2] == 'k' && n >= 3 && p[5] == 0x31 {
			d.qr(p[6], p[7:5+n])
		}
		return 5 + n
	case 'v':
		if !need(p, 8) {
			return 0
		}
		if p[2] != '0' {
			d.unknown(p[:3])
			return 3
		}
		xb := int(p[4]) | int(p[5])<<8
		y := int(p[6]) | int(p[7])<<8
		if xb*y > maxCommand {
			d.unknown(p[:8])
			return 8
		}
		if !need(p, 8+xb*y) {
			return 0
		}
		if !d.hold() {
			d.flushPartial()
			d.emit(fmt.Sprintf("[IMAGE %dx%d]", xb*8, y))
		}
		return 8 + xb*y
	case '8':
		if !need(p, 7) {
			return 0
		}
		n := int(p[3]) | int(p[4])<<8 | int(p[5])<<16 | int(p[6])<<24
		if n < 0 || n > maxCommand {
			d.unknown(p[:7])
			return 7
		}
		if !need(p, 7+n) {
			return 0
		}
		return 7 + n
	case 'L', 'W', 'P':
		if !need(p, 4) {
			return 0
		}
		return 4
	case 'B', 'H', 'h', 'w', 'f', 'I', 'b', 'E', 'T':
		return one()
	case 'k':
		if !need(p, 3) {
			return 0
		}
		if p[2] <= 6 {
			// NUL-terminated data of at most 255 bytes; a longer run is noise.
			for i := 3; i < len(p) && i <= 3+255; i++ {
				if p[i] == 0 {
					d.text("[BARCODE]")
					return i + 1
				}
			}
			if len(p) > 3+255 {
				return 3
			}
			return 0
		}
		if !need(p, 4) {
			return 0
		}
		n := 4 + int(p[3])
		if !need(p, n) {
			return 0
		}
		d.text("[BARCODE]")
		return n
	}
	d.unknown(p[:2])
	return 2
}

// qr handles GS ( k with cn = 49: fn 80 stores, fn 81 prints.
func (d *Decoder) qr(fn byte, data []byte) {
	switch fn {
	case 0x50:
		if len(data) >= 1 {
			d.qrData = append(d.qrData[:0], data[1:]...)
		}
	case 0x51:
		if d.hold() {
			return
		}
		d.flushPartial()
		d.emit("[QR: " + sanitize(d.qrData) + "]")
	}
}

func sanitize(b []byte) string {
	var sb strings.Builder
	for _, c := range string(b) {
		if c < 0x20 || c == 0x7f {
			sb.WriteString("?")
			continue
		}
		sb.WriteRune(c)
	}
	return sb.String()
}
