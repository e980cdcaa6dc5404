package casesys

import (
	"fmt"
	"time"
)

// Calendar says which days are working days: Monday to Friday, except
// listed holidays, plus listed make-up working days (调休). Days are civil
// dates; callers convert instants with the hall's time zone first.
type Calendar struct {
	off  map[civil]bool
	work map[civil]bool
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

// NewCalendar builds a calendar from the hall config's `holidays:` list.
// A date listed twice, or both off and on, is an error.
func NewCalendar(days []Holiday) (*Calendar, error) {
	c := &Calendar{off: map[civil]bool{}, work: map[civil]bool{}}
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
		if h.Work {
			c.work[d] = true
		} else {
			c.off[d] = true
		}
	}
	if len(ps) > 0 {
		return nil, &ConfigError{Problems: ps}
	}
	return c, nil
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
