package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// overloadDay drives one window at 130% load for eight hours (an arrival
// every 230 s, 300 s at the window each, every tenth applicant in the
// green channel and every twentieth elderly) and returns each class's
// mean wait in seconds. The window calls whenever it is free.
func overloadDay(t *testing.T, e *Engine) map[Class]float64 {
	t.Helper()
	const gap, svc, n = 230 * time.Second, 300 * time.Second, 125
	start := at(9, 0)
	must(t)(e.OpenWindow(start, 2))
	type rec struct {
		class  Class
		issued time.Time
	}
	issued := map[int64]rec{}
	sum, cnt := map[Class]float64{}, map[Class]int{}
	busy, free := false, time.Time{}
	call := func(now time.Time) {
		ev, err := e.CallNext(now, 2)
		if errors.Is(err, ErrNoTicket) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		r := issued[ev.Ticket]
		sum[r.class] += now.Sub(r.issued).Seconds()
		cnt[r.class]++
		busy, free = true, now.Add(svc)
	}
	for i := 0; i < n || busy; {
		next := start.Add(time.Duration(i) * gap)
		if busy && (i >= n || !free.After(next)) {
			must(t)(e.Finish(free, 2))
			busy = false
			call(free)
			continue
		}
		class := Walkin
		switch {
		case i%10 == 5:
			class = Green
		case i%20 == 3:
			class = Elderly
		}
		ev := must(t)(e.Issue(next, IssueReq{Item: "TX-001", Class: class}))
		issued[ev.Ticket] = rec{class, next}
		i++
		if !busy {
			call(next)
		}
	}
	mean := map[Class]float64{}
	for c, s := range sum {
		mean[c] = s / float64(cnt[c])
	}
	if cnt[Walkin]+cnt[Green]+cnt[Elderly] != n {
		t.Fatalf("called %v of %d", cnt, n)
	}
	return mean
}

// TestGreenKeepsAdvantageUnderOverload: on a hall past 100% load every
// wait grows through the day. With fixed head starts (30 min for the
// green channel) and tail protection at twice that, the green channel
// ended up waiting about as long as everyone else once waits passed an
// hour; a head start proportional to the line's current wait keeps it
// at most half the walk-in wait, and the elderly ahead of walk-ins too.
func TestGreenKeepsAdvantageUnderOverload(t *testing.T) {
	m := overloadDay(t, newEngine(t, nil))
	t.Logf("mean wait: walk-in %.0f s, green %.0f s, elderly %.0f s", m[Walkin], m[Green], m[Elderly])
	if m[Walkin] < 1800 {
		t.Fatalf("walk-ins waited %.0f s: not an overloaded day", m[Walkin])
	}
	if m[Green] > m[Walkin]/2 {
		t.Errorf("green %.0f s > half the walk-in mean %.0f s", m[Green], m[Walkin])
	}
	if m[Elderly] >= m[Walkin] {
		t.Errorf("elderly %.0f s ≥ walk-in %.0f s", m[Elderly], m[Walkin])
	}
	fe, err := New(testSpec(t, nil), shanghai, Opts{Policy: PolicyFIFO})
	if err != nil {
		t.Fatal(err)
	}
	f := overloadDay(t, fe)
	t.Logf("fifo: walk-in %.0f s", f[Walkin])
	if m[Walkin] > 1.1*f[Walkin] {
		t.Errorf("walk-in %.0f s > 1.1 × fifo's %.0f s", m[Walkin], f[Walkin])
	}
}

// TestOverloadFixedHeadStartsOnly: with the shares set to zero the
// engine behaves as before (fixed head starts, protection at twice the
// largest): the figure the test above improves on.
func TestOverloadFixedHeadStartsOnly(t *testing.T) {
	m := overloadDay(t, newEngine(t, func(r *Rules) { r.HeadStartShare = nil }))
	t.Logf("fixed head starts only: walk-in %.0f s, green %.0f s, elderly %.0f s", m[Walkin], m[Green], m[Elderly])
	if m[Green] <= m[Walkin]/2 {
		t.Errorf("green %.0f s ≤ half the walk-in %.0f s even without shares: the overload test proves nothing", m[Green], m[Walkin])
	}
}

