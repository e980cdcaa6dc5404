// Package textenc encodes display text for LED controllers: GB2312, GBK,
// GB18030 (through golang.org/x/text), UTF-8 and ASCII, with one fixed
// replacement rule so a panel never shows mojibake.
//
// Replacement rule: a character the target charset cannot encode becomes
// '?' (0x3F); control characters (C0, DEL, C1) become a space. GB2312 is
// encoded as EUC-CN: GBK bytes whose lead and trail bytes both lie in
// A1..FE; anything GBK-only is replaced.
package textenc

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Charset names an encoding.
type Charset string

// Supported charsets.
const (
	GB2312  Charset = "gb2312"
	GBK     Charset = "gbk"
	GB18030 Charset = "gb18030"
	UTF8    Charset = "utf-8"
	ASCII   Charset = "ascii"
)

// Replacement is what an unencodable character becomes.
const Replacement = '?'

// ErrUnknownCharset is returned by Parse for an unsupported name.
var ErrUnknownCharset = errors.New("unknown text encoding")

// Parse maps a profile's encoding name to a Charset; "" means GB2312, the
// default of Chinese LED controllers.
func Parse(s string) (Charset, error) {
	switch c := Charset(strings.ToLower(strings.TrimSpace(s))); c {
	case "":
		return GB2312, nil
	case "utf8":
		return UTF8, nil
	case "gb-2312", "euc-cn":
		return GB2312, nil
	case GB2312, GBK, GB18030, UTF8, ASCII:
		return c, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownCharset, s)
}

// Encode returns s in charset c, replacing what c cannot carry. Invalid
// UTF-8 in s counts as unencodable.
func Encode(c Charset, s string) []byte {
	out := make([]byte, 0, len(s)*2)
	var enc *encoding.Encoder
	switch c {
	case GBK, GB2312:
		enc = simplifiedchinese.GBK.NewEncoder()
	case GB18030:
		enc = simplifiedchinese.GB18030.NewEncoder()
	}
	var buf [8]byte
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case r == utf8.RuneError && n <= 1:
			out = append(out, Replacement)
			continue
		case r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0):
			out = append(out, ' ')
			continue
		case r < 0x80:
			out = append(out, byte(r))
			continue
		}
		switch c {
		case UTF8:
			out = utf8.AppendRune(out, r)
		case ASCII:
			out = append(out, Replacement)
		default:
			enc.Reset()
			nDst, _, err := enc.Transform(buf[:], []byte(s[i:i+n]), true)
			if err != nil || nDst == 0 || (c == GB2312 && !isEUCCN(buf[:nDst])) {
				out = append(out, Replacement)
				continue
			}
			out = append(out, buf[:nDst]...)
		}
	}
	return out
}

func isEUCCN(b []byte) bool {
	return len(b) == 2 && b[0] >= 0xA1 && b[0] <= 0xFE && b[1] >= 0xA1 && b[1] <= 0xFE
}

// Decode turns bytes in charset c back into text (for emulators and
// logs); undecodable bytes become U+FFFD.
func Decode(c Charset, b []byte) string {
	var dec *encoding.Decoder
	switch c {
	case GBK, GB2312:
		dec = simplifiedchinese.GBK.NewDecoder()
	case GB18030:
		dec = simplifiedchinese.GB18030.NewDecoder()
	case UTF8:
		return strings.ToValidUTF8(string(b), "\uFFFD")
	default:
		var sb strings.Builder
		for _, c := range b {
			if c < 0x80 {
				sb.WriteByte(c)
			} else {
				sb.WriteRune(utf8.RuneError)
			}
		}
		return sb.String()
	}
	s, err := dec.Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(s)
}
