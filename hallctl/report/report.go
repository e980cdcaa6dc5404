// Package report computes hall statistics from the event log: per day,
// week or month and per department, item, window or clerk — tickets,
// served, no-shows, mean and P90 wait, mean service time, on-time and
// early completion rates (按期办结率, 提前办结率) and the satisfaction
// distribution — and writes them as CSV or XLSX. It reads the log through
// casesys.Ledger, so the figures agree with the log ticket by ticket.
package report

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
)

// Opts choose a report.
type Opts struct {
	From, To string // local dates YYYY-MM-DD, inclusive (by issue day)
	Period   string // day | week | month
	By       string // department | item | window | clerk
}

// ErrBadOpts is returned for report options that cannot be used.
var ErrBadOpts = errors.New("bad report options")

// Row is one period × group line.
type Row struct {
	Period    string // 2026-11-21, 2026-W47 (ISO week) or 2026-11
	Group     string // department code, item code, window number or clerk
	GroupName string
	Tickets   int // issued in the period
	Served    int // finished
	NoShows   int // whose last queue event was a no-show
	Waits     int // tickets called (those with a wait)
	MeanWaitS float64
	P90WaitS  float64
	MeanSvcS  float64 // over served tickets
	// Promised cases accepted from these tickets and completed (办结).
	Completed int
	OnTime    int // completed on or before the due date
	Early     int // completed before the due date
	Ratings   [5]int
	// Rates are the counts of 好评率, 差评率, 差评整改率, 实名差评回访整改率,
	// 按期办结率 (over cases due in the range) and 平均评价 (rates.go).
	Rates
}

// OnTimeRate is OnTime/Completed (NaN when nothing completed).
func (r Row) OnTimeRate() float64 { return ratio(r.OnTime, r.Completed) }

// EarlyRate is Early/Completed (NaN when nothing completed).
func (r Row) EarlyRate() float64 { return ratio(r.Early, r.Completed) }

