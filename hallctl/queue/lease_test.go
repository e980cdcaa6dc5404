package queue

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func endOfDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, t.Location())
}

func TestLeaseNumbersNeverCollide(t *testing.T) {
	e := newEngine(t, nil)
	openAll(t, e, at(8, 50))
	a1 := must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001"})) // A001
	l := must(t)(e.Lease(at(9, 1), "HR-001", 5, endOfDay(at(9, 1)), "k1/btn-1"))
	if l.Type != EvLeased || l.From != 2 || l.To != 6 || l.Day != "2026-11-23" {
		t.Fatalf("lease %+v, want A002..A006 on 2026-11-23", l)
	}
	// HR-002 shares prefix A: its next number comes after the block too.
	a7 := must(t)(e.Issue(at(9, 2), IssueReq{Item: "HR-002"}))
	if a1.Number != "A001" || a7.Number != "A007" {
		t.Fatalf("controller numbers %s, %s; want A001, A007", a1.Number, a7.Number)
	}
	// A second dispenser's lease continues after both.
	l2 := must(t)(e.Lease(at(9, 3), "HR-001", 3, endOfDay(at(9, 3)), "k2/btn-1"))
	if l2.From != 8 || l2.To != 10 {
		t.Fatalf("second lease %d..%d, want 8..10", l2.From, l2.To)
	}
	// Every leased number issues once; controller numbers keep clear.
	seen := map[string]bool{a1.Number: true, a7.Number: true}
	for i, n := range []string{"A002", "A003", "A008", "A004", "A005", "A006", "A009", "A010"} {
		ev := must(t)(e.IssueLeased(at(9, 10+i), IssueReq{Item: "HR-001"}, n, at(9, 4)))
		if ev.Number != n || ev.Printed.IsZero() {
			t.Fatalf("issued %+v, want %s printed", ev, n)
		}
		seen[n] = true
		c := must(t)(e.Issue(at(9, 10+i), IssueReq{Item: "HR-001"}))
		if seen[c.Number] {
			t.Fatalf("controller issued %s, a number already used", c.Number)
		}
		seen[c.Number] = true
	}
	// A lease on another prefix does not touch A.
	must(t)(e.Lease(at(9, 30), "TX-001", 20, endOfDay(at(9, 30)), "k1/btn-2"))
	if c := must(t)(e.Issue(at(9, 31), IssueReq{Item: "TX-001"})); c.Number != "B021" {
		t.Fatalf("B after a 20-lease: %s, want B021", c.Number)
	}
	if got := e.Leases("k1/btn-1"); len(got) != 1 || got[0].Used != 5 || got[0].Left() != 0 {
		t.Fatalf("leases of k1/btn-1: %+v, want 5 used, 0 left", got)
	}
}

