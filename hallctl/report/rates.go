package report

import (
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
)

// The 好差评 and completion rates of issue 14 (docs/reports.md gives the
// definitions):
//
//   - 好评率 GoodRate = ratings 3–5 ÷ ratings; 差评率 BadRate = ratings 1–2 ÷
//     ratings; 平均评价 MeanRating = mean level. A rating whose follow-up
//     appeal was accepted (appeal_accepted) is left out of all three (it
//     stays in the 1–5 distribution, Ratings).
//   - 差评整改率 RectifyRate = 差评 whose follow-up reached closed ÷ 差评;
//     实名差评回访整改率 NamedRectifyRate = the same over the 差评 of
//     tickets taken with an ID card or with one read at the window. Accepted appeals are left out.
//   - 按期办结率 DueOnTimeRate = promised cases due in the range completed
//     on or before their due day ÷ promised cases due in the range; such
//     a case counts in the period of its due day and the group of its
//     ticket. 提前办结率 (EarlyRate) stays early ÷ completed.

// Rates are a row's counts for the issue 14 rates.
type Rates struct {
	Rated             int // ratings counted in the rates (accepted appeals left out)
	Good              int // of them 3–5
	Bad               int // of them 1–2 (差评)
	BadRectified      int // 差评 whose follow-up is closed
	NamedBad          int // 差评 of tickets taken with an ID card
	NamedBadRectified int
	LevelSum          int
	AppealsAccepted   int // 差评 left out: the clerk's appeal was accepted
	Due               int // promised cases due in the range
	DueOnTime         int // of them completed on or before the due day
}

// GoodRate is 好评率 (NaN without ratings).
func (r Row) GoodRate() float64 { return ratio(r.Good, r.Rated) }

// BadRate is 差评率 (NaN without ratings).
func (r Row) BadRate() float64 { return ratio(r.Bad, r.Rated) }

// RectifyRate is 差评整改率 (NaN without 差评).
func (r Row) RectifyRate() float64 { return ratio(r.BadRectified, r.Bad) }

// NamedRectifyRate is 实名差评回访整改率 (NaN without a named 差评).
func (r Row) NamedRectifyRate() float64 { return ratio(r.NamedBadRectified, r.NamedBad) }

// DueOnTimeRate is 按期办结率 over the cases due in the range (NaN when none).
func (r Row) DueOnTimeRate() float64 { return ratio(r.DueOnTime, r.Due) }

// MeanRating is 平均评价 (NaN without ratings).
func (r Row) MeanRating() float64 {
	if r.Rated == 0 {
		return ratio(0, 0)
	}
	return float64(r.LevelSum) / float64(r.Rated)
}

// addRating counts ticket t's rating in a.
func (a *acc) addRating(l *casesys.Ledger, t *casesys.LedgerTicket, lr *casesys.LedgerRating) {
	if t.Rating < 1 || t.Rating > 5 {
		return
	}
	level, at, named := t.Rating, t.RatedAt, false
	if lr != nil {
		named = lr.Person != ""
		if at.IsZero() {
			at = lr.At
		}
	}
	state := ""
	if level <= casesys.FollowUpLevel {
		state = casesys.FollowUpStateOf(l, t.ID, at)
		if state == casesys.FollowUpAppealAccepted {
			a.AppealsAccepted++
			return
		}
	}
	a.Rated++
	a.LevelSum += level
	if level > casesys.FollowUpLevel {
		a.Good++
		return
	}
	a.Bad++
	done := state == casesys.FollowUpClosedState
	if done {
		a.BadRectified++
	}
	if named {
		a.NamedBad++
		if done {
			a.NamedBadRectified++
		}
	}
}

// addDue counts the promised cases due from from to to (inclusive) in
// the period of their due day and their ticket's group.
func addDue(l *casesys.Ledger, hall *config.Config, o Opts, from, to time.Time, loc *time.Location, row func(key [2]string) *acc) {
	for _, c := range l.Cases {
		due, onTime, ok := CaseDue(c, loc)
		if !ok || due.Before(from) || due.After(to) {
			continue
		}
		g := "-"
		if t := l.Tickets[c.Ticket]; t != nil {
			g = groupOf(t, hall, o.By)
		}
		a := row([2]string{periodOf(due, o.Period), g})
		a.Due++
		if onTime {
			a.DueOnTime++
		}
	}
}

// CaseDue is a case's due day (a UTC midnight) and whether it was
// completed on or before it, in the hall's zone loc, as 按期办结率 counts
// it; ok is false for a case without a due day (immediate cases). An
// open case is not on time.
func CaseDue(c *casesys.LedgerCase, loc *time.Location) (due time.Time, onTime, ok bool) {
	if c.Due == "" {
		return time.Time{}, false, false
	}
	due, err := time.Parse(casesys.DateLayout, c.Due)
	if err != nil {
		return time.Time{}, false, false
	}
	if !c.CompletedAt.IsZero() {
		cl := c.CompletedAt.In(loc)
		onTime = !time.Date(cl.Year(), cl.Month(), cl.Day(), 0, 0, 0, 0, time.UTC).After(due)
	}
	return due, onTime, true
}

// TicketRates is what ticket t's rating adds to a row's Rates (lr is the
// ticket's last rating in l.Ratings, nil if none): the report's own
// count, for projections that keep one row per ticket (hallctl/city).
func TicketRates(l *casesys.Ledger, t *casesys.LedgerTicket, lr *casesys.LedgerRating) Rates {
	var a acc
	a.addRating(l, t, lr)
	return a.Rates
}

// DeptOf is the department ticket t counts in (by the item it was issued
// for), "-" when the hall does not know the item.
func DeptOf(t *casesys.LedgerTicket, hall *config.Config) string {
	return groupOf(t, hall, "department")
}
