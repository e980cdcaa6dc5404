package queue

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

// TestEstimateFollowsHours: a ticket issued ten minutes before the lunch
// break waits through it; the model used to count the open window as open
// all along. HR-001 is served by window 3 (open now) and window 1 (closed
// now, in its hours after lunch). Without hours the old rule holds.
func TestEstimateFollowsHours(t *testing.T) {
	lunch := func(hours []Span) Spec {
		s := testSpec(t, nil)
		for i := range s.Windows {
			s.Windows[i].Hours = hours
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		hours []Span
		want  float64
	}{
		// 4 × 300 s of work: 600 s by window 3 before 12:00, 90 min of
		// lunch, then 600 s by windows 1 and 3 together.
		{"lunch", []Span{{540, 720}, {810, 1020}}, 600 + 90*60 + 300},
		{"no hours", nil, 1200},
		// The hall closes at 12:00: windows whose hours end then keep
		// serving (extended service), window 1 included.
		{"closing", []Span{{540, 720}}, 600 + 300},
	} {
		e, err := New(lunch(tc.hours), shanghai, DefaultOpts())
		if err != nil {
			t.Fatal(err)
		}
		must(t)(e.OpenWindow(at(11, 40), 3))
		must(t)(e.Issue(at(11, 40), IssueReq{Item: "HR-001"}))
		must(t)(e.CallNext(at(11, 40), 3)) // busy
		for i := 0; i < 3; i++ {
			must(t)(e.Issue(at(11, 45), IssueReq{Item: "HR-001"}))
		}
		ev := must(t)(e.Issue(at(11, 50), IssueReq{Item: "HR-001"}))
		if ev.Ahead != 3 || math.Abs(ev.EstMeanS-tc.want) > 1e-6 {
			t.Errorf("%s: ahead %d, mean %.1f s, want %.1f s", tc.name, ev.Ahead, ev.EstMeanS, tc.want)
		}
	}
	// Before the windows open, the wait counts from their opening.
	e, _ := New(lunch([]Span{{540, 720}, {810, 1020}}), shanghai, DefaultOpts())
	ev := must(t)(e.Issue(at(8, 50), IssueReq{Item: "HR-001"}))
	if want := 10*60 + 150.0; math.Abs(ev.EstMeanS-want) > 1e-6 {
		t.Errorf("before opening: mean %.1f s, want %.1f s", ev.EstMeanS, want)
	}
}

// TestCalibrationWindow: the range comes from the last calWindow waited
// tickets once calMin have waited (the trackers before), and forgets an
// old run of bad estimates after calWindow more.
func TestCalibrationWindow(t *testing.T) {
	c := newCalibration()
	for i := 0; i < calMin-1; i++ {
		c.observe(100, 100, 100, 200)
	}
	if q50, q90 := c.quantiles(); q50 != c.l50 || q90 != c.l90 {
		t.Errorf("before calMin: %v %v, want the trackers %v %v", q50, q90, c.l50, c.l90)
	}
	c = newCalibration()
	// 100 tickets waited 3× the mean (+A), then calWindow waited it.
	for i := 0; i < 100; i++ {
		c.observe(3*(100+calA)-calA, 100, 0, 0)
	}
	if q50, _ := c.quantiles(); math.Abs(q50-math.Log(3)) > 1e-9 {
		t.Errorf("q50 %v, want log 3", q50)
	}
	for i := 0; i < calWindow; i++ {
		c.observe(100+float64(i%10), 100, 0, 0)
	}
	q50, q90 := c.quantiles()
	if q50 < 0 || q90 > math.Log(1.1) || len(c.hist) != calWindow || len(c.sorted) != calWindow {
		t.Errorf("after a window of good estimates: q50 %v q90 %v (hist %d)", q50, q90, len(c.hist))
	}
	// The saved window restores the same quantiles and the same future.
	var r calibration
	r.restoreWindow(c.window())
	c.observe(500, 100, 0, 0)
	r.observe(500, 100, 0, 0)
	a50, a90 := c.quantiles()
	b50, b90 := r.quantiles()
	if a50 != b50 || a90 != b90 {
		t.Errorf("restored window: %v %v vs %v %v", b50, b90, a50, a90)
	}
}

// TestCalibrationSkipsCalledAtOnce: tickets called the moment they are
// issued do not move the range.
func TestCalibrationSkipsCalledAtOnce(t *testing.T) {
	e := newEngine(t, nil)
	must(t)(e.OpenWindow(at(9, 0), 2))
	for m := 0; m < 40; m++ {
		must(t)(e.Issue(at(9, m), IssueReq{Item: "TX-001"}))
		must(t)(e.CallNext(at(9, m), 2))
		must(t)(e.Finish(at(9, m), 2))
	}
	if e.cal.n != 0 || len(e.cal.hist) != 0 {
		t.Fatalf("calibration moved by %d tickets called at once", e.cal.n)
	}
	must(t)(e.Issue(at(10, 0), IssueReq{Item: "TX-001"}))
	must(t)(e.CallNext(at(10, 0), 2))
	must(t)(e.Issue(at(10, 1), IssueReq{Item: "TX-001"}))
	must(t)(e.Finish(at(10, 4), 2))
	must(t)(e.CallNext(at(10, 4), 2))
	if e.cal.n != 1 || len(e.cal.hist) != 1 {
		t.Errorf("a ticket that waited: n %d, window %d", e.cal.n, len(e.cal.hist))
	}
}

// TestIssueAfterTheLastWindowCloses: once every window that may serve an
// item has closed after its last hours, a ticket would promise a call that
// does not come today: Issue refuses it with closed_today and changes
// nothing. Before opening it issues (the windows open later today), and a
// window a manager opens after hours serves again. A number printed
// offline from a lease is taken whatever the hour, with no estimate (-1)
// that encodes as JSON and teaches the calibration nothing. Issue used to
// record +Inf, which no event log can encode: the API answered 500.
func TestIssueAfterTheLastWindowCloses(t *testing.T) {
	s := testSpec(t, nil)
	for i := range s.Windows {
		s.Windows[i].Hours = []Span{{540, 1020}} // 09:00–17:00
	}
	e, err := New(s, shanghai, DefaultOpts())
	if err != nil {
		t.Fatal(err)
	}
	if ev := must(t)(e.Issue(at(8, 30), IssueReq{Item: "HR-001"})); ev.EstMeanS != 30*60+150 {
		t.Fatalf("before opening: mean %.0f s, want %d (from 09:00, two windows)", ev.EstMeanS, 30*60+150)
	}
	l := must(t)(e.Lease(at(8, 31), "HR-001", 3, endOfDay(at(8, 31)), "k1/btn-1"))
	n := e.TicketCount()
	_, err = e.Issue(at(17, 10), IssueReq{Item: "HR-001"})
	if !errors.Is(err, ErrClosedToday) || Code(err) != "closed_today" {
		t.Fatalf("after hours: %v, want closed_today", err)
	}
	if e.TicketCount() != n {
		t.Fatalf("a refused ticket was counted: %d tickets, want %d", e.TicketCount(), n)
	}
	leased := must(t)(e.IssueLeased(at(17, 12), IssueReq{Item: "HR-001"}, Number("A", l.From), at(16, 59)))
	if leased.EstMeanS != NoEstimate || leased.EstP50S != NoEstimate || leased.EstP90S != NoEstimate {
		t.Fatalf("leased after hours: estimate %v/%v/%v, want %d", leased.EstMeanS, leased.EstP50S, leased.EstP90S, NoEstimate)
	}
	if _, err := json.Marshal(leased); err != nil {
		t.Fatalf("the event does not encode: %v", err)
	}
	must(t)(e.OpenWindow(at(17, 15), 3)) // a manager keeps one window on
	ev := must(t)(e.Issue(at(17, 15), IssueReq{Item: "HR-001"}))
	if !(Estimate{MeanS: ev.EstMeanS, P90S: ev.EstP90S}).Known() {
		t.Fatalf("with window 3 open: no estimate %+v", ev)
	}
	calls := e.cal.n
	must(t)(e.CallNext(at(17, 20), 3)) // the 08:30 ticket
	must(t)(e.Finish(at(17, 21), 3))
	must(t)(e.CallNext(at(17, 22), 3)) // the leased one: shown no estimate
	if e.cal.n != calls+1 {
		t.Fatalf("calibration saw %d tickets, want 1 (the leased ticket had no estimate)", e.cal.n-calls)
	}
}
