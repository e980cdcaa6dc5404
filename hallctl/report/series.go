package report

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
)

// This file is the time series the manager console's charts draw: one day
// hour by hour (waiting and wait time per department, window utilisation,
// arrivals against the what-if preview's forecast) and satisfaction day by
// day over a range. Everything is in the hall's time zone and folded from
// the event log, with the live console's definitions:
//
//   - waiting: a ticket waits in its item's line from issue (or a no-show's
//     requeue, or a transfer to an item) until it is called or cancelled —
//     the manager table's 等候 column; tickets transferred to a window are
//     in that window's list, not in an item line, and not counted;
//   - wait: issue → first call, counted in the hour of the call, for the
//     department of the item it was called for;
//   - utilisation: a window's busy time (call → finished, no-show or
//     transfer) over its open time (opened/resumed → closed/paused) in the
//     hour — the table's 利用率, hour by hour;
//   - forecast: the tickets per hour that the what-if preview would have
//     forecast at the start of the hour (ctl.ObservedRates: tickets issued
//     since the hall opened over the hours since it opened, at least one);
//     for the hour of now and later ones, the rate observed now;
//   - satisfaction: ratings 4 and 5 over all ratings of the tickets issued
//     that day, as in Compute.

// SeriesOpts choose the chart data.
type SeriesOpts struct {
	Day      string    // local date of the hour-by-hour charts (YYYY-MM-DD)
	From, To string    // the satisfaction trend's days, inclusive
	Now      time.Time // the hall's clock: hours after it have no figures yet
}

// Series is the manager console's chart data. Values that do not exist
// (an hour after now, a window that was not open, an hour in which nobody
// was called, a day without ratings) are null.
type Series struct {
	Day      string            `json:"day"`
	Zone     string            `json:"zone"`  // the hall's IANA time zone
	Hours    []int             `json:"hours"` // the hour of day each bucket starts at
	Depts    []DeptSeries      `json:"depts"`
	Windows  []WindowSeries    `json:"windows"`
	Arrivals []*float64        `json:"arrivals"` // tickets issued in the hour
	Forecast []*float64        `json:"forecast"` // tickets forecast for the hour
	Trend    []DaySatisfaction `json:"trend"`
}

// DeptSeries is one department's hours.
type DeptSeries struct {
	Code      string     `json:"code"`
	Name      string     `json:"name"`
	Waiting   []*float64 `json:"waiting"`     // mean number waiting over the hour
	WaitMeanS []*float64 `json:"wait_mean_s"` // mean wait of the tickets first called in the hour
	Called    []int      `json:"called"`      // tickets first called in the hour
}

// WindowSeries is one window's hours.
type WindowSeries struct {
	Number int        `json:"number"`
	Util   []*float64 `json:"util"` // busy over open time in the hour, 0…1
}

// DaySatisfaction is one day of the trend.
type DaySatisfaction struct {
	Day          string   `json:"day"`
	Ratings      [5]int   `json:"ratings"`      // count of levels 1…5
	Satisfaction *float64 `json:"satisfaction"` // share of 4 and 5
	MeanLevel    *float64 `json:"mean_level"`
}

// MaxTrendDays bounds the satisfaction trend.
const MaxTrendDays = 366

type span struct{ a, b time.Time }

type seriesTicket struct {
	item    string
	waiting bool
	since   time.Time
	called  bool
}

// firstCall is a ticket's first call and its wait in seconds.
type firstCall struct {
	at time.Time
	s  float64
}

type seriesWin struct {
	openSince, busySince time.Time
	open, busy           []span
}

// SeriesFolder folds the event log (records in seq order) into a Series.
type SeriesFolder struct {
	hall    *config.Config
	led     *casesys.Ledger
	tickets map[int64]*seriesTicket
	waits   map[string][]span      // department → waiting intervals
	called  map[string][]firstCall // department → first calls
	wins    map[int]*seriesWin
	issued  []time.Time
	Skipped int
}

