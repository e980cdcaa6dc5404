package casesys

import (
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
)

// Finding "long-wait alerts skip tickets requeued after a no-show": a
// ticket called, marked no-show (not void: back in line) and still not
// served is waiting; its wait counts from issue (the applicant's total
// wait). On the old code it had no alert (its state was no_show).
func TestLongWaitAlertIncludesRequeuedNoShow(t *testing.T) {
	cal, _ := NewCalendar(holidays)
	l := NewLedger(testHall(t))
	t0 := time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC) // Fri 09:00 local
	var seq int64
	add := func(r store.Record) { seq++; r.Seq = seq; l.Apply(r) }
	add(qrec(0, "issued", t0, map[string]any{"ticket": 1, "number": "B001", "item": "TAX-01", "day": "2026-11-20"}))
	add(qrec(0, "called", t0.Add(10*time.Minute), map[string]any{"ticket": 1, "window": 2}))
	add(qrec(0, "no_show", t0.Add(12*time.Minute), map[string]any{"ticket": 1, "window": 2}))
	// A void no-show ends its ticket: no alert for it.
	add(qrec(0, "issued", t0, map[string]any{"ticket": 2, "number": "B002", "item": "TAX-01", "day": "2026-11-20"}))
	add(qrec(0, "called", t0.Add(10*time.Minute), map[string]any{"ticket": 2, "window": 2}))
	add(qrec(0, "no_show", t0.Add(12*time.Minute), map[string]any{"ticket": 2, "window": 2, "void": true}))

	now := t0.Add(35 * time.Minute)
	as := Alerts(l, Supervision{}, cal, now)
	if countKind(as, AlertLongWait) != 1 {
		t.Fatalf("long-wait alerts %+v, want one for the requeued ticket", as)
	}
	a := as[0]
	if a.Ticket != 1 || a.Value != 35 || !a.Since.Equal(t0) || a.ID != "long_wait/ticket-1/1" {
		t.Fatalf("alert %+v: want ticket 1, 35 minutes since issue, id long_wait/ticket-1/1", a)
	}
	// Called again: no longer waiting.
	add(qrec(0, "called", now, map[string]any{"ticket": 1, "window": 2}))
	if n := countKind(Alerts(l, Supervision{}, cal, now.Add(time.Minute)), AlertLongWait); n != 0 {
		t.Fatalf("%d long-wait alerts after the call", n)
	}
	// Reports still count the void and the requeued-then-served ticket as before.
	if l.Tickets[2].InLine() || l.Tickets[2].State != TicketNoShow {
		t.Fatalf("void no-show in line: %+v", l.Tickets[2])
	}
}

// Finding "the no-show-rate alert counts each ticket under its last
// caller": clerk 张* marks 4 of her 10 calls no-show; the tickets are
// requeued and 李* serves them. Her own marks count: 40% against 0% for
// the rest of the hall raises the alert. On the old code the four tickets
// ended under 李* as finished and 张* had 0 of 6.
func TestNoShowRateCountsTheMarkingClerk(t *testing.T) {
	cal, _ := NewCalendar(holidays)
	l := NewLedger(testHall(t))
	t0 := time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC)
	var seq int64
	add := func(r store.Record) { seq++; r.Seq = seq; l.Apply(r) }
	add(ClerkRecord(1, "张*", t0))
	add(ClerkRecord(2, "李*", t0))
	at := t0
	tick := func() time.Time { at = at.Add(time.Minute); return at }
	for i := 1; i <= 10; i++ {
		add(qrec(0, "issued", tick(), map[string]any{"ticket": i, "number": "B", "item": "TAX-01", "day": "2026-11-20"}))
		add(qrec(0, "called", tick(), map[string]any{"ticket": i, "window": 1}))
		if i <= 4 {
			add(qrec(0, "no_show", tick(), map[string]any{"ticket": i, "window": 1}))
			add(qrec(0, "called", tick(), map[string]any{"ticket": i, "window": 2}))
		}
		w := 1
		if i <= 4 {
			w = 2
		}
		add(qrec(0, "finished", tick(), map[string]any{"ticket": i, "window": w}))
	}
	for i := 11; i <= 20; i++ {
		add(qrec(0, "issued", tick(), map[string]any{"ticket": i, "number": "B", "item": "TAX-01", "day": "2026-11-20"}))
		add(qrec(0, "called", tick(), map[string]any{"ticket": i, "window": 2}))
		add(qrec(0, "finished", tick(), map[string]any{"ticket": i, "window": 2}))
	}
	as := Alerts(l, Supervision{}, cal, tick())
	if countKind(as, AlertNoShowRate) != 1 {
		t.Fatalf("alerts %+v: want a no_show_rate alert for 张*", as)
	}
	for _, a := range as {
		if a.Kind == AlertNoShowRate && (a.Clerk != "张*" || a.Value != 0.4 || a.ID != "no_show_rate/2026-11-20/张*") {
			t.Fatalf("no-show alert %+v: want 张* at 0.4", a)
		}
	}
	// A console clerk's own mark counts for them even at another's window.
	add(qrec(0, "issued", tick(), map[string]any{"ticket": 30, "number": "B", "item": "TAX-01", "day": "2026-11-20"}))
	add(qrec(0, "called", tick(), map[string]any{"ticket": 30, "window": 2, "clerk": "王*"}))
	add(qrec(0, "no_show", tick(), map[string]any{"ticket": 30, "window": 2, "clerk": "王*"}))
	if got := l.Tickets[30].NoShowBy; len(got) != 1 || got[0] != "王*" {
		t.Fatalf("no-show marked by %v, want 王*", got)
	}
}