// TestWaitShareHeadStart: the head start is the class's share of the
// line's current wait, capped, recorded in the call's reason, kept by a
// saved and restored state, and never ahead of an earlier ticket of the
// same class.
func TestWaitShareHeadStart(t *testing.T) {
	e := newEngine(t, nil)
	must(t)(e.OpenWindow(at(9, 0), 2))
	must(t)(e.Issue(at(9, 0), IssueReq{Item: "TX-001"}))
	must(t)(e.CallNext(at(9, 0), 2)) // busy from here on
	for m := 5; m <= 40; m += 5 {
		must(t)(e.Issue(at(9, m), IssueReq{Item: "TX-001"}))
	}
	// The line's longest waiter has waited 35 min at 9:40: elderly gets
	// max(10, 0.25·35) = 10, green max(30, 0.75·35) = 30 (fixed).
	el := must(t)(e.Issue(at(9, 40), IssueReq{Item: "TX-001", Class: Elderly}))
	if hs := el.At.Sub(time.UnixMicro(el.Key)); hs != 10*time.Minute {
		t.Errorf("elderly head start at a 35 min wait %v, want 10m", hs)
	}
	for m := 45; m <= 85; m += 5 {
		must(t)(e.Issue(at(9, m), IssueReq{Item: "TX-001"}))
	}
	// 9:05's walk-in has waited 80 min at 10:25: green max(30, 60) = 60;
	// 100 min at 10:45: 0.75·100 = 75, capped at 60.
	g1 := must(t)(e.Issue(at(10, 25), IssueReq{Item: "TX-001", Class: Green}))
	if hs := g1.At.Sub(time.UnixMicro(g1.Key)); hs != 60*time.Minute {
		t.Errorf("green head start at an 80 min wait %v, want 60m", hs)
	}
	e2 := must(t)(e.Issue(at(10, 26), IssueReq{Item: "TX-001", Class: Elderly}))
	if hs := e2.At.Sub(time.UnixMicro(e2.Key)); hs != 20*time.Minute+15*time.Second {
		t.Errorf("elderly head start at an 81 min wait %v, want 20m15s", hs)
	}
	g2 := must(t)(e.Issue(at(10, 45), IssueReq{Item: "TX-001", Class: Green}))
	if hs := g2.At.Sub(time.UnixMicro(g2.Key)); hs != 60*time.Minute {
		t.Errorf("capped green head start %v, want 60m", hs)
	}
	// A green issued a minute after another, when a larger share would put
	// it first, stays behind it.
	e3 := newEngine(t, func(r *Rules) { r.HeadStartMaxMin = 600 })
	must(t)(e3.OpenWindow(at(9, 0), 2))
	must(t)(e3.Issue(at(9, 0), IssueReq{Item: "TX-001"}))
	must(t)(e3.CallNext(at(9, 0), 2))
	must(t)(e3.Issue(at(9, 1), IssueReq{Item: "TX-001"}))
	a := must(t)(e3.Issue(at(10, 41), IssueReq{Item: "TX-001", Class: Green})) // 0.75·100 = 75 min
	b := must(t)(e3.Issue(at(11, 41), IssueReq{Item: "TX-001", Class: Green})) // 0.75·160 = 120 min, clamped
	if b.Key < a.Key {
		t.Errorf("later green keyed ahead of an earlier one: %d < %d", b.Key, a.Key)
	}

	saved, err := e.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(saved), `"hs":`) {
		t.Error("saved state has no varied head start")
	}
	r, err := Restore(e.Spec(), shanghai, DefaultOpts(), saved)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := r.MarshalState()
	if string(again) != string(saved) {
		t.Error("restore → save differs")
	}
	must(t)(e.Finish(at(10, 50), 2))
	must(t)(r.Finish(at(10, 50), 2))
	// Call order: the walk-ins of 9:05–9:25 (9:25's ties with the green's
	// key and was issued first), the 10:25 green (key 9:25), 9:30's
	// walk-in, the 9:40 elderly (key 9:30).
	for i := 0; i < 8; i++ {
		x, y := must(t)(e.CallNext(at(10, 50), 2)), must(t)(r.CallNext(at(10, 50), 2))
		if x.Number != y.Number || x.Reason != y.Reason {
			t.Fatalf("call %d: %s %+v vs restored %s %+v", i, x.Number, x.Reason, y.Number, y.Reason)
		}
		if i == 5 && (x.Ticket != g1.Ticket || x.Reason.HeadStartMin != 60 || x.Reason.ScoreMin != 85) {
			t.Errorf("sixth call %s %+v, want the 10:25 green with a 60 min head start", x.Number, x.Reason)
		}
		if i == 7 && x.Ticket != el.Ticket {
			t.Errorf("eighth call %s, want the 9:40 elderly", x.Number)
		}
		must(t)(e.Finish(at(10, 50), 2))
		must(t)(r.Finish(at(10, 50), 2))
	}
}