// Satisfaction is the share of ratings 4 and 5 (NaN when none).
func (r Row) Satisfaction() float64 {
	n := 0
	for _, v := range r.Ratings {
		n += v
	}
	return ratio(r.Ratings[3]+r.Ratings[4], n)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

type acc struct {
	Row
	waits []float64
	svc   []float64
}

// Compute builds the report from a ledger that has read the log.
// A ticket counts in the period of its issue day. Department and item
// are those it was issued for; window and clerk are those that last
// called it (tickets never called are in the group "-"). Completion
// rates count promised cases (承诺件) completed by a case status
// (approved, rejected, ready_for_pickup) by completion day ≤ due date
// (on time) or < due date (early); immediate cases are not in them.
func Compute(l *casesys.Ledger, hall *config.Config, o Opts) ([]Row, error) {
	from, err := time.Parse(casesys.DateLayout, o.From)
	if err != nil {
		return nil, fmt.Errorf("%w: from %q is not YYYY-MM-DD", ErrBadOpts, o.From)
	}
	to, err := time.Parse(casesys.DateLayout, o.To)
	if err != nil {
		return nil, fmt.Errorf("%w: to %q is not YYYY-MM-DD", ErrBadOpts, o.To)
	}
	if to.Before(from) {
		return nil, fmt.Errorf("%w: to is before from", ErrBadOpts)
	}
	switch o.Period {
	case "day", "week", "month":
	default:
		return nil, fmt.Errorf("%w: period %q (day, week, month)", ErrBadOpts, o.Period)
	}
	switch o.By {
	case "department", "item", "window", "clerk":
	default:
		return nil, fmt.Errorf("%w: by %q (department, item, window, clerk)", ErrBadOpts, o.By)
	}
	loc := time.UTC
	if hall != nil && hall.Loc != nil {
		loc = hall.Loc
	}
	caseOf := map[int64]*casesys.LedgerCase{}
	for _, c := range l.Cases {
		caseOf[c.Ticket] = c
	}
	ratingOf := map[int64]*casesys.LedgerRating{}
	for i := range l.Ratings {
		ratingOf[l.Ratings[i].Ticket] = &l.Ratings[i]
	}
	rows := map[[2]string]*acc{}
	row := func(key [2]string) *acc {
		a := rows[key]
		if a == nil {
			a = &acc{Row: Row{Period: key[0], Group: key[1], GroupName: groupName(hall, o.By, key[1])}}
			rows[key] = a
		}
		return a
	}
	addDue(l, hall, o, from, to, loc, row)
	for _, id := range l.Order {
		t := l.Tickets[id]
		day, err := time.Parse(casesys.DateLayout, t.Day)
		if err != nil || day.Before(from) || day.After(to) {
			continue
		}
		a := row([2]string{periodOf(day, o.Period), groupOf(t, hall, o.By)})
		a.Tickets++
		if w := t.WaitS(); w >= 0 {
			a.waits = append(a.waits, w)
		}
		switch t.State {
		case casesys.TicketFinished:
			a.Served++
			if s := t.ServiceS(); s >= 0 {
				a.svc = append(a.svc, s)
			}
		case casesys.TicketNoShow:
			a.NoShows++
		}
		if t.Rating >= 1 && t.Rating <= 5 {
			a.Ratings[t.Rating-1]++
		}
		a.addRating(l, t, ratingOf[t.ID])
		if c := caseOf[t.ID]; c != nil && c.Due != "" && !c.CompletedAt.IsZero() {
			due, err := time.Parse(casesys.DateLayout, c.Due)
			if err == nil {
				cl := c.CompletedAt.In(loc)
				done := time.Date(cl.Year(), cl.Month(), cl.Day(), 0, 0, 0, 0, time.UTC)
				a.Completed++
				if !done.After(due) {
					a.OnTime++
				}
				if done.Before(due) {
					a.Early++
				}
			}
		}
	}
	out := make([]Row, 0, len(rows))
	for _, a := range rows {
		a.Waits = len(a.waits)
		a.MeanWaitS = mean(a.waits)
		a.P90WaitS = P90(a.waits)
		a.MeanSvcS = mean(a.svc)
		out = append(out, a.Row)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Period != out[j].Period {
			return out[i].Period < out[j].Period
		}
		return groupLess(out[i].Group, out[j].Group)
	})
	return out, nil
}

func groupLess(a, b string) bool {
	if (a == "-") != (b == "-") {
		return b == "-" // the unassigned group last
	}
	var x, y int
	if _, err := fmt.Sscan(a, &x); err == nil {
		if _, err := fmt.Sscan(b, &y); err == nil && x != y {
			return x < y
		}
	}
	return a < b
}

func periodOf(day time.Time, p string) string {
	switch p {
	case "week":
		y, w := day.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w)
	case "month":
		return day.Format("2006-01")
	}
	return day.Format(casesys.DateLayout)
}

func groupOf(t *casesys.LedgerTicket, hall *config.Config, by string) string {
	switch by {
	case "item":
		return t.Item
	case "department":
		if hall != nil {
			if it := hall.Item(t.Item); it != nil {
				return it.Dept
			}
		}
		return "-"
	case "window":
		if t.Window == 0 {
			return "-"
		}
		return fmt.Sprint(t.Window)
	case "clerk":
		if c := t.ClerkName(); c != "" {
			return c
		}
		return "-"
	}
	return "-"
}

func groupName(hall *config.Config, by, g string) string {
	if hall == nil {
		return ""
	}
	switch by {
	case "item":
		if it := hall.Item(g); it != nil {
			return it.Name
		}
	case "department":
		for _, d := range hall.Departments {
			if d.Code == g {
				return d.Name
			}
		}
	case "window":
		if g != "-" {
			return g + "号窗口"
		}
	case "clerk":
		return hall.StaffName(g) // the staff display name (staff:), "" for others
	}
	return ""
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// P90 is the 90th percentile by the nearest-rank method: the smallest
// value with at least 90% of the values at or below it (NaN when empty).
func P90(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	k := int(math.Ceil(0.9*float64(len(s)))) - 1
	return s[max(k, 0)]
}
