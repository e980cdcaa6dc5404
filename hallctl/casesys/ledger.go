package casesys

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/store"
)

// Ticket states in the Ledger.
const (
	TicketWaiting   = "waiting"
	TicketCalled    = "called"
	TicketServing   = "serving"
	TicketFinished  = "finished"
	TicketNoShow    = "no_show" // its last queue event was a no-show
	TicketCancelled = "cancelled"
)

// LedgerTicket is one ticket's life as folded from the log.
type LedgerTicket struct {
	ID     int64
	Number string
	Day    string // local day of issue, YYYY-MM-DD
	Item   string // the item it was issued for
	Final  string // the item after transfers
	Class  string
	State  string

	IssuedAt, FirstCalledAt, LastCalledAt, StartedAt, FinishedAt time.Time

	Window  int    // the window that last called it
	Clerk   string // the clerk signed in at that window when it called; "" if none
	Calls   int    // called events (not recalls)
	NoShows int
	Serial  string
	Rating  int // 0 = not rated
	RatedAt time.Time

	// Requeued: its last no-show put it back in line (not void); it is
	// waiting again though its State stays no_show for reports.
	Requeued bool `json:",omitempty"`
	// CalledBy names the clerk of each called event, NoShowBy the clerk
	// who marked each no-show ("window N" without a clerk), in order.
	CalledBy []string `json:",omitempty"`
	NoShowBy []string `json:",omitempty"`
}

// InLine reports whether the ticket is waiting to be called: never called
// yet, transferred, or requeued after a no-show.
func (t *LedgerTicket) InLine() bool {
	return t.State == TicketWaiting || (t.State == TicketNoShow && t.Requeued)
}

// ClerkName is the ticket's clerk, or "window N" when no clerk record
// names one.
func (t *LedgerTicket) ClerkName() string {
	if t.Clerk != "" {
		return t.Clerk
	}
	if t.Window == 0 {
		return ""
	}
	return "window " + strconv.Itoa(t.Window)
}

// WaitS is the wait from issue to first call in seconds (-1 if never called).
func (t *LedgerTicket) WaitS() float64 {
	if t.FirstCalledAt.IsZero() {
		return -1
	}
	return t.FirstCalledAt.Sub(t.IssuedAt).Seconds()
}

// ServiceS is the service time in seconds, from start (or the last call
// when there was no start) to finish; -1 if not finished.
func (t *LedgerTicket) ServiceS() float64 {
	if t.FinishedAt.IsZero() {
		return -1
	}
	from := t.StartedAt
	if from.IsZero() {
		from = t.LastCalledAt
	}
	if from.IsZero() {
		return -1
	}
	return t.FinishedAt.Sub(from).Seconds()
}

// LedgerWindow is a window's state as folded from the log.
type LedgerWindow struct {
	Number   int
	Paused   bool
	PausedAt time.Time
	Note     string
	Closed   bool
	Clerk    string
}

// LedgerCase is a case with the time it was completed (办结).
type LedgerCase struct {
	Case
	CompletedAt time.Time // first approved/rejected/ready_for_pickup; zero = open
}

// Ledger folds the log into what reports, supervision alerts and the
// follow-up list need: tickets, windows, clerks, cases, ratings. It is a
// pure projection: Apply records in seq order. Not safe for concurrent use.
type Ledger struct {
	hall    *config.Config
	Tickets map[int64]*LedgerTicket
	Order   []int64 // tickets in issue order
	Windows map[int]*LedgerWindow
	Cases   map[string]*LedgerCase
	// Ratings lists every rating, in log order.
	Ratings []LedgerRating
	// Closed are follow-ups closed by a manager, by ticket.
	Closed map[int64]FollowUpClosed
	// Steps are the follow-ups' workflow steps by ticket, in log order.
	Steps map[int64][]FollowUpStep
	// Skipped counts records that could not be decoded.
	Skipped int
	LastSeq int64
}

// LedgerRating is one rating.
type LedgerRating struct {
	Ticket int64
	Number string
	Item   string
	Window int
	Clerk  string
	Serial string
	Level  int
	At     time.Time
	// Channel, Reasons and Comment as given; Person is the applicant's
	// keyed hash ("" without an ID read).
	Channel string
	Reasons []string
	Comment string
	Person  string
}

