package report

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/store"
)

// seriesHall is the report tests' hall open 09:00–12:00.
func seriesHall(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("hall.yaml", []byte(`
hall: {id: t, name: 测试大厅, timezone: Asia/Shanghai, hours: {open: "09:00", close: "12:00"}}
departments: [{code: HR, name: 人社}, {code: TAX, name: 税务}]
items:
  - {code: HR-001, name: 人才引进, dept: HR, prefix: A}
  - {code: TAX-01, name: 发票, dept: TAX, prefix: B}
windows:
  - {number: 1, dept: HR, serves: ["HR-001"]}
  - {number: 2, dept: TAX, serves: ["TAX-01"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// seriesDay is a morning whose figures are worked out by hand in
// TestSeriesHandBuiltDay.
func seriesDay() []store.Record {
	var b logb
	d, d2 := "2026-11-20", "2026-11-21"
	iss := func(id int64, item, hm, day string) {
		b.q("issued", local(day, hm), map[string]any{"ticket": id, "number": "X", "item": item, "day": day})
	}
	ev := func(typ string, id int64, w int, hm string) {
		b.q(typ, local(d, hm), map[string]any{"ticket": id, "window": w})
	}
	win := func(typ string, w int, hm string) { b.q(typ, local(d, hm), map[string]any{"window": w}) }
	win("window_opened", 1, "09:00")
	iss(1, "HR-001", "09:00", d)
	iss(2, "HR-001", "09:15", d)
	ev("called", 1, 1, "09:30")
	ev("finished", 1, 1, "09:45")
	ev("called", 2, 1, "09:45")
	b.q("no_show", local(d, "10:00"), map[string]any{"ticket": 2, "window": 1}) // requeued
	iss(3, "TAX-01", "10:00", d)
	win("window_paused", 1, "10:30")
	b.q("transferred", local(d, "10:40"), map[string]any{"ticket": 3, "to_item": "HR-001"})
	win("window_resumed", 1, "11:00")
	ev("called", 3, 1, "11:00")
	ev("finished", 3, 1, "11:30")
	b.rate(1, 5, local(d, "09:50"))
	b.rate(3, 2, local(d, "11:31"))
	iss(4, "TAX-01", "09:00", d2)
	b.rate(4, 4, local(d2, "09:10"))
	for i := range b.recs {
		b.recs[i].Seq = int64(i + 1)
	}
	return b.recs
}

func TestSeriesHandBuiltDay(t *testing.T) {
	f := NewSeriesFolder(seriesHall(t))
	for _, r := range seriesDay() {
		f.Apply(r)
	}
	s, err := f.Series(SeriesOpts{Day: "2026-11-20", From: "2026-11-19", To: "2026-11-21", Now: local("2026-11-20", "11:30")})
	if err != nil {
		t.Fatal(err)
	}
	if s.Zone != "Asia/Shanghai" || len(s.Hours) != 3 || s.Hours[0] != 9 || s.Hours[2] != 11 {
		t.Fatalf("zone %q hours %v", s.Zone, s.Hours)
	}
	const x = -1.0 // null
	eq := func(what string, got []*float64, want ...float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: %d values, want %d", what, len(got), len(want))
			return
		}
		for i, w := range want {
			switch {
			case w == x && got[i] != nil:
				t.Errorf("%s[%d] = %v, want null", what, i, *got[i])
			case w != x && (got[i] == nil || math.Abs(*got[i]-w) > 1e-9):
				t.Errorf("%s[%d] = %v, want %v", what, i, got[i], w)
			}
		}
	}
	hr, tax := s.Depts[0], s.Depts[1]
	if hr.Code != "HR" || hr.Name != "人社" || tax.Code != "TAX" {
		t.Fatalf("depts %+v", s.Depts)
	}
	// HR waits: 1 09:00–09:30, 2 09:15–09:45 and again from its no-show
	// at 10:00 on, 3 (transferred from TAX) 10:40–11:00; hour 11 has run
	// 30 minutes.
	eq("HR waiting", hr.Waiting, 1, 80.0/60, 1)
	eq("TAX waiting", tax.Waiting, 0, 40.0/60, 0)
	// Waits by the hour of the first call: 1 and 2 waited 30 min, 3 an
	// hour (issued as TAX, called as HR).
	eq("HR wait", hr.WaitMeanS, 1800, x, 3600)
	eq("TAX wait", tax.WaitMeanS, x, x, x)
	if hr.Called[0] != 2 || hr.Called[1] != 0 || hr.Called[2] != 1 {
		t.Errorf("HR called %v", hr.Called)
	}
	// Window 1: open 09:00–10:30 and 11:00 on; busy 09:30–10:00 and
	// 11:00–11:30. Window 2 never opened.
	eq("window 1", s.Windows[0].Util, 0.5, 0, 1)
	eq("window 2", s.Windows[1].Util, x, x, x)
	eq("arrivals", s.Arrivals, 2, 1, 0)
	// The preview's rate at 09:00 (nothing yet), at 10:00 (2 in the first
	// hour), and now for the running hour: 3 tickets over 2.5 h.
	eq("forecast", s.Forecast, 0, 2, 3/2.5)
	if len(s.Trend) != 3 {
		t.Fatalf("trend %+v", s.Trend)
	}
	day0, day1, day2 := s.Trend[0], s.Trend[1], s.Trend[2]
	if day0.Day != "2026-11-19" || day0.Satisfaction != nil || day0.MeanLevel != nil {
		t.Errorf("a day without ratings: %+v", day0)
	}
	if day1.Ratings != [5]int{0, 1, 0, 0, 1} || *day1.Satisfaction != 0.5 || *day1.MeanLevel != 3.5 {
		t.Errorf("2026-11-20: %+v", day1)
	}
	if day2.Ratings != [5]int{0, 0, 0, 1, 0} || *day2.Satisfaction != 1 {
		t.Errorf("2026-11-21: %+v", day2)
	}
	// Nulls stay nulls in the JSON the charts read.
	b, _ := json.Marshal(s)
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if w := back["windows"].([]any)[1].(map[string]any)["util"].([]any); w[0] != nil {
		t.Errorf("window 2 util in JSON: %v", w)
	}
}

// Hours after now have no figures; the forecast carries the rate now.
func TestSeriesBeforeTheDayEnds(t *testing.T) {
	f := NewSeriesFolder(seriesHall(t))
	for _, r := range seriesDay() {
		f.Apply(r)
	}
	s, err := f.Series(SeriesOpts{Day: "2026-11-20", From: "2026-11-20", To: "2026-11-20", Now: local("2026-11-20", "09:30")})
	if err != nil {
		t.Fatal(err)
	}
	if s.Arrivals[1] != nil || s.Depts[0].Waiting[2] != nil || s.Windows[0].Util[1] != nil {
		t.Errorf("figures after now: %+v", s)
	}
	// At 09:30: tickets 1 and 2 waiting the whole half hour and a quarter.
	if w := *s.Depts[0].Waiting[0]; math.Abs(w-(30+15)/30.0) > 1e-9 {
		t.Errorf("HR waiting 09:00–09:30 = %v", w)
	}
	if *s.Forecast[1] != 2 || *s.Forecast[2] != 2 { // 2 tickets, at least one hour
		t.Errorf("forecast %v %v", *s.Forecast[1], *s.Forecast[2])
	}
}

func TestSeriesBadOpts(t *testing.T) {
	f := NewSeriesFolder(seriesHall(t))
	now := time.Now()
	for _, o := range []SeriesOpts{
		{Day: "x", From: "2026-11-20", To: "2026-11-20", Now: now},
		{Day: "2026-11-20", From: "2026-11-21", To: "2026-11-20", Now: now},
		{Day: "2026-11-20", From: "2024-01-01", To: "2026-11-20", Now: now},
	} {
		if _, err := f.Series(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
