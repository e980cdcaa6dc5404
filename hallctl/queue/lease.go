package queue

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Offline numbering. A dispenser that cannot reach the controller issues
// numbers from a lease: a block of an item's number counters on one local
// day, reserved by an EvLeased event. Reserving advances the prefix's
// counter past the block, so the numbers the controller issues afterwards
// never collide with leased ones. When the dispenser's press reaches the
// controller, IssueLeased enters the ticket with its leased number; its
// place in line counts from the time it was printed, so offline tickets
// join the line in the order they were printed, ahead of tickets issued
// later online.

// MaxLease is the largest block a lease may reserve.
const MaxLease = 999

// lease is one reserved block of an item's counters on a day.
type lease struct {
	item     int32
	day      string
	from, to int
	expires  int64 // µs
	holder   string
	used     []bool // index seq-from
}

// LeaseView is a read-only view of a lease.
type LeaseView struct {
	Item    string    `json:"item"`
	Prefix  string    `json:"prefix"`
	Day     string    `json:"day"`
	From    int       `json:"from"`
	To      int       `json:"to"`
	Expires time.Time `json:"expires"`
	Holder  string    `json:"holder"`
	// Used counts the numbers the controller has seen issued from it.
	Used int `json:"used"`
}

// Left is how many of the lease's numbers the controller has not seen used.
func (l LeaseView) Left() int { return l.To - l.From + 1 - l.Used }

// Number is the ticket number of a counter value of a prefix ("A007").
func Number(prefix string, seq int) string { return fmt.Sprintf("%s%03d", prefix, seq) }

// Lease reserves the next n numbers of item's prefix on the local day of
// now for a dispenser (holder, e.g. "kiosk-1/btn-1") until expires.
func (e *Engine) Lease(now time.Time, item string, n int, expires time.Time, holder string) (Event, error) {
	j, err := e.itemByCode(item)
	if err != nil {
		return Event{}, err
	}
	if n < 1 || n > MaxLease || !expires.After(now) {
		return Event{}, fmt.Errorf("lease of %d numbers until %s: %w", n, expires.Format(time.RFC3339), ErrBadLease)
	}
	day := max(now.In(e.loc).Format(dayLayout), e.day)
	from := 1
	if day == e.day {
		from = e.counter[e.items[j].prefix] + 1
	}
	ev := Event{Type: EvLeased, At: now, Item: item, Day: day, From: from, To: from + n - 1,
		Expires: expires, Holder: holder}
	return ev, e.Apply(ev)
}

func (e *Engine) applyLeased(ev *Event) error {
	j, err := e.itemByCode(ev.Item)
	if err != nil {
		return err
	}
	if ev.Day == "" || ev.Day < e.day || ev.From < 1 || ev.To < ev.From || ev.To-ev.From >= MaxLease {
		return fmt.Errorf("lease %s %s %d..%d: %w", ev.Item, ev.Day, ev.From, ev.To, ErrInconsistent)
	}
	p := e.items[j].prefix
	if ev.Day == e.day && ev.From <= e.counter[p] {
		return fmt.Errorf("lease %s %d..%d overlaps issued numbers (counter %d): %w", ev.Item, ev.From, ev.To, e.counter[p], ErrInconsistent)
	}
	e.advanceDay(ev.Day)
	e.counter[p] = ev.To
	e.leases = append(e.leases, lease{item: j, day: ev.Day, from: ev.From, to: ev.To,
		expires: micros(ev.Expires), holder: ev.Holder, used: make([]bool, ev.To-ev.From+1)})
	return nil
}

// advanceDay starts a new local day: counters restart and the leases of
// past days end (a ticket printed yesterday is not entered today).
func (e *Engine) advanceDay(day string) {
	if day <= e.day {
		return
	}
	e.day = day
	clear(e.counter)
	e.compact()
	e.leases = slices.DeleteFunc(e.leases, func(l lease) bool { return l.day < day })
}

// findLease finds the lease of item j on day holding counter seq.
func (e *Engine) findLease(j int32, day string, seq int) (int, int, error) {
	for i := range e.leases {
		l := &e.leases[i]
		if l.item == j && l.day == day && seq >= l.from && seq <= l.to {
			return i, seq - l.from, nil
		}
	}
	return -1, -1, fmt.Errorf("%s %s on %s: %w", e.items[j].code, Number(e.items[j].prefix, seq), day, ErrNotLeased)
}

