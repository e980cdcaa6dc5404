package queue

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// observe is what a caller can see of an engine at now: the hall view,
// every window, every ticket the compacting engine still holds, the next
// ticket's id and the estimate a new ticket of each item would get.
type observed struct {
	Snap    Snapshot
	Windows []WindowView
	Tickets []TicketView
	Count   int
	Day     string
	Ests    []Estimate
}

func observe(t *testing.T, e *Engine, held []int64, now time.Time) observed {
	t.Helper()
	o := observed{Snap: e.Snapshot(now), Count: e.TicketCount(), Day: e.Day()}
	for _, w := range e.cfg.Windows {
		v, _ := e.Window(w.Number)
		o.Windows = append(o.Windows, v)
	}
	for _, id := range held {
		v, ok := e.Ticket(id)
		if !ok {
			t.Fatalf("held ticket %d unknown", id)
		}
		o.Tickets = append(o.Tickets, v)
		if v.State == Waiting {
			est, err := e.Estimate(id, now)
			if err != nil {
				t.Fatalf("estimate %d: %v", id, err)
			}
			o.Ests = append(o.Ests, est)
		}
	}
	return o
}

// TestCompactionEqualsFullReplay drives random days of a hall on an engine
// that keeps every ticket; an engine fed the same events (compacting at
// each new day, and saved and restored now and then) must show the same
// state and make the same next decisions, while holding only today's and
// still-live tickets.
func TestCompactionEqualsFullReplay(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		full := newEngine(t, nil)
		full.keepAll = true
		comp := newEngine(t, nil)
		items := []string{}
		for _, it := range full.cfg.Items {
			items = append(items, it.Code)
		}
		apply := func(ev Event, err error) {
			t.Helper()
			if err != nil {
				return // a refused command changes nothing
			}
			if err := comp.Apply(ev); err != nil {
				t.Fatalf("seed %d: compacting engine refused %s: %v", seed, ev.Type, err)
			}
		}
		days := 3 + rng.IntN(5)
		for d := 0; d < days; d++ {
			now := at(8, 30).AddDate(0, 0, d)
			for _, w := range full.cfg.Windows {
				apply(full.OpenWindow(now, w.Number))
			}
			steps := 20 + rng.IntN(80)
			for s := 0; s < steps; s++ {
				now = now.Add(time.Duration(1+rng.IntN(300)) * time.Second)
				w := full.cfg.Windows[rng.IntN(len(full.cfg.Windows))].Number
				switch r := rng.IntN(10); {
				case r < 4:
					apply(full.Issue(now, IssueReq{Item: items[rng.IntN(len(items))], Class: Class(rng.IntN(int(numClasses)))}))
				case r < 6:
					apply(full.CallNext(now, w))
				case r == 6:
					apply(full.Start(now, w))
				case r == 7:
					apply(full.Finish(now, w))
				case r == 8:
					apply(full.NoShow(now, w))
				default:
					apply(full.Transfer(now, w, items[rng.IntN(len(items))], 0, rng.IntN(2) == 0))
				}
			}
			// Some tickets stay live overnight now and then.
			if rng.IntN(3) == 0 {
				b, err := comp.MarshalState()
				if err != nil {
					t.Fatal(err)
				}
				if comp, err = Restore(comp.cfg, comp.loc, DefaultOpts(), b); err != nil {
					t.Fatalf("seed %d: restore: %v", seed, err)
				}
			}
			held := heldIDs(comp)
			a, b := observe(t, full, held, now), observe(t, comp, held, now)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("seed %d day %d: compacted engine differs from full replay:\nfull %+v\ncomp %+v", seed, d, a, b)
			}
		}
		held := map[int64]bool{}
		for _, id := range heldIDs(comp) {
			held[id] = true
		}
		if len(held) == comp.TicketCount() {
			t.Fatalf("seed %d: nothing compacted over %d days", seed, days)
		}
		for id := int64(1); id <= int64(comp.TicketCount()); id++ {
			v, _ := full.Ticket(id)
			if !held[id] && v.State.Live() {
				t.Fatalf("seed %d: live ticket %d compacted away", seed, id)
			}
			if !held[id] && v.IssuedAt.Format(dayLayout) == comp.Day() {
				t.Fatalf("seed %d: today's ticket %d compacted away", seed, id)
			}
			if _, ok := comp.Ticket(id); ok != held[id] {
				t.Fatalf("seed %d: ticket %d answers %v, held %v", seed, id, ok, held[id])
			}
		}
		// The next day's first decisions are the same.
		now := at(9, 0).AddDate(0, 0, days)
		for _, w := range full.cfg.Windows {
			a, errA := full.CallNext(now, w.Number)
			b, errB := comp.CallNext(now, w.Number)
			if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
				t.Fatalf("seed %d: call next at %d: %+v %v vs %+v %v", seed, w.Number, a, errA, b, errB)
			}
		}
		a, _ := full.Issue(now, IssueReq{Item: items[0]})
		b, _ := comp.Issue(now, IssueReq{Item: items[0]})
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: issue differs: %+v vs %+v", seed, a, b)
		}
		if comp.HeldTickets() >= full.HeldTickets() {
			t.Fatalf("seed %d: compacting engine holds %d tickets, full %d", seed, comp.HeldTickets(), full.HeldTickets())
		}
	}
}

func heldIDs(e *Engine) []int64 {
	ids := make([]int64, 0, len(e.tickets))
	for i := range e.tickets {
		ids = append(ids, e.tickets[i].id)
	}
	return ids
}
