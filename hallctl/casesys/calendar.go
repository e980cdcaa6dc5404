package casesys

import (
	"fmt"
	"time"
)

// Calendar says which days are working days: Monday to Friday, except
// listed holidays, plus listed make-up working days (调休). Days are civil
// dates; callers convert instants with the hall's time zone first.
//
// The official schedule of each year the binary ships (holidays/cn-*.yaml,
// calendar_shipped.go) comes first; the hall config's `holidays:` list
// overrides it per date. A year is covered when it has a shipped schedule
// or the hall lists at least one date in it (Covered, Uncovered).
type Calendar struct {
	off   map[civil]bool
	work  map[civil]bool
	years map[int]bool // covered years
}

type civil struct {
	y int
	m time.Month
	d int
}

func civilOf(t time.Time) civil { y, m, d := t.Date(); return civil{y, m, d} }

func (c civil) time() time.Time { return time.Date(c.y, c.m, c.d, 0, 0, 0, 0, time.UTC) }

// DateLayout is the layout of dates in the config and in case records.
const DateLayout = "2006-01-02"

// NewCalendar builds a calendar from the shipped official schedules and
// the hall config's `holidays:` list; a date the hall lists overrides the
// shipped entry for that date (work: true cancels a shipped holiday, an
// entry without it cancels a shipped make-up day). A date the hall lists
// twice, or both off and on, is an error.
func NewCalendar(days []Holiday) (*Calendar, error) {
	sh, err := Shipped()
	if err != nil {
		return nil, err
	}
	return newCalendar(sh, days)
}

// newCalendar builds a calendar from shipped schedules (year → days) and
// the hall's list.
func newCalendar(shipped map[int][]Holiday, days []Holiday) (*Calendar, error) {
	c := &Calendar{off: map[civil]bool{}, work: map[civil]bool{}, years: map[int]bool{}}
	for y, hs := range shipped {
		c.years[y] = true
		for _, h := range hs {
			t, err := time.Parse(DateLayout, h.Date)
			if err != nil {
				return nil, fmt.Errorf("shipped calendar %d: %q is not YYYY-MM-DD", y, h.Date)
			}
			c.set(civilOf(t), h.Work)
		}
	}
	var ps []string
	seen := map[civil]bool{}
	for i, h := range days {
		t, err := time.Parse(DateLayout, h.Date)
		if err != nil {
			ps = append(ps, fmt.Sprintf("holidays[%d].date: %q is not YYYY-MM-DD", i, h.Date))
			continue
		}
		d := civilOf(t)
		if seen[d] {
			ps = append(ps, fmt.Sprintf("holidays[%d].date: %s is listed twice", i, h.Date))
			continue
		}
		seen[d] = true
		c.years[d.y] = true
		c.set(d, h.Work)
	}
	if len(ps) > 0 {
		return nil, &ConfigError{Problems: ps}
	}
	return c, nil
}

// set makes d a working day (work) or a day off, replacing what it was.
func (c *Calendar) set(d civil, work bool) {
	delete(c.off, d)
	delete(c.work, d)
	if work {
		c.work[d] = true
	} else {
		c.off[d] = true
	}
}

// Covered reports whether year has a schedule: shipped, or at least one
// date of it in the hall's list.
func (c *Calendar) Covered(year int) bool { return c != nil && c.years[year] }

// Uncovered lists the months, as YYYY-MM, of the current month of t and
// the next that fall in a year with no schedule: their holidays would be
// counted as working days. Empty when both are covered.
func (c *Calendar) Uncovered(t time.Time) []string {
	y, m, _ := t.Date()
	cur := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	var out []string
	for _, d := range []time.Time{cur, cur.AddDate(0, 1, 0)} {
		if !c.Covered(d.Year()) {
			out = append(out, d.Format("2006-01"))
		}
	}
	return out
}

// IsWorkday reports whether the civil date of t (its Y-M-D as given; use
// t.In(loc) first) is a working day.
func (c *Calendar) IsWorkday(t time.Time) bool {
	d := civilOf(t)
	if c != nil {
		if c.work[d] {
			return true
		}
		if c.off[d] {
			return false
		}
	}
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// AddWorkdays returns the civil date n working days after the date of t
// (n ≤ 0: the date itself). Acceptance day is day 0, so a 承诺件 accepted on
// a Friday with promise_days 1 is due the next working day. The result is
// midnight UTC of that civil date; format it with DateLayout.
func (c *Calendar) AddWorkdays(t time.Time, n int) time.Time {
	d := civilOf(t).time()
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if c.IsWorkday(d) {
			n--
		}
	}
	return d
}

// WorkdaysBetween counts working days after from's date up to and
// including to's date (negative when to is before from). Used for "due
// within N working days".
func (c *Calendar) WorkdaysBetween(from, to time.Time) int {
	a, b := civilOf(from).time(), civilOf(to).time()
	sign := 1
	if b.Before(a) {
		a, b, sign = b, a, -1
	}
	n := 0
	for d := a.AddDate(0, 0, 1); !d.After(b); d = d.AddDate(0, 0, 1) {
		if c.IsWorkday(d) {
			n++
		}
	}
	return sign * n
}
