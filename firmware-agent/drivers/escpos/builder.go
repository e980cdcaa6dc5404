package escpos

import (
	"errors"
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// Control bytes.
const (
	LF  = 0x0a
	DLE = 0x10
	EOT = 0x04
	ESC = 0x1b
	FS  = 0x1c
	GS  = 0x1d
	XON = 0x11
	// XOFF asks the host to pause sending (printer DIP-switch flow control).
	XOFF = 0x13
)

// Align is the ESC a argument.
type Align byte

// Alignments.
const (
	Left   Align = 0
	Center Align = 1
	Right  Align = 2
)

// ECLevel is a QR error-correction level (GS ( k fn 69 argument).
type ECLevel byte

// QR error-correction levels.
const (
	ECL ECLevel = 0x30
	ECM ECLevel = 0x31
	ECQ ECLevel = 0x32
	ECH ECLevel = 0x33
)

// ParseECLevel parses L, M, Q or H.
func ParseECLevel(s string) (ECLevel, error) {
	switch s {
	case "L", "l":
		return ECL, nil
	case "M", "m", "":
		return ECM, nil
	case "Q", "q":
		return ECQ, nil
	case "H", "h":
		return ECH, nil
	}
	return 0, fmt.Errorf("qr error correction %q is not L, M, Q or H", s)
}

func (l ECLevel) recovery() qrcode.RecoveryLevel {
	switch l {
	case ECL:
		return qrcode.Low
	case ECQ:
		return qrcode.High
	case ECH:
		return qrcode.Highest
	}
	return qrcode.Medium
}

// Errors of the encoder.
var (
	ErrQRTooLong = errors.New("qr data too long")
	ErrQRTooWide = errors.New("qr code wider than the paper")
	ErrBadSize   = errors.New("character size outside 1..8")
)

// MaxQRData is the largest payload GS ( k fn 80 carries here (a QR model 2
// version 40 holds at most 2953 bytes at level L; longer data is refused).
const MaxQRData = 2953

// Builder accumulates an ESC/POS job. Methods append bytes and return the
// Builder; the first error sticks and is returned by Bytes.
type Builder struct {
	buf  []byte
	font Font
	repl int
	err  error
}

// NewBuilder returns an empty job whose text is encoded for font.
func NewBuilder(font Font) *Builder { return &Builder{font: font} }

// Bytes returns the job, or the first error a method met.
func (b *Builder) Bytes() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.buf, nil
}

// Replaced is how many characters Text replaced so far (font coverage).
func (b *Builder) Replaced() int { return b.repl }

// Raw appends bytes as they are.
func (b *Builder) Raw(p ...byte) *Builder { b.buf = append(b.buf, p...); return b }

// Init is ESC @ (reset modes, keep the buffer).
func (b *Builder) Init() *Builder { return b.Raw(ESC, '@') }

// ChineseOn is FS & (Chinese character mode). Its opposite, FS ., is never
// sent: it turns hanzi into garbage on Chinese printers.
func (b *Builder) ChineseOn() *Builder { return b.Raw(FS, '&') }

// Align is ESC a n.
func (b *Builder) Align(a Align) *Builder { return b.Raw(ESC, 'a', byte(a)) }

// Bold is ESC E n.
func (b *Builder) Bold(on bool) *Builder {
	var n byte
	if on {
		n = 1
	}
	return b.Raw(ESC, 'E', n)
}

// Size is GS ! n: width and height multipliers 1..8.
func (b *Builder) Size(w, h int) *Builder {
	if w < 1 || w > 8 || h < 1 || h > 8 {
		b.fail(fmt.Errorf("%w: %dx%d", ErrBadSize, w, h))
		return b
	}
	return b.Raw(GS, '!', byte(w-1)<<4|byte(h-1))
}

// Text appends s encoded for the builder's font (see Font.Encode).
func (b *Builder) Text(s string) *Builder {
	p, n := b.font.Encode(s)
	b.repl += n
	return b.Raw(p...)
}

// Line appends s and a line feed.
func (b *Builder) Line(s string) *Builder { return b.Text(s).Raw(LF) }

// Feed is ESC d n: print and feed n lines.
func (b *Builder) Feed(n int) *Builder {
	if n < 0 {
		n = 0
	}
	if n > 255 {
		n = 255
	}
	return b.Raw(ESC, 'd', byte(n))
}

