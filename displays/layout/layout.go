// Package layout decides what an LED panel shows: which text goes on which
// row of a 64×16 or 128×32 (or any) window panel, whether a row is static,
// scrolls or is cut, and a hall-screen view model of the latest calls.
// It knows pixels and characters, not protocols; drivers turn a Screen
// into frames.
//
// Width rule: on a font F pixels high, ASCII and halfwidth forms are F/2
// pixels wide and every other character F (a hanzi is 16 px wide on the
// 16-px font, "A" is 8 px), matching GB2312 controllers, which draw
// one-byte characters half width and two-byte characters full width.
//
// Fitting rules, in order:
//  1. Control characters become spaces; each line is trimmed.
//  2. With no more lines than rows, each line has its own row; otherwise
//     the last row gets the remaining lines joined by two spaces (one hanzi
//     wide). A one-row panel thus shows "A012  请到8号窗口".
//  3. A row that fits is static and centred.
//  4. A row that does not fit scrolls left when the controller can scroll.
//  5. If it cannot, a joined row falls back to its first line (the ticket
//     number matters most), and a row still too wide is cut at the last
//     whole character that fits (no ellipsis: it would cost a whole hanzi).
package layout

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Panel is an LED panel in pixels with its font height.
type Panel struct {
	Width  int `json:"width"`
	Height int `json:"height"`
	FontPx int `json:"font_px"` // 16, 24 or 32; 0 = 16
}

// Common window panels.
var (
	Panel64x16  = Panel{Width: 64, Height: 16, FontPx: 16}
	Panel128x32 = Panel{Width: 128, Height: 32, FontPx: 16}
)

// ErrPanel reports an unusable panel size.
var ErrPanel = errors.New("layout: bad panel")

// ParsePanel reads "64x16" (or "128×32").
func ParsePanel(s string) (Panel, error) {
	var p Panel
	s = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "×", "x")
	if _, err := fmt.Sscanf(s, "%dx%d", &p.Width, &p.Height); err != nil {
		return Panel{}, fmt.Errorf("%w: %q is not WIDTHxHEIGHT", ErrPanel, s)
	}
	p.FontPx = 16
	return p, p.Validate()
}

// Validate checks the panel can hold at least one row of its font.
func (p Panel) Validate() error {
	f := p.font()
	switch {
	case f != 16 && f != 24 && f != 32:
		return fmt.Errorf("%w: font %d px (want 16, 24 or 32)", ErrPanel, f)
	case p.Width < f || p.Width > 4096 || p.Height < f || p.Height > 4096:
		return fmt.Errorf("%w: %dx%d cannot hold a %d-px character", ErrPanel, p.Width, p.Height, f)
	case p.Width%8 != 0:
		return fmt.Errorf("%w: width %d is not a multiple of 8", ErrPanel, p.Width)
	}
	return nil
}

func (p Panel) font() int {
	if p.FontPx == 0 {
		return 16
	}
	return p.FontPx
}

// Rows is how many text rows fit.
func (p Panel) Rows() int { return p.Height / p.font() }

func (p Panel) String() string { return fmt.Sprintf("%dx%d", p.Width, p.Height) }

// RuneWidth is the width of r in pixels on a font px high.
func RuneWidth(r rune, px int) int {
	if r < 0x80 {
		return px / 2
	}
	if k := width.LookupRune(r).Kind(); k == width.EastAsianHalfwidth {
		return px / 2
	}
	return px
}

// Width is the width of s in pixels on a font px high.
func Width(s string, px int) int {
	w := 0
	for _, r := range s {
		w += RuneWidth(r, px)
	}
	return w
}

// Truncate cuts s to at most maxPx pixels, at a character boundary.
func Truncate(s string, maxPx, px int) string {
	w := 0
	for i, r := range s {
		w += RuneWidth(r, px)
		if w > maxPx {
			return s[:i]
		}
	}
	return s
}

// Mode is how a row is shown.
type Mode int

// Row modes.
const (
	Static Mode = iota // fits; centred
	Scroll             // too wide; moves left continuously
)

func (m Mode) String() string {
	if m == Scroll {
		return "scroll"
	}
	return "static"
}

// Row is one text row of a panel.
type Row struct {
	Y, Height int // pixels
	Width     int // pixels (the panel width)
	Text      string
	TextPx    int // width of Text
	Mode      Mode
	Cut       bool // Text was shortened to fit
}

// Screen is what a panel shows.
type Screen struct {
	Panel Panel
	Rows  []Row
}

// Texts returns the row texts.
func (s Screen) Texts() []string {
	out := make([]string, len(s.Rows))
	for i, r := range s.Rows {
		out[i] = r.Text
	}
	return out
}

// Opts says what the controller can do.
type Opts struct {
	CanScroll bool // the controller scrolls a row that does not fit
}

// RowSep joins lines that share the last row: two ASCII spaces, one hanzi
// wide.
const RowSep = "  "

// Clean turns control characters into spaces and trims the line.
func Clean(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// Layout fits lines onto panel p (see the package doc for the rules). The
// panel must be valid.
func Layout(p Panel, lines []string, o Opts) Screen {
	f := p.font()
	n := p.Rows()
	clean := make([]string, 0, len(lines))
	for _, l := range lines {
		clean = append(clean, Clean(l))
	}
	for len(clean) > 0 && clean[len(clean)-1] == "" {
		clean = clean[:len(clean)-1]
	}
	// Centre the block of rows vertically when the panel has spare pixels.
	top := (p.Height - n*f) / 2
	s := Screen{Panel: p, Rows: make([]Row, n)}
	for i := range n {
		var group []string
		switch {
		case i < len(clean) && (i < n-1 || len(clean) <= n):
			group = clean[i : i+1]
		case i == n-1 && len(clean) > n:
			group = clean[i:]
		}
		text := strings.Join(group, RowSep)
		r := Row{Y: top + i*f, Height: f, Width: p.Width, Text: text}
		if Width(text, f) > p.Width {
			switch {
			case o.CanScroll:
				r.Mode = Scroll
			default:
				r.Cut = true
				if len(group) > 1 {
					text = group[0]
				}
				r.Text = Truncate(text, p.Width, f)
			}
		}
		r.TextPx = Width(r.Text, f)
		s.Rows[i] = r
	}
	return s
}

// WindowLines are the two lines a window panel shows for a call:
// the ticket number and "请到8号窗口".
func WindowLines(number string, window int) []string {
	return []string{number, fmt.Sprintf("请到%d号窗口", window)}
}
