package casesys

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
)

// The acting clerk's staff id on queue events and ratings (staff
// sign-in): newer logs carry it and it wins over the window's clerk
// record; older logs, without it, still load and fall back to the record.
func TestLedgerClerkFromEvents(t *testing.T) {
	l := NewLedger(testHall(t))
	t0 := time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC)
	var seq int64
	add := func(r store.Record) { seq++; r.Seq = seq; l.Apply(r) }
	rating := func(ticket int64, level int, clerk string) store.Record {
		m := map[string]any{"ticket": ticket, "level": level, "at": t0.Add(time.Hour)}
		if clerk != "" {
			m["clerk"] = clerk
		}
		b, _ := json.Marshal(m)
		return store.Record{Stream: RatingStream, Type: "rated", At: t0.Add(time.Hour), Data: b}
	}
	add(ClerkRecord(1, "c-old", t0))
	// An old-format ticket: no clerk on its events.
	add(qrec(0, "issued", t0, map[string]any{"ticket": 1, "number": "A001", "item": "HR-001"}))
	add(qrec(0, "called", t0.Add(time.Minute), map[string]any{"ticket": 1, "window": 1}))
	add(qrec(0, "finished", t0.Add(5*time.Minute), map[string]any{"ticket": 1, "window": 1}))
	add(rating(1, 4, ""))
	// A new-format ticket served by c7 at the same window.
	add(qrec(0, "issued", t0, map[string]any{"ticket": 2, "number": "A002", "item": "HR-001"}))
	add(qrec(0, "called", t0.Add(6*time.Minute), map[string]any{"ticket": 2, "window": 1, "clerk": "c7"}))
	add(qrec(0, "started", t0.Add(7*time.Minute), map[string]any{"ticket": 2, "window": 1, "clerk": "c7"}))
	add(qrec(0, "finished", t0.Add(9*time.Minute), map[string]any{"ticket": 2, "window": 1, "clerk": "c7"}))
	add(rating(2, 5, "c7"))
	if l.Skipped != 0 {
		t.Errorf("skipped %d records", l.Skipped)
	}
	if c := l.Tickets[1].ClerkName(); c != "c-old" {
		t.Errorf("old ticket's clerk %q", c)
	}
	if c := l.Tickets[2].ClerkName(); c != "c7" {
		t.Errorf("new ticket's clerk %q", c)
	}
	if len(l.Ratings) != 2 || l.Ratings[0].Clerk != "c-old" || l.Ratings[1].Clerk != "c7" {
		t.Errorf("ratings %+v", l.Ratings)
	}
}
