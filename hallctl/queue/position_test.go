package queue

import (
	"math/rand/v2"
	"testing"
	"time"
)

// position (a binary search over an item's sorted queue) counts exactly
// what the linear count it replaced counted, for tickets in the queue and
// for a ticket about to be issued, with classes, requeues and calls mixed.
func TestPositionMatchesLinearCount(t *testing.T) {
	e := newEngine(t, nil)
	openAll(t, e, at(8, 59))
	rng := rand.New(rand.NewPCG(1, 2))
	now := at(9, 0)
	for i := 0; i < 600; i++ {
		now = now.Add(time.Duration(rng.IntN(20)) * time.Second)
		switch r := rng.IntN(10); {
		case r < 7:
			item := []string{"HR-001", "HR-002", "TX-001"}[rng.IntN(3)]
			_, _ = e.Issue(now, IssueReq{Item: item, Class: Class(rng.IntN(int(numClasses)))})
		case r < 9:
			w := 1 + rng.IntN(3)
			_, _ = e.CallNext(now, w)
			if rng.IntN(2) == 0 {
				_, _ = e.NoShow(now, w)
			} else {
				_, _ = e.Finish(now, w)
			}
		default:
		}
	}
	linear := func(q []int32, key, issued, id int64) (ahead int, in bool) {
		for _, ti := range q {
			tk := &e.tickets[ti]
			if tk.id == id {
				in = true
				continue
			}
			if tk.key < key || (tk.key == key && (tk.issued < issued || (tk.issued == issued && tk.id < id))) {
				ahead++
			}
		}
		return ahead, in
	}
	checked := 0
	for j := range e.items {
		q := e.items[j].q
		for _, ti := range q {
			tk := &e.tickets[ti]
			a1, in1 := e.position(q, tk.key, tk.issued, tk.id)
			a2, in2 := linear(q, tk.key, tk.issued, tk.id)
			if a1 != a2 || in1 != in2 || !in1 {
				t.Fatalf("ticket %d: position %d,%v, linear %d,%v", tk.id, a1, in1, a2, in2)
			}
			checked++
		}
		// A ticket about to be issued, at several keys.
		for _, k := range []int64{0, micros(now), micros(now) - 3600e6, 1 << 62} {
			a1, in1 := e.position(q, k, micros(now), e.nextID())
			a2, in2 := linear(q, k, micros(now), e.nextID())
			if a1 != a2 || in1 || in2 {
				t.Fatalf("new ticket at key %d: position %d,%v, linear %d,%v", k, a1, in1, a2, in2)
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d waiting tickets checked", checked)
	}
}

// SnapshotN lists at most maxWaiting tickets, says how many wait in all,
// and keeps every item's count and oldest wait whole.
func TestSnapshotNBounded(t *testing.T) {
	e := newEngine(t, nil)
	for i := range 30 {
		must(t)(e.Issue(at(9, i), IssueReq{Item: []string{"HR-001", "TX-001"}[i%2]}))
	}
	full := e.Snapshot(at(10, 0))
	s, total := e.SnapshotN(at(10, 0), 7)
	if total != 30 || len(full.Waiting) != 30 || len(s.Waiting) != 7 {
		t.Fatalf("total %d, full %d, listed %d", total, len(full.Waiting), len(s.Waiting))
	}
	for i := range s.Items {
		if s.Items[i] != full.Items[i] {
			t.Errorf("item %d: %+v, full snapshot %+v", i, s.Items[i], full.Items[i])
		}
	}
	for i := range s.Waiting {
		if s.Waiting[i].ID != full.Waiting[i].ID {
			t.Errorf("waiting[%d] = %d, full snapshot %d", i, s.Waiting[i].ID, full.Waiting[i].ID)
		}
	}
}