// FollowUpClosed is a FollowUpStream "closed" record.
type FollowUpClosed struct {
	Ticket int64     `json:"ticket"`
	Note   string    `json:"note,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
}

// FollowUpRecord is the log record of a manager closing a follow-up.
func FollowUpRecord(c FollowUpClosed) store.Record {
	return store.Record{Stream: FollowUpStream, Type: "closed", Key: "ticket-" + strconv.FormatInt(c.Ticket, 10), At: c.At, Data: mustJSON(c)}
}

// NewLedger starts an empty ledger for a hall.
func NewLedger(hall *config.Config) *Ledger {
	return &Ledger{hall: hall, Tickets: map[int64]*LedgerTicket{}, Windows: map[int]*LedgerWindow{},
		Cases: map[string]*LedgerCase{}, Closed: map[int64]FollowUpClosed{},
		Steps: map[int64][]FollowUpStep{}}
}

func (l *Ledger) loc() *time.Location {
	if l.hall != nil && l.hall.Loc != nil {
		return l.hall.Loc
	}
	return time.UTC
}

func (l *Ledger) window(n int) *LedgerWindow {
	w := l.Windows[n]
	if w == nil {
		w = &LedgerWindow{Number: n}
		l.Windows[n] = w
	}
	return w
}

// Apply folds one record in.
func (l *Ledger) Apply(r store.Record) {
	if r.Seq > l.LastSeq {
		l.LastSeq = r.Seq
	}
	switch r.Stream {
	case QueueStream:
		var q struct {
			queueEvent
			Day   string `json:"day"`
			Class string `json:"class"`
		}
		if json.Unmarshal(r.Data, &q) != nil {
			l.Skipped++
			return
		}
		l.applyQueue(q.queueEvent, q.Day, q.Class)
	case ClerkStream:
		var s ClerkShift
		if json.Unmarshal(r.Data, &s) != nil || s.Window == 0 {
			l.Skipped++
			return
		}
		if r.Type == "signed_out" {
			s.Clerk = ""
		}
		l.window(s.Window).Clerk = s.Clerk
	case CaseStream:
		switch r.Type {
		case "accepted":
			var c Case
			if json.Unmarshal(r.Data, &c) != nil || c.Serial == "" {
				l.Skipped++
				return
			}
			l.Cases[c.Serial] = &LedgerCase{Case: c}
			if t := l.Tickets[c.Ticket]; t != nil {
				t.Serial = c.Serial
			}
		case "status":
			var ch StatusChange
			if json.Unmarshal(r.Data, &ch) != nil {
				l.Skipped++
				return
			}
			c := l.Cases[ch.Serial]
			if c == nil {
				return
			}
			c.Status, c.StatusAt = ch.Status, ch.At
			if ch.Status.Completed() && c.CompletedAt.IsZero() {
				c.CompletedAt = ch.At
			}
		}
	case RatingStream:
		var rt ratingRecord
		if json.Unmarshal(r.Data, &rt) != nil || rt.Level < 1 || rt.Level > 5 {
			l.Skipped++
			return
		}
		if rt.At.IsZero() {
			rt.At = r.At
		}
		lr := LedgerRating{Ticket: rt.Ticket, Number: rt.Number, Item: rt.Item, Window: rt.Window, Level: rt.Level, At: rt.At,
			Channel: rt.Channel, Reasons: rt.Reasons, Comment: rt.Comment, Person: rt.Person}
		if t := l.Tickets[rt.Ticket]; t != nil {
			t.Rating, t.RatedAt = rt.Level, rt.At
			if rt.Clerk != "" && t.Clerk == "" {
				t.Clerk = rt.Clerk
			}
			lr.Clerk, lr.Serial = t.ClerkName(), t.Serial
			if lr.Window == 0 {
				lr.Window = t.Window
			}
		}
		if rt.Clerk != "" {
			lr.Clerk = rt.Clerk
		}
		if lr.Serial == "" {
			lr.Serial = rt.Serial
		}
		l.Ratings = append(l.Ratings, lr)
	case FollowUpStream:
		if r.Type == "step" {
			var s FollowUpStep
			if json.Unmarshal(r.Data, &s) != nil || s.Ticket == 0 {
				l.Skipped++
				return
			}
			l.Steps[s.Ticket] = append(l.Steps[s.Ticket], s)
			return
		}
		var c FollowUpClosed
		if json.Unmarshal(r.Data, &c) != nil {
			l.Skipped++
			return
		}
		l.Closed[c.Ticket] = c
	}
}

func (l *Ledger) applyQueue(q queueEvent, day, class string) {
	at := q.At
	switch q.Type {
	case "window_paused":
		w := l.window(q.Window)
		w.Paused, w.PausedAt = true, at
		return
	case "window_resumed", "window_opened":
		w := l.window(q.Window)
		w.Paused, w.Closed = false, false
		return
	case "window_closed":
		w := l.window(q.Window)
		w.Paused, w.Closed = false, true
		return
	}
	if q.Ticket == 0 {
		return
	}
	t := l.Tickets[q.Ticket]
	if q.Type == "issued" {
		if t != nil {
			return
		}
		if day == "" {
			day = at.In(l.loc()).Format(DateLayout)
		}
		t = &LedgerTicket{ID: q.Ticket, Number: q.Number, Day: day, Item: q.Item, Final: q.Item, Class: class,
			State: TicketWaiting, IssuedAt: at}
		l.Tickets[q.Ticket] = t
		l.Order = append(l.Order, q.Ticket)
		return
	}
	if t == nil {
		return // the ticket's issue is before the records read
	}
	switch q.Type {
	case "called":
		t.Calls++
		if t.FirstCalledAt.IsZero() {
			t.FirstCalledAt = at
		}
		t.LastCalledAt = at
		t.Window = q.Window
		t.Clerk = l.window(q.Window).Clerk
		if q.Clerk != "" { // the console clerk who called it (newer logs)
			t.Clerk = q.Clerk
		}
		t.CalledBy = append(t.CalledBy, t.ClerkName())
		t.State = TicketCalled
	case "started":
		t.StartedAt = at
		if q.Window != 0 {
			t.Window = q.Window
		}
		if q.Clerk != "" { // who served it
			t.Clerk = q.Clerk
		}
		t.State = TicketServing
	case "finished":
		t.FinishedAt = at
		t.State = TicketFinished
	case "no_show":
		t.NoShows++
		t.State = TicketNoShow
		t.Requeued = !q.Void
		// The clerk who marked it: the console's, else the one signed in
		// at the window, else the window; not whoever calls it later.
		by := q.Clerk
		if by == "" && q.Window != 0 {
			by = l.window(q.Window).Clerk
			if by == "" {
				by = "window " + strconv.Itoa(q.Window)
			}
		}
		if by == "" {
			by = t.ClerkName()
		}
		t.NoShowBy = append(t.NoShowBy, by)
	case "transferred":
		if q.ToItem != "" {
			t.Final = q.ToItem
		}
		t.State = TicketWaiting
	case "cancelled":
		t.State = TicketCancelled
	}
}

// ForgetBefore drops tickets issued before day (YYYY-MM-DD), their
// ratings, and completed cases accepted before it, so a long-running
// Monitor stays small. Open promised cases are kept for due-date alerts.
func (l *Ledger) ForgetBefore(day string) {
	order := l.Order[:0]
	for _, id := range l.Order {
		if t := l.Tickets[id]; t.Day < day {
			delete(l.Tickets, id)
			continue
		}
		order = append(order, id)
	}
	l.Order = order
	rs := l.Ratings[:0]
	for _, r := range l.Ratings {
		if _, ok := l.Tickets[r.Ticket]; ok || r.At.In(l.loc()).Format(DateLayout) >= day {
			rs = append(rs, r)
		}
	}
	l.Ratings = rs
	for k, c := range l.Cases {
		if !c.CompletedAt.IsZero() && c.AcceptedAt.In(l.loc()).Format(DateLayout) < day {
			delete(l.Cases, k)
		}
	}
}
