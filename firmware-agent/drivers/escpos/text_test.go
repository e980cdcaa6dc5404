package escpos

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// FuzzEncode checks that any field text becomes bytes with no control
// codes but LF (no command injection), decodes back to the input with
// exactly the replaced characters turned into '?', and that Width counts
// what was printed.
func FuzzEncode(f *testing.F) {
	f.Add("请到5号窗口办理 前面3人", 0)
	f.Add("𠀀张*三\x1b@\x1c.", 1)
	f.Add("\xff\xfe镕é\ue000\t\n", 2)
	f.Fuzz(func(t *testing.T, s string, fi int) {
		font := Font(uint(fi) % 3)
		b, n := font.Encode(s)
		for _, c := range b {
			if c < 0x20 && c != '\n' || c == 0x7f {
				t.Fatalf("control byte %02X in % X", c, b)
			}
		}
		dec, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		var want strings.Builder
		repl := 0
		for i := 0; i < len(s); {
			r, sz := utf8.DecodeRuneInString(s[i:])
			i += sz
			switch {
			case r == '\t':
				want.WriteByte(' ')
			case r == '\n':
				want.WriteByte('\n')
			case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			case r == utf8.RuneError && sz == 1 || !font.Covers(r):
				want.WriteByte('?')
				repl++
			default:
				want.WriteRune(r)
			}
		}
		if string(dec) != want.String() || n != repl {
			t.Fatalf("%q → %q (%d), want %q (%d)", s, dec, n, want.String(), repl)
		}
	})
}