// IssueLeased enters a ticket a dispenser printed at printedAt with a
// leased number. The number must lie in a lease granted for the item on
// the local day it was printed and must not have been used. The ticket
// takes its place in line by printedAt (a printedAt after now counts as
// now). Unlike Issue it is not refused when no window serves the item:
// the applicant already holds the paper.
func (e *Engine) IssueLeased(now time.Time, r IssueReq, number string, printedAt time.Time) (Event, error) {
	j, err := e.itemByCode(r.Item)
	if err != nil {
		return Event{}, err
	}
	if r.Class >= numClasses {
		return Event{}, ErrUnknownClass
	}
	if printedAt.IsZero() || printedAt.After(now) {
		printedAt = now
	}
	it := &e.items[j]
	seq, ok := parseNumber(it.prefix, number)
	if !ok {
		return Event{}, fmt.Errorf("%s is not a number of %s: %w", number, r.Item, ErrNotLeased)
	}
	day := printedAt.In(e.loc).Format(dayLayout)
	li, k, err := e.findLease(j, day, seq)
	if err != nil {
		return Event{}, err
	}
	if e.leases[li].used[k] {
		return Event{}, fmt.Errorf("number %s: %w", number, ErrLeaseUsed)
	}
	if id, live := e.live[number]; live {
		return Event{}, fmt.Errorf("number %s is held by ticket %d: %w", number, id, ErrLeaseUsed)
	}
	if r.Person != "" && !r.Proxy {
		if id, dup := e.persons[personKey(r.Item, r.Person)]; dup {
			return Event{}, fmt.Errorf("ticket %s: %w", e.numberOf(id), ErrDuplicatePerson)
		}
	}
	at, printed := micros(now), micros(printedAt)
	key := e.placeKey(j, r.Class, printed, at)
	id := e.nextID()
	est := e.estimate(j, key, printed, id, at).orNone() // printed already: taken even after hours
	ev := Event{
		Type: EvIssued, At: now, Ticket: id, Number: number, Day: day, Seq: seq,
		Item: r.Item, Class: r.Class, Person: r.Person, Proxy: r.Proxy, Key: key,
		Ahead: est.Ahead, EstMeanS: est.MeanS, EstP50S: est.P50S, EstP90S: est.P90S,
		Printed: printedAt,
	}
	return ev, e.Apply(ev)
}

// parseNumber reads a number in the form Number makes for prefix.
func parseNumber(prefix, number string) (int, bool) {
	d, ok := strings.CutPrefix(number, prefix)
	if !ok || len(d) < 3 {
		return 0, false
	}
	seq, err := strconv.Atoi(d)
	if err != nil || seq < 1 || Number(prefix, seq) != number {
		return 0, false
	}
	return seq, true
}

// Leases lists the leases of the current day (and any later day), oldest
// first; holder "" lists every holder's.
func (e *Engine) Leases(holder string) []LeaseView {
	var out []LeaseView
	for i := range e.leases {
		l := &e.leases[i]
		if holder != "" && l.holder != holder {
			continue
		}
		used := 0
		for _, u := range l.used {
			if u {
				used++
			}
		}
		it := &e.items[l.item]
		out = append(out, LeaseView{Item: it.code, Prefix: it.prefix, Day: l.day, From: l.from, To: l.to,
			Expires: e.timeOf(l.expires), Holder: l.holder, Used: used})
	}
	return out
}

// Day is the engine's current local day (YYYY-MM-DD), "" before any
// ticket or lease.
func (e *Engine) Day() string { return e.day }

type savedLease struct {
	Item    string `json:"i"`
	Day     string `json:"d"`
	From    int    `json:"f"`
	To      int    `json:"t"`
	Expires int64  `json:"x"`
	Holder  string `json:"h,omitempty"`
	Used    []int  `json:"u,omitempty"` // used counters
}

func (e *Engine) saveLeases() []savedLease {
	out := make([]savedLease, 0, len(e.leases))
	for _, l := range e.leases {
		sl := savedLease{Item: e.items[l.item].code, Day: l.day, From: l.from, To: l.to, Expires: l.expires, Holder: l.holder}
		for k, u := range l.used {
			if u {
				sl.Used = append(sl.Used, l.from+k)
			}
		}
		out = append(out, sl)
	}
	return out
}

func (e *Engine) restoreLeases(ls []savedLease) error {
	e.leases = make([]lease, 0, len(ls))
	for _, sl := range ls {
		j, err := e.itemByCode(sl.Item)
		if err != nil {
			return fmt.Errorf("restore lease: %w", err)
		}
		if sl.From < 1 || sl.To < sl.From || sl.To-sl.From >= MaxLease {
			return fmt.Errorf("restore lease %s %d..%d: %w", sl.Item, sl.From, sl.To, ErrInconsistent)
		}
		l := lease{item: j, day: sl.Day, from: sl.From, to: sl.To, expires: sl.Expires, holder: sl.Holder,
			used: make([]bool, sl.To-sl.From+1)}
		for _, s := range sl.Used {
			if s < sl.From || s > sl.To {
				return fmt.Errorf("restore lease %s: used %d outside %d..%d: %w", sl.Item, s, sl.From, sl.To, ErrInconsistent)
			}
			l.used[s-sl.From] = true
		}
		e.leases = append(e.leases, l)
	}
	return nil
}

func cloneLeases(ls []lease) []lease {
	out := slices.Clone(ls)
	for i := range out {
		out[i].used = slices.Clone(out[i].used)
	}
	return out
}