func TestLeaseRefusals(t *testing.T) {
	e := newEngine(t, nil)
	openAll(t, e, at(8, 50))
	if _, err := e.Lease(at(9, 0), "HR-001", 0, endOfDay(at(9, 0)), "k"); !errors.Is(err, ErrBadLease) || Code(err) != "bad_lease" {
		t.Fatalf("empty lease: %v", err)
	}
	if _, err := e.Lease(at(9, 0), "HR-001", 5, at(8, 0), "k"); !errors.Is(err, ErrBadLease) {
		t.Fatalf("expired lease: %v", err)
	}
	if _, err := e.Lease(at(9, 0), "XX", 5, endOfDay(at(9, 0)), "k"); !errors.Is(err, ErrUnknownItem) {
		t.Fatalf("unknown item: %v", err)
	}
	must(t)(e.Lease(at(9, 0), "HR-001", 5, endOfDay(at(9, 0)), "k")) // A001..A005
	must(t)(e.IssueLeased(at(9, 5), IssueReq{Item: "HR-001"}, "A003", at(9, 2)))
	if _, err := e.IssueLeased(at(9, 6), IssueReq{Item: "HR-001"}, "A003", at(9, 3)); !errors.Is(err, ErrLeaseUsed) || Code(err) != "lease_number_used" {
		t.Fatalf("number used twice: %v", err)
	}
	// Still refused once the first ticket is over.
	must(t)(e.CallNext(at(9, 7), 1))
	must(t)(e.Finish(at(9, 8), 1))
	if _, err := e.IssueLeased(at(9, 9), IssueReq{Item: "HR-001"}, "A003", at(9, 3)); !errors.Is(err, ErrLeaseUsed) {
		t.Fatalf("number used twice after finish: %v", err)
	}
	for _, c := range []struct {
		item, number string
		printed      time.Time
	}{
		{"HR-001", "A006", at(9, 3)},                   // after the block
		{"HR-001", "A03", at(9, 3)},                    // not a number of the form
		{"HR-001", "B001", at(9, 3)},                   // another prefix
		{"HR-002", "A002", at(9, 3)},                   // same prefix, lease is for HR-001
		{"HR-001", "A002", at(9, 3).AddDate(0, 0, -1)}, // printed on another day
	} {
		if _, err := e.IssueLeased(at(9, 10), IssueReq{Item: c.item}, c.number, c.printed); !errors.Is(err, ErrNotLeased) || Code(err) != "not_leased" {
			t.Errorf("%s %s printed %s: %v, want not_leased", c.item, c.number, c.printed, err)
		}
	}
	// The next day the old leases end and numbering restarts.
	next := at(9, 0).AddDate(0, 0, 1)
	if c := must(t)(e.Issue(next, IssueReq{Item: "HR-001"})); c.Number != "A001" {
		t.Fatalf("next day: %s", c.Number)
	}
	if _, err := e.IssueLeased(next, IssueReq{Item: "HR-001"}, "A004", at(9, 3)); !errors.Is(err, ErrNotLeased) {
		t.Fatalf("yesterday's lease today: %v", err)
	}
	if got := e.Leases(""); len(got) != 0 {
		t.Fatalf("leases after the day: %+v", got)
	}
}

func TestLeasedTicketsRejoinInPrintOrder(t *testing.T) {
	e := newEngine(t, nil)
	must(t)(e.OpenWindow(at(8, 50), 2))                                      // TX only: HR tickets wait
	must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001"}))                     // A001 online
	must(t)(e.Lease(at(9, 1), "HR-001", 10, endOfDay(at(9, 1)), "k1/btn-1")) // A002..A011
	// The controller is away 9:10–9:40; the dispenser prints A002, A003, A004.
	// Meanwhile the kiosk (online on another path) issues A012 at 9:30.
	a12 := must(t)(e.Issue(at(9, 30), IssueReq{Item: "HR-001"}))
	// The presses arrive after the rejoin, in print order.
	for i, n := range []string{"A002", "A003", "A004"} {
		must(t)(e.IssueLeased(at(9, 41), IssueReq{Item: "HR-001"}, n, at(9, 10+5*i)))
	}
	a13 := must(t)(e.Issue(at(9, 42), IssueReq{Item: "HR-001"}))
	if tv, _ := e.TicketByNumber("A003"); !tv.IssuedAt.Equal(at(9, 15)) {
		t.Fatalf("A003 issued at %s, want its print time 09:15", tv.IssuedAt)
	}
	if a12.Number != "A012" || a13.Number != "A013" {
		t.Fatalf("online numbers %s %s", a12.Number, a13.Number)
	}
	// Window 3 serves everything: calls go by the time each ticket was taken.
	must(t)(e.OpenWindow(at(9, 45), 3))
	var order []string
	for i := range 6 {
		ev := must(t)(e.CallNext(at(9, 46+2*i), 3))
		order = append(order, ev.Number)
		must(t)(e.Finish(at(9, 47+2*i), 3))
	}
	want := []string{"A001", "A002", "A003", "A004", "A012", "A013"}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("call order %v, want %v", order, want)
	}
}

