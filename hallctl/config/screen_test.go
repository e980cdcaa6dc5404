package config

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestScreenDefaults(t *testing.T) {
	c, err := Parse("hall.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Screen
	if s.LastCalls != 8 || s.PageSeconds != 10 || s.DeptsPerPage != 0 || strings.Join(s.Panels, ",") != "calls,depts,notice" ||
		strings.Join(s.Languages, ",") != "zh,en" || s.Colours != DefaultScreen.Colours {
		t.Errorf("defaults: %+v", s)
	}
	// The shipped palette passes its own rule.
	if r := Contrast(s.Colours.Accent, s.Colours.Panel); r < MinContrast {
		t.Errorf("default accent on panel %.2f", r)
	}
}

func TestContrast(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21}, {"#fff", "#fff", 1}, {"#777777", "#ffffff", 4.48}, {"#767676", "#fff", 4.54},
	} {
		if got := Contrast(c.a, c.b); math.Abs(got-c.want) > 0.01 {
			t.Errorf("Contrast(%s, %s) = %.3f, want %.2f", c.a, c.b, got, c.want)
		}
	}
	for _, bad := range []string{"", "fff", "#ff", "#ggg", "#12345", "#1234567", "red", "#fff "} {
		if _, _, _, ok := ParseColour(bad); ok {
			t.Errorf("ParseColour(%q) accepted", bad)
		}
	}
}

// Every screen problem is reported at once, each with its key and a
// message that says what to write.
func TestScreenValidation(t *testing.T) {
	src := good + `screen:
  title: 一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十超长
  languages: [zh, fr, zh]
  panels: [notice, clock]
  last_calls: 30
  page_seconds: 1
  depts_per_page: -1
  colours:
    background: "#808080"
    text: "#777"
    accent: yellow
    header: "#12345"
    ticker_text: "#fbc02e"
`
	_, err := Parse("hall.yaml", []byte(src))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"screen.title: 42 characters",
		`screen.languages[1]: unknown value "fr" (zh, en)`,
		`screen.languages[2]: "zh" is listed twice`,
		`screen.panels[1]: unknown value "clock" (calls, depts, notice)`,
		"screen.panels: shows neither calls nor depts",
		"screen.last_calls: 30 must be 1 to 20",
		"screen.page_seconds: 1 must be 3 to 300",
		"screen.depts_per_page: -1 must be 0",
		`screen.colours.accent: "yellow" is not a colour: write #rrggbb or #rgb`,
		`screen.colours.header: "#12345" is not a colour`,
		"screen.colours.text: text #777 on background #808080 has contrast 1.13:1; it needs at least 4.5:1",
		"screen.colours.ticker_text: ticker_text #fbc02e on ticker #fbc02d has contrast 1.00:1",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in\n%s", want, msg)
		}
	}
	for _, p := range e.Problems {
		if strings.HasPrefix(p.Key, "screen") && p.Line == 0 {
			t.Errorf("no line for %s", p)
		}
	}
	// The header text check is skipped while the header is no colour.
	if strings.Contains(msg, "header_text") {
		t.Errorf("header_text judged against a bad header:\n%s", msg)
	}
}

func TestScreenGood(t *testing.T) {
	src := good + `screen:
  title: 综合服务大厅
  languages: [zh]
  panels: [calls, depts]
  last_calls: 12
  page_seconds: 5
  colours: {background: "#ffffff", panel: "#eeeeee", text: "#111111", accent: "#8a1c1c", header: "#003366", header_text: "#fff"}
`
	c, err := Parse("hall.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Screen.LastCalls != 12 || c.Screen.Has("notice") || c.Screen.Colours.Ticker != DefaultScreen.Colours.Ticker {
		t.Errorf("%+v", c.Screen)
	}
}
