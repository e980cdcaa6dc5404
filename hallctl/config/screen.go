package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Screen is the hall screen (综合屏) as signage, the `screen:` section:
// what it shows, in which languages and colours. Every field has a
// default (DefaultScreen); the screen page reads it from GET
// /api/v1/screen (no secrets in it).
type Screen struct {
	// Title is the screen's heading; default the hall's name.
	Title string `yaml:"title,omitempty"`
	// Languages of the screen's labels, in order: zh, en or both
	// (Chinese first); default [zh, en].
	Languages []string `yaml:"languages,omitempty"`
	// Panels are what the screen shows: calls (the newest call large and
	// the calls before it), depts (waiting per department, paged when
	// they do not fit), notice (the ticker); default all three.
	Panels []string `yaml:"panels,omitempty"`
	// LastCalls is how many calls the screen lists, the newest included
	// (1–20); default 8.
	LastCalls int `yaml:"last_calls,omitempty"`
	// PageSeconds is how long a page of departments stays (3–300);
	// default 10.
	PageSeconds int `yaml:"page_seconds,omitempty"`
	// DeptsPerPage fixes the departments on a page (1–50); 0 (default):
	// as many as fit the screen.
	DeptsPerPage int `yaml:"depts_per_page,omitempty"`
	// Colours is the palette; each text colour must reach 4.5:1 contrast
	// on the background it is shown on (WCAG AA).
	Colours ScreenColours `yaml:"colours,omitempty"`
}

// ScreenColours is the hall screen's palette, "#rrggbb" or "#rgb".
type ScreenColours struct {
	Background string `yaml:"background,omitempty"`  // the page
	Panel      string `yaml:"panel,omitempty"`       // the call and department cards
	Text       string `yaml:"text,omitempty"`        // on background and panel
	Accent     string `yaml:"accent,omitempty"`      // called numbers and counts, on panel and background
	Header     string `yaml:"header,omitempty"`      // the title bar
	HeaderText string `yaml:"header_text,omitempty"` // on header
	Ticker     string `yaml:"ticker,omitempty"`      // the notice bar
	TickerText string `yaml:"ticker_text,omitempty"` // on ticker
}

// DefaultScreen is the screen a config without `screen:` gets.
var DefaultScreen = Screen{
	Languages:   []string{"zh", "en"},
	Panels:      []string{"calls", "depts", "notice"},
	LastCalls:   8,
	PageSeconds: 10,
	Colours: ScreenColours{
		Background: "#0d1b2a", Panel: "#132f4c", Text: "#ffffff", Accent: "#ffd54f",
		Header: "#b71c1c", HeaderText: "#ffffff", Ticker: "#fbc02d", TickerText: "#1b2430",
	},
}

// ScreenLanguages and ScreenPanels are the values the lists may hold.
var (
	ScreenLanguages = []string{"zh", "en"}
	ScreenPanels    = []string{"calls", "depts", "notice"}
)

// MinContrast is the least text/background contrast ratio the palette
// may have (WCAG 2 AA for normal text).
const MinContrast = 4.5

func (s *Screen) applyDefaults() {
	d := DefaultScreen
	if len(s.Languages) == 0 {
		s.Languages = append([]string(nil), d.Languages...)
	}
	if len(s.Panels) == 0 {
		s.Panels = append([]string(nil), d.Panels...)
	}
	if s.LastCalls == 0 {
		s.LastCalls = d.LastCalls
	}
	if s.PageSeconds == 0 {
		s.PageSeconds = d.PageSeconds
	}
	c, dc := &s.Colours, d.Colours
	for _, f := range []struct {
		v   *string
		def string
	}{
		{&c.Background, dc.Background}, {&c.Panel, dc.Panel}, {&c.Text, dc.Text}, {&c.Accent, dc.Accent},
		{&c.Header, dc.Header}, {&c.HeaderText, dc.HeaderText}, {&c.Ticker, dc.Ticker}, {&c.TickerText, dc.TickerText},
	} {
		if *f.v == "" {
			*f.v = f.def
		}
	}
}

