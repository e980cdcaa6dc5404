package web

import "github.com/servicehall/servicehall/hallctl/config"

// ScreenLayout is the hall screen's signage settings from the hall
// config's `screen:` section (docs/config.md), served in GET
// /api/v1/screen: public display settings only, no secrets.
type ScreenLayout struct {
	Title        string        `json:"title"`
	Languages    []string      `json:"languages"`
	Panels       []string      `json:"panels"`
	LastCalls    int           `json:"last_calls"`
	PageSeconds  int           `json:"page_seconds"`
	DeptsPerPage int           `json:"depts_per_page"` // 0: as many as fit
	Colours      ScreenColours `json:"colours"`
	Timezone     string        `json:"timezone"` // the hall's, for the clock
}

// ScreenColours is the screen's palette ("#rrggbb" or "#rgb").
type ScreenColours struct {
	Background string `json:"background"`
	Panel      string `json:"panel"`
	Text       string `json:"text"`
	Accent     string `json:"accent"`
	Header     string `json:"header"`
	HeaderText string `json:"header_text"`
	Ticker     string `json:"ticker"`
	TickerText string `json:"ticker_text"`
}

func screenLayout(cfg *config.Config) ScreenLayout {
	s := cfg.Screen
	title := s.Title
	if title == "" {
		title = cfg.Hall.Name
	}
	c := s.Colours
	return ScreenLayout{
		Title: title, Languages: s.Languages, Panels: s.Panels, LastCalls: s.LastCalls,
		PageSeconds: s.PageSeconds, DeptsPerPage: s.DeptsPerPage, Timezone: cfg.Hall.Timezone,
		Colours: ScreenColours{Background: c.Background, Panel: c.Panel, Text: c.Text, Accent: c.Accent,
			Header: c.Header, HeaderText: c.HeaderText, Ticker: c.Ticker, TickerText: c.TickerText},
	}
}