// NewSeriesFolder starts an empty fold for the hall.
func NewSeriesFolder(hall *config.Config) *SeriesFolder {
	return &SeriesFolder{hall: hall, led: casesys.NewLedger(hall), tickets: map[int64]*seriesTicket{},
		waits: map[string][]span{}, called: map[string][]firstCall{}, wins: map[int]*seriesWin{}}
}

func (f *SeriesFolder) dept(item string) string {
	if it := f.hall.Item(item); it != nil {
		return it.Dept
	}
	return "-"
}

func (f *SeriesFolder) win(n int) *seriesWin {
	w := f.wins[n]
	if w == nil {
		w = &seriesWin{}
		f.wins[n] = w
	}
	return w
}

func (f *SeriesFolder) stopWaiting(t *seriesTicket, at time.Time) {
	if t.waiting {
		d := f.dept(t.item)
		f.waits[d] = append(f.waits[d], span{t.since, at})
		t.waiting = false
	}
}

func (f *SeriesFolder) endBusy(n int, at time.Time) {
	w := f.win(n)
	if !w.busySince.IsZero() {
		w.busy = append(w.busy, span{w.busySince, at})
		w.busySince = time.Time{}
	}
}

// Apply folds one record in.
func (f *SeriesFolder) Apply(r store.Record) {
	f.led.Apply(r)
	if r.Stream != casesys.QueueStream {
		return
	}
	q, err := queue.UnmarshalEvent(r.Data)
	if err != nil {
		f.Skipped++
		return
	}
	at := q.At
	switch q.Type {
	case queue.EvWindowOpened, queue.EvWindowResumed:
		if w := f.win(q.Window); w.openSince.IsZero() {
			w.openSince = at
		}
		return
	case queue.EvWindowClosed, queue.EvWindowPaused:
		if w := f.win(q.Window); !w.openSince.IsZero() {
			w.open = append(w.open, span{w.openSince, at})
			w.openSince = time.Time{}
		}
		return
	}
	if q.Ticket == 0 {
		return
	}
	if q.Type == queue.EvIssued {
		if f.tickets[q.Ticket] == nil {
			f.tickets[q.Ticket] = &seriesTicket{item: q.Item, waiting: true, since: at}
			f.issued = append(f.issued, at)
		}
		return
	}
	t := f.tickets[q.Ticket]
	if t == nil {
		return
	}
	switch q.Type {
	case queue.EvCalled:
		f.stopWaiting(t, at)
		if !t.called {
			t.called = true
			d := f.dept(t.item)
			if lt := f.led.Tickets[q.Ticket]; lt != nil {
				f.called[d] = append(f.called[d], firstCall{at, lt.WaitS()})
			}
		}
		if w := f.win(q.Window); w.busySince.IsZero() {
			w.busySince = at
		}
	case queue.EvNoShow:
		f.endBusy(q.Window, at)
		if !q.Void {
			t.waiting, t.since = true, at
		}
	case queue.EvFinished:
		f.endBusy(q.Window, at)
	case queue.EvTransferred:
		if q.Window != 0 {
			f.endBusy(q.Window, at)
		}
		f.stopWaiting(t, at)
		if q.ToItem != "" {
			t.item = q.ToItem
		}
		if q.ToWindow == 0 {
			t.waiting, t.since = true, at
		}
	case queue.EvCancelled:
		f.stopWaiting(t, at)
	}
}

// overlap is the seconds of [a, b) inside [hs, he).
func overlap(a, b, hs, he time.Time) float64 {
	if a.Before(hs) {
		a = hs
	}
	if b.After(he) {
		b = he
	}
	if !b.After(a) {
		return 0
	}
	return b.Sub(a).Seconds()
}

func fp(x float64) *float64 { return &x }