// Has reports whether the screen shows panel p.
func (s Screen) Has(p string) bool {
	for _, x := range s.Panels {
		if x == p {
			return true
		}
	}
	return false
}

var hexColour = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// ParseColour reads "#rrggbb" or "#rgb" into 0–255 channels.
func ParseColour(s string) (r, g, b uint8, ok bool) {
	if !hexColour.MatchString(s) {
		return 0, 0, 0, false
	}
	h := s[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, 0, 0, false
	}
	return uint8(v >> 16), uint8(v >> 8), uint8(v), true
}

// Contrast is the WCAG 2 contrast ratio of two colours (1–21), or 0 when
// either is not a colour.
func Contrast(a, b string) float64 {
	la, ok1 := luminance(a)
	lb, ok2 := luminance(b)
	if !ok1 || !ok2 {
		return 0
	}
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(s string) (float64, bool) {
	r, g, b, ok := ParseColour(s)
	if !ok {
		return 0, false
	}
	ch := func(v uint8) float64 {
		c := float64(v) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(r) + 0.7152*ch(g) + 0.0722*ch(b), true
}

// screenProblems checks the `screen:` section.
func (c *Config) screenProblems(add func(key, format string, args ...any)) {
	s := c.Screen
	if n := utf8.RuneCountInString(s.Title); n > 40 {
		add("screen.title", "%d characters; the title bar fits at most 40", n)
	}
	checkList := func(key string, l, allowed []string) {
		seen := map[string]bool{}
		for i, x := range l {
			k := fmt.Sprintf("%s[%d]", key, i)
			ok := false
			for _, a := range allowed {
				ok = ok || a == x
			}
			switch {
			case !ok:
				add(k, "unknown value %q (%s)", x, strings.Join(allowed, ", "))
			case seen[x]:
				add(k, "%q is listed twice", x)
			}
			seen[x] = true
		}
	}
	checkList("screen.languages", s.Languages, ScreenLanguages)
	checkList("screen.panels", s.Panels, ScreenPanels)
	if !s.Has("calls") && !s.Has("depts") {
		add("screen.panels", "shows neither calls nor depts: the screen would be empty")
	}
	if s.LastCalls < 1 || s.LastCalls > 20 {
		add("screen.last_calls", "%d must be 1 to 20", s.LastCalls)
	}
	if s.PageSeconds < 3 || s.PageSeconds > 300 {
		add("screen.page_seconds", "%d must be 3 to 300 (seconds a page of departments stays)", s.PageSeconds)
	}
	if s.DeptsPerPage < 0 || s.DeptsPerPage > 50 {
		add("screen.depts_per_page", "%d must be 0 (as many as fit) to 50", s.DeptsPerPage)
	}
	col := s.Colours
	named := []struct{ key, v string }{
		{"background", col.Background}, {"panel", col.Panel}, {"text", col.Text}, {"accent", col.Accent},
		{"header", col.Header}, {"header_text", col.HeaderText}, {"ticker", col.Ticker}, {"ticker_text", col.TickerText},
	}
	bad := map[string]bool{}
	for _, n := range named {
		if _, _, _, ok := ParseColour(n.v); !ok {
			add("screen.colours."+n.key, "%q is not a colour: write #rrggbb or #rgb (hex)", n.v)
			bad[n.key] = true
		}
	}
	for _, p := range []struct{ fg, fgv, bg, bgv string }{
		{"text", col.Text, "background", col.Background},
		{"text", col.Text, "panel", col.Panel},
		{"accent", col.Accent, "panel", col.Panel},
		{"accent", col.Accent, "background", col.Background},
		{"header_text", col.HeaderText, "header", col.Header},
		{"ticker_text", col.TickerText, "ticker", col.Ticker},
	} {
		if bad[p.fg] || bad[p.bg] {
			continue
		}
		if r := Contrast(p.fgv, p.bgv); r < MinContrast {
			add("screen.colours."+p.fg, "%s %s on %s %s has contrast %.2f:1; it needs at least %.1f:1 (WCAG AA)",
				p.fg, p.fgv, p.bg, p.bgv, math.Floor(r*100)/100, MinContrast)
		}
	}
}