// Cut is GS V 66 n: feed to the cutter plus n dots, then partial cut.
func (b *Builder) Cut(n byte) *Builder { return b.Raw(GS, 'V', 66, n) }

// QR appends a native QR code (GS ( k, model 2): select model, module
// size (1..16 dots), error correction, store data, print.
func (b *Builder) QR(data string, size int, ec ECLevel) *Builder {
	if len(data) == 0 || len(data) > MaxQRData {
		b.fail(fmt.Errorf("%w: %d bytes", ErrQRTooLong, len(data)))
		return b
	}
	if size < 1 {
		size = 1
	}
	if size > 16 {
		size = 16
	}
	n := len(data) + 3
	b.Raw(GS, '(', 'k', 4, 0, 0x31, 0x41, 0x32, 0x00)
	b.Raw(GS, '(', 'k', 3, 0, 0x31, 0x43, byte(size))
	b.Raw(GS, '(', 'k', 3, 0, 0x31, 0x45, byte(ec))
	b.Raw(GS, '(', 'k', byte(n), byte(n>>8), 0x31, 0x50, 0x30)
	b.Raw([]byte(data)...)
	return b.Raw(GS, '(', 'k', 3, 0, 0x31, 0x51, 0x30)
}

// QRRaster appends a QR code drawn by us as a GS v 0 raster image, for
// printers without GS ( k. Each module is module×module dots (shrunk if
// the code would not fit maxDots, refused if even 1 dot per module does
// not fit). The 4-module quiet zone is included.
func (b *Builder) QRRaster(data string, module int, ec ECLevel, maxDots int) *Builder {
	if len(data) == 0 || len(data) > MaxQRData {
		b.fail(fmt.Errorf("%w: %d bytes", ErrQRTooLong, len(data)))
		return b
	}
	q, err := qrcode.New(data, ec.recovery())
	if err != nil {
		b.fail(fmt.Errorf("%w: %v", ErrQRTooLong, err))
		return b
	}
	bm := q.Bitmap()
	if module < 1 {
		module = 1
	}
	for module > 1 && len(bm)*module > maxDots {
		module--
	}
	if maxDots > 0 && len(bm)*module > maxDots {
		b.fail(fmt.Errorf("%w: %d modules, %d dots", ErrQRTooWide, len(bm), maxDots))
		return b
	}
	return b.Raster(bitmapScale(bm, module))
}

func bitmapScale(bm [][]bool, k int) [][]bool {
	out := make([][]bool, 0, len(bm)*k)
	for _, row := range bm {
		r := make([]bool, 0, len(row)*k)
		for _, v := range row {
			for range k {
				r = append(r, v)
			}
		}
		for range k {
			out = append(out, r)
		}
	}
	return out
}

// Raster appends GS v 0 (normal density) for a bitmap, img[y][x] = black.
func (b *Builder) Raster(img [][]bool) *Builder {
	if len(img) == 0 {
		return b
	}
	w := len(img[0])
	xb := (w + 7) / 8
	y := len(img)
	if xb > 0xffff || y > 0xffff {
		b.fail(fmt.Errorf("%w: raster %dx%d", ErrQRTooWide, w, y))
		return b
	}
	b.Raw(GS, 'v', '0', 0, byte(xb), byte(xb>>8), byte(y), byte(y>>8))
	for _, row := range img {
		line := make([]byte, xb)
		for x, v := range row {
			if v && x < xb*8 {
				line[x/8] |= 0x80 >> (x % 8)
			}
		}
		b.Raw(line...)
	}
	return b
}

// Status requests.
var (
	// RequestPaper is GS r 1: paper sensor status, processed in order with
	// the print data, so its reply confirms everything before it printed.
	RequestPaper = []byte{GS, 'r', 1}
)

// RequestRealtime is DLE EOT n (n = 1..4), answered at once even offline.
func RequestRealtime(n int) []byte { return []byte{DLE, EOT, byte(n)} }

// EnableASB is GS a n: Automatic Status Back for the items in mask
// (bit 0 drawer, 1 online/offline, 2 error, 3 roll paper); 0 disables it.
func EnableASB(mask byte) []byte { return []byte{GS, 'a', mask} }

func (b *Builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}