// Series computes the chart data from what has been folded.
func (f *SeriesFolder) Series(o SeriesOpts) (Series, error) {
	loc := time.UTC
	if f.hall != nil && f.hall.Loc != nil {
		loc = f.hall.Loc
	}
	day, err := time.ParseInLocation(casesys.DateLayout, o.Day, loc)
	if err != nil {
		return Series{}, fmt.Errorf("%w: day %q is not YYYY-MM-DD", ErrBadOpts, o.Day)
	}
	from, err := time.Parse(casesys.DateLayout, o.From)
	if err != nil {
		return Series{}, fmt.Errorf("%w: from %q is not YYYY-MM-DD", ErrBadOpts, o.From)
	}
	to, err := time.Parse(casesys.DateLayout, o.To)
	if err != nil {
		return Series{}, fmt.Errorf("%w: to %q is not YYYY-MM-DD", ErrBadOpts, o.To)
	}
	if to.Before(from) {
		return Series{}, fmt.Errorf("%w: to is before from", ErrBadOpts)
	}
	if to.Sub(from) >= MaxTrendDays*24*time.Hour {
		return Series{}, fmt.Errorf("%w: at most %d days", ErrBadOpts, MaxTrendDays)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	s := Series{Day: o.Day, Zone: loc.String(), Depts: []DeptSeries{}, Windows: []WindowSeries{}, Trend: []DaySatisfaction{}}

	// The hours: the hall's opening hours, widened to any hour with a
	// ticket issued or called.
	dayStart := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	dayEnd := dayStart.AddDate(0, 0, 1)
	lo, hi := 8, 18
	if f.hall != nil {
		if m := f.hall.Hall.Hours.OpenMin(); m >= 0 {
			lo = m / 60
		}
		if m := f.hall.Hall.Hours.CloseMin(); m >= 0 {
			hi = (m + 59) / 60
		}
	}
	widen := func(t time.Time) {
		if !t.Before(dayStart) && t.Before(dayEnd) {
			h := t.In(loc).Hour()
			lo, hi = min(lo, h), max(hi, h+1)
		}
	}
	for _, t := range f.issued {
		widen(t)
	}
	for _, cs := range f.called {
		for _, c := range cs {
			widen(c.at)
		}
	}
	hi = max(hi, lo+1)
	type bucket struct{ hs, he time.Time }
	var bs []bucket
	for h := lo; h < hi; h++ {
		hs := time.Date(day.Year(), day.Month(), day.Day(), h, 0, 0, 0, loc)
		bs = append(bs, bucket{hs, hs.Add(time.Hour)})
		s.Hours = append(s.Hours, h)
	}
	// The part of a bucket that has happened (nothing after now).
	past := func(b bucket) (time.Time, bool) {
		if !now.After(b.hs) {
			return b.he, false
		}
		if now.Before(b.he) {
			return now, true
		}
		return b.he, true
	}

	// Open intervals run to now.
	closeAt := func(xs []span, since time.Time) []span {
		if since.IsZero() || !now.After(since) {
			return xs
		}
		return append(append([]span(nil), xs...), span{since, now})
	}
	stillWaiting := map[string][]span{}
	for _, t := range f.tickets {
		if t.waiting && now.After(t.since) {
			d := f.dept(t.item)
			stillWaiting[d] = append(stillWaiting[d], span{t.since, now})
		}
	}
	depts := []struct{ code, name string }{}
	if f.hall != nil {
		for _, d := range f.hall.Departments {
			depts = append(depts, struct{ code, name string }{d.Code, d.Name})
		}
	}
	for _, d := range depts {
		ds := DeptSeries{Code: d.code, Name: d.name}
		spans := append(append([]span(nil), f.waits[d.code]...), stillWaiting[d.code]...)
		for _, b := range bs {
			end, ok := past(b)
			if !ok {
				ds.Waiting, ds.WaitMeanS, ds.Called = append(ds.Waiting, nil), append(ds.WaitMeanS, nil), append(ds.Called, 0)
				continue
			}
			area := 0.0
			for _, sp := range spans {
				area += overlap(sp.a, sp.b, b.hs, end)
			}
			ds.Waiting = append(ds.Waiting, fp(area/end.Sub(b.hs).Seconds()))
			n, sum := 0, 0.0
			for _, c := range f.called[d.code] {
				if !c.at.Before(b.hs) && c.at.Before(b.he) {
					n++
					sum += c.s
				}
			}
			ds.Called = append(ds.Called, n)
			if n == 0 {
				ds.WaitMeanS = append(ds.WaitMeanS, nil)
			} else {
				ds.WaitMeanS = append(ds.WaitMeanS, fp(sum/float64(n)))
			}
		}
		s.Depts = append(s.Depts, ds)
	}

	var nums []int
	if f.hall != nil {
		for _, w := range f.hall.Windows {
			nums = append(nums, w.Number)
		}
	}
	sort.Ints(nums)
	for _, n := range nums {
		ws := WindowSeries{Number: n}
		w := f.wins[n]
		if w == nil {
			w = &seriesWin{}
		}
		open, busy := closeAt(w.open, w.openSince), closeAt(w.busy, w.busySince)
		for _, b := range bs {
			end, ok := past(b)
			o, bu := 0.0, 0.0
			if ok {
				for _, sp := range open {
					o += overlap(sp.a, sp.b, b.hs, end)
				}
				for _, sp := range busy {
					bu += overlap(sp.a, sp.b, b.hs, end)
				}
			}
			if o <= 0 {
				ws.Util = append(ws.Util, nil)
			} else {
				ws.Util = append(ws.Util, fp(math.Min(1, bu/o)))
			}
		}
		s.Windows = append(s.Windows, ws)
	}

	// Arrivals and the preview's forecast (ctl.ObservedRates).
	open := 0
	if f.hall != nil && f.hall.Hall.Hours.OpenMin() >= 0 {
		open = f.hall.Hall.Hours.OpenMin()
	}
	hallOpen := time.Date(day.Year(), day.Month(), day.Day(), open/60, open%60, 0, 0, loc)
	rateAt := func(t time.Time) float64 {
		n := 0
		for _, at := range f.issued {
			if !at.Before(dayStart) && at.Before(t) {
				n++
			}
		}
		return float64(n) / math.Max(1, t.Sub(hallOpen).Hours())
	}
	nowRate := rateAt(now)
	for _, b := range bs {
		if _, ok := past(b); !ok {
			s.Arrivals = append(s.Arrivals, nil)
			s.Forecast = append(s.Forecast, fp(nowRate))
			continue
		}
		n := 0
		for _, at := range f.issued {
			if !at.Before(b.hs) && at.Before(b.he) {
				n++
			}
		}
		s.Arrivals = append(s.Arrivals, fp(float64(n)))
		if now.Before(b.he) { // the hour of now
			s.Forecast = append(s.Forecast, fp(nowRate))
		} else {
			s.Forecast = append(s.Forecast, fp(rateAt(b.hs)))
		}
	}

	// Satisfaction by day of issue.
	byDay := map[string]*DaySatisfaction{}
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		k := d.Format(casesys.DateLayout)
		s.Trend = append(s.Trend, DaySatisfaction{Day: k})
	}
	for i := range s.Trend {
		byDay[s.Trend[i].Day] = &s.Trend[i]
	}
	for _, id := range f.led.Order {
		t := f.led.Tickets[id]
		if ds := byDay[t.Day]; ds != nil && t.Rating >= 1 && t.Rating <= 5 {
			ds.Ratings[t.Rating-1]++
		}
	}
	for i := range s.Trend {
		ds := &s.Trend[i]
		n, sum := 0, 0
		for l, c := range ds.Ratings {
			n += c
			sum += (l + 1) * c
		}
		if n > 0 {
			ds.Satisfaction = fp(float64(ds.Ratings[3]+ds.Ratings[4]) / float64(n))
			ds.MeanLevel = fp(float64(sum) / float64(n))
		}
	}
	return s, nil
}