func TestLeaseReplayAndSnapshot(t *testing.T) {
	cfg := testSpec(t, nil)
	live, _ := New(cfg, shanghai, DefaultOpts())
	var log []Event
	rec := func(ev Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(ev)
		back, err := UnmarshalEvent(b)
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, back)
	}
	var saved []byte
	rec(live.OpenWindow(at(8, 50), 3))
	rec(live.Lease(at(9, 0), "HR-001", 4, endOfDay(at(9, 0)), "k1/btn-1"))
	rec(live.Lease(at(9, 0), "TX-001", 4, endOfDay(at(9, 0)), "k1/btn-2"))
	rec(live.Issue(at(9, 1), IssueReq{Item: "HR-001"}))
	rec(live.IssueLeased(at(9, 5), IssueReq{Item: "HR-001"}, "A002", at(9, 2)))
	rec(live.IssueLeased(at(9, 5), IssueReq{Item: "TX-001"}, "B004", at(9, 3)))
	mid := len(log)
	saved, err := live.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	rec(live.CallNext(at(9, 6), 3))
	rec(live.IssueLeased(at(9, 7), IssueReq{Item: "HR-001"}, "A001", at(9, 6)))
	rec(live.Lease(at(9, 8), "HR-001", 3, endOfDay(at(9, 8)), "k1/btn-1"))

	replayed, _ := New(cfg, shanghai, DefaultOpts())
	for _, ev := range log {
		if err := replayed.Apply(ev); err != nil {
			t.Fatalf("replay %s: %v", ev.Type, err)
		}
	}
	restored, err := Restore(cfg, shanghai, DefaultOpts(), saved)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range log[mid:] {
		if err := restored.Apply(ev); err != nil {
			t.Fatalf("apply after restore %s: %v", ev.Type, err)
		}
	}
	now := at(9, 10)
	for name, other := range map[string]*Engine{"replayed": replayed, "restored": restored} {
		if !reflect.DeepEqual(live.Snapshot(now), other.Snapshot(now)) {
			t.Errorf("%s snapshot differs", name)
		}
		if !reflect.DeepEqual(live.Leases(""), other.Leases("")) {
			t.Errorf("%s leases %+v, want %+v", name, other.Leases(""), live.Leases(""))
		}
		a, _ := live.MarshalState()
		b, _ := other.MarshalState()
		if string(a) != string(b) {
			t.Errorf("%s state differs:\n%s\n%s", name, a, b)
		}
		// Same refusals and same next numbers.
		if _, err := other.Clone().IssueLeased(now, IssueReq{Item: "HR-001"}, "A002", at(9, 2)); !errors.Is(err, ErrLeaseUsed) {
			t.Errorf("%s: reused number: %v", name, err)
		}
		x, _ := live.Clone().Issue(now, IssueReq{Item: "HR-001"})
		y, _ := other.Clone().Issue(now, IssueReq{Item: "HR-001"})
		if x.Number != y.Number || x.Number != "A009" {
			t.Errorf("%s next number %s vs live %s, want A009", name, y.Number, x.Number)
		}
	}
	// A lease event that overlaps issued numbers does not fit.
	bad := Event{Type: EvLeased, At: now, Item: "HR-001", Day: "2026-11-23", From: 3, To: 9, Expires: endOfDay(now)}
	if err := replayed.Apply(bad); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("overlapping lease applied: %v", err)
	}
	// Clone is independent.
	c := live.Clone()
	must(t)(c.IssueLeased(now, IssueReq{Item: "HR-001"}, "A003", at(9, 9)))
	if _, err := live.IssueLeased(now, IssueReq{Item: "HR-001"}, "A003", at(9, 9)); err != nil {
		t.Fatalf("clone's use leaked into the original: %v", err)
	}
}

// FuzzParseNumber: a number parses only in the form Number makes.
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"A001", "A1000", "AB012", "A01", "A-01", "A0001", "B001", "A 01", "A+01"} {
		f.Add("A", s)
	}
	f.Fuzz(func(t *testing.T, prefix, number string) {
		seq, ok := parseNumber(prefix, number)
		if ok && (seq < 1 || Number(prefix, seq) != number) {
			t.Fatalf("parseNumber(%q, %q) = %d, but Number gives %q", prefix, number, seq, Number(prefix, seq))
		}
	})
}
