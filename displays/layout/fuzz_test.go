package layout

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzLayout: for any panel string and lines, a static row never exceeds
// the panel width, texts stay valid UTF-8 without control characters, and
// there are exactly Rows() rows.
func FuzzLayout(f *testing.F) {
	f.Add("128x32", "A012\n请到8号窗口", true)
	f.Add("64x16", "A012\n请到8号窗口\n\x00\xff", false)
	f.Add("256x64", "", false)
	f.Fuzz(func(t *testing.T, panel, text string, scroll bool) {
		p, err := ParsePanel(panel)
		if err != nil {
			return
		}
		s := Layout(p, strings.Split(text, "\n"), Opts{CanScroll: scroll})
		if len(s.Rows) != p.Rows() {
			t.Fatalf("%d rows on %v", len(s.Rows), p)
		}
		for _, r := range s.Rows {
			if !utf8.ValidString(r.Text) || strings.ContainsFunc(r.Text, func(c rune) bool { return c < 0x20 }) {
				t.Fatalf("bad text %q", r.Text)
			}
			if r.Mode == Static && r.TextPx > p.Width {
				t.Fatalf("static row %q is %d px on a %d px panel", r.Text, r.TextPx, p.Width)
			}
		}
	})
}
