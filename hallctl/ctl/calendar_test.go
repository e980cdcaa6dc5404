package ctl

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

func calendarAlerts(r *rig) []string {
	var out []string
	for _, a := range r.c.Supervision(context.Background()) {
		if a.Kind == AlertCalendar {
			out = append(out, a.Message)
		}
	}
	return out
}

// Only 2026 is shipped: the controller warns (log, gauge, manager alert)
// once the next month is 2027-01, at start and on the first check of a new
// day, on the injected clock.
func TestCalendarCoverageWarning(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	r := newRig(t, rigHall, func(o *Options) { o.Clock = clock })
	gauge := func(month string) float64 { return r.counter(r.c.calw.covered.WithLabelValues(month)) }
	if a := calendarAlerts(r); len(a) != 0 || gauge("current") != 1 || gauge("next") != 1 {
		t.Fatalf("November 2026: alerts %v, gauges %v/%v", a, gauge("current"), gauge("next"))
	}
	if strings.Contains(r.logs.String(), "holiday calendar") {
		t.Fatalf("warned in November: %s", r.logs)
	}

	clock.Advance(24 * time.Hour) // 2026-12-01
	r.c.calw.check(clock.Now())
	a := calendarAlerts(r)
	if len(a) != 1 || !strings.Contains(a[0], "2027-01") || gauge("current") != 1 || gauge("next") != 0 {
		t.Fatalf("December 2026: alerts %v, gauges %v/%v", a, gauge("current"), gauge("next"))
	}
	r.c.calw.check(clock.Now().Add(time.Hour)) // the same day: no second line
	if n := strings.Count(r.logs.String(), "holiday calendar"); n != 1 || !strings.Contains(r.logs.String(), "months=2027-01") ||
		!strings.Contains(r.logs.String(), "level=WARN") {
		t.Fatalf("%d warnings: %s", n, r.logs)
	}
}

// A controller started on 2026-12-15 warns at once; a hall that lists
// 2027's days itself does not.
func TestCalendarCoverageAtStart(t *testing.T) {
	t.Parallel()
	at := func(o *Options) { o.Clock = clockwork.NewFakeClockAt(time.Date(2026, 12, 15, 2, 0, 0, 0, time.UTC)) }
	r := newRig(t, rigHall, at)
	if a := calendarAlerts(r); len(a) != 1 || !strings.Contains(a[0], "2027-01") {
		t.Fatalf("alerts %v", a)
	}
	if !strings.Contains(r.logs.String(), "months=2027-01") {
		t.Fatalf("no warning: %s", r.logs)
	}
	own := newRig(t, rigHall+"holidays: [{date: 2027-01-01, name: 元旦}]\n", at)
	if a := calendarAlerts(own); len(a) != 0 || own.counter(own.c.calw.covered.WithLabelValues("next")) != 1 {
		t.Fatalf("with the hall's 2027 days: %v", a)
	}
}
