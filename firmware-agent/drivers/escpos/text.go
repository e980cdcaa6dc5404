package escpos

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Font is the set of characters a printer's resident font covers. Printer
// fonts normally cover GB2312 or the 2-byte GBK area; only some cover the
// 4-byte GB18030 area.
type Font int

// Fonts, smallest first. The zero value is FontGBK.
const (
	FontGBK     Font = iota // GBK 2-byte area without the user-defined areas
	FontGB2312              // GB2312 only: rows A1–A9 (symbols) and B0–F7 (6763 hanzi)
	FontGB18030             // GB18030 including 4-byte sequences
)

// Replacement is what a character the font lacks prints as.
const Replacement = '?'

// ParseFont parses a config value: gb2312, gbk or gb18030.
func ParseFont(s string) (Font, error) {
	switch strings.ToLower(s) {
	case "gbk", "":
		return FontGBK, nil
	case "gb2312":
		return FontGB2312, nil
	case "gb18030":
		return FontGB18030, nil
	}
	return 0, fmt.Errorf("font %q is not gb2312, gbk or gb18030", s)
}

func (f Font) String() string {
	switch f {
	case FontGB2312:
		return "gb2312"
	case FontGB18030:
		return "gb18030"
	}
	return "gbk"
}

// Encode converts s to GB18030 bytes the printer can print in Chinese mode.
//
// The replacement rule (documented in DEVICES.md §1.2 and applied per rune):
//   - printable ASCII passes through; '\n' stays a line feed; '\t' becomes
//     a space; every other control character (C0, DEL, C1) is dropped, so a
//     field can never smuggle an ESC/POS command onto the wire;
//   - a rune whose GB18030 form is outside the font (4 bytes on a GBK or
//     GB2312 font, a 2-byte code outside GB2312's rows on a GB2312 font, a
//     user-defined/private-use code, or a rune GB18030 cannot encode, e.g.
//     an invalid UTF-8 byte) prints as Replacement '?';
//   - nothing else is changed: no transliteration, no raster fallback.
//
// It also returns how many replacements it made.
func (f Font) Encode(s string) ([]byte, int) {
	out := make([]byte, 0, len(s)*2)
	repl := 0
	enc := simplifiedchinese.GB18030.NewEncoder()
	var buf [8]byte
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '\n':
			out = append(out, '\n')
			continue
		case r == '\t':
			out = append(out, ' ')
			continue
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			continue
		case r < 0x80:
			out = append(out, byte(r))
			continue
		case r == utf8.RuneError && n == 1:
			out = append(out, Replacement)
			repl++
			continue
		}
		b, ok := f.encodeRune(enc, r, buf[:0])
		if !ok {
			out = append(out, Replacement)
			repl++
			continue
		}
		out = append(out, b...)
	}
	return out, repl
}

// Covers reports whether the font prints r (printable ASCII counts).
func (f Font) Covers(r rune) bool {
	if r >= 0x20 && r < 0x7f {
		return true
	}
	if r < 0xa0 {
		return false
	}
	var buf [8]byte
	_, ok := f.encodeRune(simplifiedchinese.GB18030.NewEncoder(), r, buf[:0])
	return ok
}

func (f Font) encodeRune(enc *encoding.Encoder, r rune, buf []byte) ([]byte, bool) {
	if r >= 0xe000 && r <= 0xf8ff || r >= 0xf0000 {
		return nil, false // private use: user-defined glyphs, not in any stock font
	}
	b, err := enc.Bytes(utf8.AppendRune(buf, r))
	if err != nil || len(b) == 0 {
		return nil, false
	}
	switch len(b) {
	case 2:
		switch f {
		case FontGB2312:
			return b, inGB2312(b[0], b[1])
		default:
			return b, true
		}
	case 4:
		return b, f == FontGB18030
	}
	return nil, false
}

// inGB2312 reports whether a 2-byte code is in GB2312's assigned rows.
func inGB2312(hi, lo byte) bool {
	if lo < 0xa1 || lo > 0xfe {
		return false
	}
	return hi >= 0xa1 && hi <= 0xa9 || hi >= 0xb0 && hi <= 0xf7
}

// Width is the number of columns s takes at normal size: one per ASCII
// character, two per character the font prints as a hanzi-sized glyph, one
// per replaced character (it prints as '?'). Control characters take none.
func (f Font) Width(s string) int {
	w := 0
	for _, r := range s {
		w += f.RuneWidth(r)
	}
	return w
}

// RuneWidth is the column count of one rune at normal size.
func (f Font) RuneWidth(r rune) int {
	switch {
	case r == '\t':
		return 1
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return 0
	case r < 0x80:
		return 1
	case f.Covers(r):
		return 2
	}
	return 1
}
