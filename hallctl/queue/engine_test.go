package queue

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testSpec is the test hall: two departments, window 1 backs up TX-001,
// window 3 serves everything; set changes the default rules.
func testSpec(_ testing.TB, set func(r *Rules)) Spec {
	s := Spec{
		Departments: []DeptSpec{{Code: "HR"}, {Code: "TX"}},
		Items: []ItemSpec{
			{Code: "HR-001", Dept: "HR", Prefix: "A", ServiceS: 300},
			{Code: "HR-002", Dept: "HR", Prefix: "A", ServiceS: 200},
			{Code: "TX-001", Dept: "TX", Prefix: "B", ServiceS: 100},
		},
		Windows: []WindowSpec{
			{Number: 1, Dept: "HR", Serves: []string{"dept:HR"}, Backup: []string{"TX-001"}},
			{Number: 2, Dept: "TX", Serves: []string{"dept:TX"}},
			{Number: 3, Dept: "HR", Serves: []string{"*"}},
		},
		Rules: DefaultRules(),
	}
	if set != nil {
		set(&s.Rules)
	}
	return s
}

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

// at is a local time on 2026-11-23 in the hall's zone.
func at(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, shanghai) }

func newEngine(t testing.TB, rules func(r *Rules)) *Engine {
	t.Helper()
	e, err := New(testSpec(t, rules), shanghai, DefaultOpts())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func must(t testing.TB) func(Event, error) Event {
	return func(ev Event, err error) Event {
		t.Helper()
		if err != nil {
			t.Fatalf("%v", err)
		}
		return ev
	}
}

func openAll(t testing.TB, e *Engine, now time.Time) {
	for _, w := range e.cfg.Windows {
		must(t)(e.OpenWindow(now, w.Number))
	}
}

func TestTicketLife(t *testing.T) {
	e := newEngine(t, nil)
	must(t)(e.OpenWindow(at(9, 0), 1))
	iss := must(t)(e.Issue(at(9, 1), IssueReq{Item: "HR-001"}))
	if iss.Type != EvIssued || iss.Number != "A001" || iss.Ticket != 1 || iss.Day != "2026-11-23" {
		t.Fatalf("issued: %+v", iss)
	}
	if iss.EstP50S != 0 || iss.EstP90S != 0 {
		t.Errorf("an idle window serves it at once, estimate %v–%v", iss.EstP50S, iss.EstP90S)
	}
	if ws := e.IdleWindowsFor("HR-001", at(9, 1)); len(ws) != 1 || ws[0] != 1 {
		t.Errorf("idle windows %v", ws)
	}
	call := must(t)(e.CallNext(at(9, 1), 1))
	if call.Type != EvCalled || call.Ticket != 1 || call.Reason.Rule != RuleScore || call.Reason.WaitedS != 0 {
		t.Fatalf("called: %+v", call)
	}
	if _, err := e.CallNext(at(9, 1), 1); !errors.Is(err, ErrWindowBusy) {
		t.Errorf("call while busy: %v", err)
	}
	must(t)(e.Recall(at(9, 2), 1))
	must(t)(e.Start(at(9, 2), 1))
	if _, err := e.Recall(at(9, 2), 1); !errors.Is(err, ErrBadState) {
		t.Errorf("recall while serving: %v", err)
	}
	must(t)(e.Finish(at(9, 7), 1))
	v, _ := e.Ticket(1)
	if v.State != Finished || v.Window != 1 {
		t.Errorf("after finish: %+v", v)
	}
	if _, err := e.CallNext(at(9, 7), 1); !errors.Is(err, ErrNoTicket) || Code(err) != "no_ticket" {
		t.Errorf("empty: %v %q", err, Code(err))
	}
	if _, err := e.Finish(at(9, 7), 1); !errors.Is(err, ErrWindowIdle) {
		t.Errorf("finish idle: %v", err)
	}
	// The learned service time moved from the prior toward 300 s.
	if s := e.Snapshot(at(9, 8)).Items[0].ServiceS; s != 300 {
		t.Errorf("learned service %v", s)
	}
}

func TestWindowStates(t *testing.T) {
	e := newEngine(t, nil)
	must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001"}))
	if _, err := e.CallNext(at(9, 0), 1); !errors.Is(err, ErrWindowClosed) || Code(err) != "window_closed" {
		t.Fatalf("closed: %v", err)
	}
	if _, err := e.PauseWindow(at(9, 0), 1, "lunch"); !errors.Is(err, ErrWindowClosed) {
		t.Fatalf("pause closed: %v", err)
	}
	must(t)(e.OpenWindow(at(9, 0), 1))
	must(t)(e.PauseWindow(at(9, 0), 1, "系统维护"))
	if v, _ := e.Window(1); v.State != "paused" || v.Note != "系统维护" {
		t.Errorf("paused view %+v", v)
	}
	if _, err := e.CallNext(at(9, 0), 1); !errors.Is(err, ErrWindowPaused) {
		t.Fatalf("paused: %v", err)
	}
	if ws := e.IdleWindowsFor("HR-001", at(9, 0)); len(ws) != 0 {
		t.Errorf("paused window listed idle: %v", ws)
	}
	must(t)(e.ResumeWindow(at(9, 1), 1))
	must(t)(e.CallNext(at(9, 1), 1))
	// Closing while serving: the service finishes, nothing more is called.
	must(t)(e.Issue(at(9, 2), IssueReq{Item: "HR-001"}))
	must(t)(e.CloseWindow(at(9, 3), 1))
	must(t)(e.Finish(at(9, 4), 1))
	if _, err := e.CallNext(at(9, 4), 1); !errors.Is(err, ErrWindowClosed) {
		t.Fatalf("after close: %v", err)
	}
	if _, err := e.OpenWindow(at(9, 4), 99); !errors.Is(err, ErrUnknownWindow) {
		t.Errorf("unknown window: %v", err)
	}
	if _, err := e.Issue(at(9, 4), IssueReq{Item: "XX-1"}); !errors.Is(err, ErrUnknownItem) || Code(err) != "unknown_item" {
		t.Errorf("unknown item: %v", err)
	}
}

func TestNumberingPerPrefixPerLocalDay(t *testing.T) {
	e := newEngine(t, nil)
	n := func(now time.Time, item string) string {
		t.Helper()
		return must(t)(e.Issue(now, IssueReq{Item: item})).Number
	}
	// HR-001 and HR-002 share prefix A: one counter.
	if got := []string{n(at(9, 0), "HR-001"), n(at(9, 1), "HR-002"), n(at(9, 2), "TX-001"), n(at(9, 3), "HR-001")}; !reflect.DeepEqual(got, []string{"A001", "A002", "B001", "A003"}) {
		t.Fatalf("numbers %v", got)
	}
	// UTC midnight is 08:00 in Shanghai: no reset there.
	utcMidnight := time.Date(2026, 11, 24, 0, 0, 30, 0, time.UTC)
	if got := n(utcMidnight, "TX-001"); got != "B002" {
		t.Errorf("reset at UTC midnight: %s", got)
	}
	// Local midnight resets; A001..A003 are still live (waiting), so the
	// new day's counter skips their numbers rather than duplicating one.
	next := time.Date(2026, 11, 24, 0, 0, 30, 0, shanghai)
	if got := n(next, "TX-001"); got != "B003" {
		t.Errorf("B001/B002 are live; got %s", got)
	}
	if got := n(next, "HR-001"); got != "A004" {
		t.Errorf("A001..A003 are live; got %s", got)
	}
	// Once yesterday's tickets are gone the numbers come back.
	for id := int64(1); id <= 7; id++ {
		must(t)(e.Cancel(next, id, "test"))
	}
	day3 := time.Date(2026, 11, 25, 8, 0, 0, 0, shanghai)
	if got := n(day3, "HR-001"); got != "A001" {
		t.Errorf("new day: %s", got)
	}
	if ev := must(t)(e.Issue(day3, IssueReq{Item: "HR-002"})); ev.Day != "2026-11-25" || ev.Seq != 2 {
		t.Errorf("day/seq %+v", ev)
	}
}

func TestOneTicketPerPersonPerItem(t *testing.T) {
	e := newEngine(t, nil)
	openAll(t, e, at(9, 0))
	p := IssueReq{Item: "HR-001", Person: "hmac:abc"}
	must(t)(e.Issue(at(9, 0), p))
	if _, err := e.Issue(at(9, 1), p); !errors.Is(err, ErrDuplicatePerson) || Code(err) != "duplicate_person" {
		t.Fatalf("duplicate: %v", err)
	}
	must(t)(e.Issue(at(9, 1), IssueReq{Item: "HR-002", Person: "hmac:abc"})) // another item
	must(t)(e.Issue(at(9, 1), IssueReq{Item: "HR-001", Person: "hmac:abc", Proxy: true}))
	// After the first ticket ends the person may take another.
	must(t)(e.CallNext(at(9, 2), 1))
	must(t)(e.Finish(at(9, 3), 1))
	must(t)(e.Issue(at(9, 4), p))
}

func TestNoShowRequeueThenVoid(t *testing.T) {
	e := newEngine(t, func(r *Rules) { r.NoShowRequeueAfter, r.NoShowVoidAfter = 2, 2 })
	must(t)(e.OpenWindow(at(9, 0), 1))
	for i := 0; i < 4; i++ {
		must(t)(e.Issue(at(9, i), IssueReq{Item: "HR-001"}))
	}
	must(t)(e.CallNext(at(9, 5), 1)) // A001
	ns := must(t)(e.NoShow(at(9, 6), 1))
	if ns.Void {
		t.Fatal("first no-show voided")
	}
	// A001 goes behind two waiting tickets: A002, A003, A001, A004.
	var order []string
	for i := 0; i < 4; i++ {
		ev := must(t)(e.CallNext(at(9, 10+i), 1))
		order = append(order, ev.Number)
		if ev.Number == "A001" {
			if ns2 := must(t)(e.NoShow(at(9, 10+i), 1)); !ns2.Void {
				t.Fatal("second no-show not void")
			}
			continue
		}
		must(t)(e.Finish(at(9, 10+i), 1))
	}
	if !reflect.DeepEqual(order, []string{"A002", "A003", "A001", "A004"}) {
		t.Fatalf("order %v", order)
	}
	if v, _ := e.Ticket(1); v.State != Voided || v.NoShows != 2 {
		t.Errorf("A001: %+v", v)
	}
	if _, ok := e.TicketByNumber("A001"); ok {
		t.Error("voided number still live")
	}
}

func TestTransfer(t *testing.T) {
	e := newEngine(t, nil)
	openAll(t, e, at(9, 0))
	must(t)(e.PauseWindow(at(9, 0), 3, "break"))
	a := must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001"}))
	must(t)(e.CallNext(at(9, 0), 1))
	must(t)(e.Start(at(9, 1), 1))
	// Two TX tickets arrive while A001 is served; window 2 is busy.
	must(t)(e.Issue(at(9, 2), IssueReq{Item: "TX-001"}))
	must(t)(e.CallNext(at(9, 2), 2))
	must(t)(e.Issue(at(9, 3), IssueReq{Item: "TX-001"}))
	// A001 turns out to need TX-001: it keeps its place (issued 09:00).
	tr := must(t)(e.Transfer(at(9, 4), 1, "TX-001", 0, true))
	if tr.Type != EvTransferred || tr.ToItem != "TX-001" || tr.Key != a.Key {
		t.Fatalf("transfer %+v", tr)
	}
	must(t)(e.Finish(at(9, 5), 2))
	if ev := must(t)(e.CallNext(at(9, 5), 2)); ev.Ticket != a.Ticket || ev.Number != "A001" {
		t.Fatalf("transferred ticket should go first, got %+v", ev)
	}
	// Transfer to a window: only that window calls it, with rule direct.
	tr2 := must(t)(e.Transfer(at(9, 6), 2, "", 3, true))
	if tr2.ToWindow != 3 {
		t.Fatal(tr2)
	}
	if ev := must(t)(e.CallNext(at(9, 6), 2)); ev.Number != "B002" {
		t.Fatalf("window 2 took %s", ev.Number)
	}
	must(t)(e.ResumeWindow(at(9, 7), 3))
	if ev := must(t)(e.CallNext(at(9, 7), 3)); ev.Ticket != a.Ticket || ev.Reason.Rule != RuleDirect {
		t.Fatalf("direct: %+v", ev)
	}
}

func TestMoveTicketsAllOrNothing(t *testing.T) {
	e := newEngine(t, nil)
	must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001"}))
	must(t)(e.Issue(at(9, 1), IssueReq{Item: "HR-001"}))
	if _, err := e.MoveTickets(at(9, 2), []int64{1, 99}, "TX-001", 0, true); !errors.Is(err, ErrUnknownTicket) {
		t.Fatalf("bad id: %v", err)
	}
	if v, _ := e.Ticket(1); v.Item != "HR-001" {
		t.Fatal("moved despite the error")
	}
	evs, err := e.MoveTickets(at(9, 2), []int64{1, 2}, "TX-001", 0, true)
	if err != nil || len(evs) != 2 {
		t.Fatal(evs, err)
	}
	s := e.Snapshot(at(9, 2))
	if s.Items[0].Waiting != 0 || s.Items[2].Waiting != 2 {
		t.Errorf("after move %+v", s.Items)
	}
}

func TestRoutingScoreHeadStartAndReasons(t *testing.T) {
	e := newEngine(t, func(r *Rules) {
		r.EscalateAfterS = 3600
		r.HeadStartMin = map[string]float64{"walkin": 0, "appointment": 15, "elderly": 20, "green": 30}
	}) // nobody protected yet
	must(t)(e.OpenWindow(at(9, 0), 3))
	must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001"}))
	must(t)(e.CallNext(at(9, 0), 3))
	must(t)(e.Issue(at(9, 1), IssueReq{Item: "HR-001"}))                      // walk-in, 20 min at 9:21
	must(t)(e.Issue(at(9, 10), IssueReq{Item: "TX-001", Class: Green}))       // 11+30 = 41
	must(t)(e.Issue(at(9, 15), IssueReq{Item: "HR-002", Class: Elderly}))     // 6+20 = 26
	must(t)(e.Issue(at(9, 20), IssueReq{Item: "HR-002", Class: Appointment})) // 1+15 = 16
	must(t)(e.Finish(at(9, 21), 3))
	var got []string
	for i := 0; i < 4; i++ {
		ev := must(t)(e.CallNext(at(9, 21), 3))
		got = append(got, ev.Number)
		if i == 0 && (ev.Reason.ScoreMin != 41 || ev.Reason.HeadStartMin != 30 || ev.Reason.WaitedS != 660 || ev.Reason.Candidates != 3) {
			t.Errorf("reason %+v", ev.Reason)
		}
		must(t)(e.Finish(at(9, 21), 3))
	}
	if !reflect.DeepEqual(got, []string{"B001", "A003", "A002", "A004"}) {
		t.Fatalf("order %v", got)
	}
}

// TestProtection: past the protection threshold (Opts.ProtectAfter) a
// ticket is no longer overtaken by later tickets with a head start.
func TestProtection(t *testing.T) {
	e, err := New(testSpec(t, nil), shanghai, Opts{ProtectAfter: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	must(t)(e.OpenWindow(at(9, 0), 3))
	must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001"}))
	must(t)(e.CallNext(at(9, 0), 3))
	must(t)(e.Issue(at(9, 1), IssueReq{Item: "HR-001"}))                // walk-in: 20 min waited at 9:21
	must(t)(e.Issue(at(9, 10), IssueReq{Item: "HR-001", Class: Green})) // 11 + 30 = 41 by score
	must(t)(e.Issue(at(9, 20), IssueReq{Item: "TX-001", Class: Green})) // 1 + 30 = 31
	must(t)(e.Finish(at(9, 21), 3))
	var got []string
	for i := 0; i < 3; i++ {
		ev := must(t)(e.CallNext(at(9, 21), 3))
		got = append(got, ev.Number+"/"+ev.Reason.Rule)
		must(t)(e.Finish(at(9, 21), 3))
	}
	// The walk-in (protected since 9:16) goes first, then the greens by
	// issue time (the 9:10 one is protected too; the 9:20 one is not).
	want := []string{"A002/protected", "A003/score", "B001/score"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestRoutingTiesByIssueTime(t *testing.T) {
	e := newEngine(t, nil)
	must(t)(e.OpenWindow(at(9, 0), 3))
	must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001"}))
	must(t)(e.CallNext(at(9, 0), 3))
	// Same score (walk-in at 9:30, appointment at 9:45): the earlier ticket.
	must(t)(e.Issue(at(9, 45), IssueReq{Item: "TX-001", Class: Appointment}))
	must(t)(e.Issue(at(9, 30), IssueReq{Item: "HR-002"}))
	must(t)(e.Finish(at(9, 50), 3))
	if ev := must(t)(e.CallNext(at(9, 50), 3)); ev.Item != "HR-002" {
		t.Fatalf("tie went to %s", ev.Item)
	}
}

func TestBackupEscalation(t *testing.T) {
	e := newEngine(t, func(r *Rules) { r.EscalateAfterS = 600 })
	must(t)(e.OpenWindow(at(9, 0), 1))
	// Window 1 is idle with nothing of its own: it takes backup work at once.
	must(t)(e.Issue(at(9, 0), IssueReq{Item: "TX-001"}))
	if ws := e.IdleWindowsFor("TX-001", at(9, 0)); !reflect.DeepEqual(ws, []int{1}) {
		t.Fatalf("idle for backup: %v", ws)
	}
	if ev := must(t)(e.CallNext(at(9, 0), 1)); ev.Reason.Rule != RuleBackup {
		t.Fatalf("idle backup %+v", ev.Reason)
	}
	must(t)(e.Finish(at(9, 1), 1))
	// With its own line non-empty it waits for the threshold.
	must(t)(e.Issue(at(9, 2), IssueReq{Item: "TX-001"}))
	must(t)(e.Issue(at(9, 3), IssueReq{Item: "HR-001"}))
	if next, ok := e.NextEscalation(1, at(9, 3)); !ok || !next.Equal(at(9, 12)) {
		t.Errorf("next escalation %v %v", next, ok)
	}
	must(t)(e.Issue(at(9, 4), IssueReq{Item: "HR-001"}))
	if ev := must(t)(e.CallNext(at(9, 5), 1)); ev.Item != "HR-001" || ev.Reason.Rule != RuleScore {
		t.Fatalf("before threshold %+v", ev)
	}
	must(t)(e.Finish(at(9, 12), 1))
	if ev := must(t)(e.CallNext(at(9, 12), 1)); ev.Item != "TX-001" || ev.Reason.Rule != RuleBackup || ev.Reason.WaitedS != 600 {
		t.Fatalf("after threshold %+v", ev)
	}
}

func TestBoundedOvertaking(t *testing.T) {
	e := newEngine(t, func(r *Rules) { r.MaxOvertake, r.HeadStartMin["green"] = 2, 600 })
	must(t)(e.OpenWindow(at(9, 0), 3))
	must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001"}))
	must(t)(e.CallNext(at(9, 0), 3))
	must(t)(e.Issue(at(9, 1), IssueReq{Item: "HR-002"})) // the walk-in that must not starve
	for i := 0; i < 4; i++ {
		must(t)(e.Issue(at(9, 2+i), IssueReq{Item: "TX-001", Class: Green}))
	}
	must(t)(e.Finish(at(9, 10), 3))
	var rules []string
	for i := 0; i < 3; i++ {
		ev := must(t)(e.CallNext(at(9, 10+i), 3))
		rules = append(rules, ev.Item+"/"+ev.Reason.Rule)
		must(t)(e.Finish(at(9, 10+i), 3))
	}
	want := []string{"TX-001/score", "TX-001/score", "HR-002/overtake_guard"}
	if !reflect.DeepEqual(rules, want) {
		t.Fatalf("got %v want %v", rules, want)
	}
}

func TestFifoAndPooledIgnoreClasses(t *testing.T) {
	for _, p := range []Policy{PolicyFIFO, PolicyPooled, PolicyDedicated} {
		e, err := New(testSpec(t, nil), shanghai, Opts{Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		must(t)(e.OpenWindow(at(9, 0), 1))
		must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001"}))
		must(t)(e.Issue(at(9, 1), IssueReq{Item: "HR-001", Class: Green}))
		ev := must(t)(e.CallNext(at(9, 2), 1))
		if ev.Number != "A001" || ev.Reason.Rule != RuleOldest {
			t.Errorf("%s: %+v", p, ev)
		}
		must(t)(e.Finish(at(9, 2), 1))
		if ev := must(t)(e.CallNext(at(9, 3), 1)); ev.Number != "A002" {
			t.Errorf("%s: %+v", p, ev)
		}
		must(t)(e.Finish(at(9, 4), 1))
		must(t)(e.Issue(at(9, 5), IssueReq{Item: "TX-001"}))
		ev, err = e.CallNext(at(9, 30), 1)
		if p == PolicyPooled {
			if err != nil || ev.Item != "TX-001" {
				t.Errorf("pooled window 1 should serve TX: %+v %v", ev, err)
			}
		} else if !errors.Is(err, ErrNoTicket) {
			t.Errorf("%s: window 1 took TX (no backups outside default): %+v %v", p, ev, err)
		}
	}
}

func TestEstimates(t *testing.T) {
	e := newEngine(t, nil)
	must(t)(e.OpenWindow(at(9, 0), 2))
	var prev Event
	for i := 0; i < 6; i++ {
		ev := must(t)(e.Issue(at(9, 0), IssueReq{Item: "TX-001"}))
		if i == 0 {
			must(t)(e.CallNext(at(9, 0), 2))
			continue
		}
		if ev.Ahead != i-1 || ev.EstP90S < ev.EstP50S || (i > 1 && ev.EstMeanS <= prev.EstMeanS) {
			t.Errorf("ticket %d: ahead %d mean %.0f p50 %.0f p90 %.0f", i, ev.Ahead, ev.EstMeanS, ev.EstP50S, ev.EstP90S)
		}
		prev = ev
	}
	// One window at 100 s a ticket: the 5th waiting ticket's mean is 500 s.
	if prev.EstMeanS != 500 {
		t.Errorf("mean %v", prev.EstMeanS)
	}
	est, err := e.Estimate(prev.Ticket, at(9, 1))
	if err != nil || est.Ahead != 4 {
		t.Fatal(est, err)
	}
	if _, err := e.Estimate(1, at(9, 1)); !errors.Is(err, ErrBadState) {
		t.Errorf("estimate of a called ticket: %v", err)
	}
	// A window serving two equally loaded lines counts half for each.
	e2 := newEngine(t, nil)
	must(t)(e2.OpenWindow(at(9, 0), 1))
	must(t)(e2.Issue(at(9, 0), IssueReq{Item: "HR-002"}))
	must(t)(e2.CallNext(at(9, 0), 1))
	must(t)(e2.Issue(at(9, 0), IssueReq{Item: "HR-001"})) // 300 s waiting
	ev := must(t)(e2.Issue(at(9, 0), IssueReq{Item: "HR-002"}))
	// HR-002 work (1×200) vs HR-001 (1×300) plus TX backup (none): share 0.4.
	if want := 200 / 0.4; ev.EstMeanS < want-1e-9 || ev.EstMeanS > want+1e-9 {
		t.Errorf("shared-window mean %v want %v", ev.EstMeanS, want)
	}
}

func TestEventJSON(t *testing.T) {
	e := newEngine(t, nil)
	openAll(t, e, at(9, 0))
	ev := must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001", Class: Green, Person: "hmac:x"}))
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["type"] != "issued" || m["class"] != "green" || m["number"] != "A001" || m["at"] == nil {
		t.Errorf("json %s", b)
	}
	back, err := UnmarshalEvent(b)
	if err != nil || !back.At.Equal(ev.At) || back.Class != Green || back.Key != ev.Key {
		t.Errorf("round trip %+v %v", back, err)
	}
	call := must(t)(e.CallNext(at(9, 0), 1))
	b, _ = json.Marshal(call)
	var m2 map[string]any
	_ = json.Unmarshal(b, &m2)
	if r, ok := m2["reason"].(map[string]any); !ok || r["rule"] != "score" {
		t.Errorf("called json %s", b)
	}
	must(t)(e.Issue(at(9, 1), IssueReq{Item: "TX-001"}))
	snap, err := json.Marshal(e.Snapshot(at(9, 2)))
	if err != nil || !strings.Contains(string(snap), `"state":"waiting"`) || !strings.Contains(string(snap), `"current_number":"A001"`) {
		t.Errorf("snapshot json %s %v", snap, err)
	}
	if _, err := UnmarshalEvent([]byte(`{"type":"nope","at":"2026-11-23T01:00:00Z"}`)); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := UnmarshalEvent([]byte(`{"type":"issued","class":"vip"}`)); err == nil {
		t.Error("bad class accepted")
	}
}

// TestReplayRebuildsState drives an engine with random commands, then
// replays the JSON-encoded events into a fresh engine: same state.
func TestReplayRebuildsState(t *testing.T) {
	cfg := testSpec(t, nil)
	live, _ := New(cfg, shanghai, DefaultOpts())
	rng := rand.New(rand.NewPCG(1, 2))
	var log [][]byte
	record := func(ev Event, err error) {
		if err != nil {
			return
		}
		b, merr := json.Marshal(ev)
		if merr != nil {
			t.Fatal(merr)
		}
		log = append(log, b)
	}
	now := at(9, 0)
	items := []string{"HR-001", "HR-002", "TX-001"}
	for step := 0; step < 8000; step++ {
		now = now.Add(time.Duration(rng.IntN(90)) * time.Second)
		w := 1 + rng.IntN(3)
		switch rng.IntN(12) {
		case 0, 1, 2:
			record(live.Issue(now, IssueReq{Item: items[rng.IntN(3)], Class: Class(rng.IntN(4)), Person: []string{"", "p1", "p2"}[rng.IntN(3)]}))
		case 3, 4:
			record(live.CallNext(now, w))
		case 5:
			record(live.Start(now, w))
		case 6, 7:
			record(live.Finish(now, w))
		case 8:
			record(live.NoShow(now, w))
		case 9:
			record(live.Transfer(now, w, items[rng.IntN(3)], []int{0, 0, 1, 2, 3}[rng.IntN(5)], rng.IntN(2) == 0))
		case 10:
			switch rng.IntN(6) {
			case 0:
				record(live.OpenWindow(now, w))
			case 1:
				record(live.CloseWindow(now, w))
			case 2:
				record(live.PauseWindow(now, w, "x"))
			case 3:
				record(live.ResumeWindow(now, w))
			case 4:
				record(live.SetBackup(now, w, []string{items[rng.IntN(3)]}))
			case 5:
				record(live.SetServes(now, w, []string{[]string{"*", "dept:HR", "dept:TX"}[rng.IntN(3)]}))
			}
		case 11:
			if rng.IntN(3) == 0 {
				record(live.Cancel(now, 1+rng.Int64N(int64(len(live.tickets))+1), "left"))
			} else {
				record(live.Recall(now, w))
			}
		}
	}
	if len(log) < 1000 {
		t.Fatalf("only %d events", len(log))
	}
	replayed, _ := New(cfg, shanghai, DefaultOpts())
	for i, b := range log {
		ev, err := UnmarshalEvent(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := replayed.Apply(ev); err != nil {
			t.Fatalf("event %d %s: %v", i, b, err)
		}
	}
	// A saved state restores the same engine (the store's snapshots).
	saved, err := live.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(cfg, shanghai, DefaultOpts(), saved)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(live.Snapshot(now), restored.Snapshot(now)) {
		t.Fatal("restored state differs")
	}
	again, _ := restored.MarshalState()
	if string(again) != string(saved) {
		t.Fatal("restore then save is not the same state")
	}
	for w := 1; w <= 3; w++ {
		x, errX := live.Clone().CallNext(now, w)
		y, errY := restored.Clone().CallNext(now, w)
		if Code(errX) != Code(errY) || x.Ticket != y.Ticket || x.Reason != y.Reason {
			t.Errorf("restored window %d: %v/%v vs %v/%v", w, x.Ticket, errX, y.Ticket, errY)
		}
		ix, _ := live.Clone().Issue(now, IssueReq{Item: items[w-1], Person: "p1"})
		iy, _ := restored.Clone().Issue(now, IssueReq{Item: items[w-1], Person: "p1"})
		if !reflect.DeepEqual(ix, iy) {
			t.Errorf("restored issue: %+v vs %+v", ix, iy)
		}
	}
	if _, err := Restore(cfg, shanghai, Opts{Policy: PolicyFIFO}, saved); !errors.Is(err, ErrInconsistent) {
		t.Errorf("restore under another policy: %v", err)
	}
	if _, err := Restore(cfg, shanghai, DefaultOpts(), []byte(`{"v":99}`)); !errors.Is(err, ErrStateVersion) {
		t.Errorf("restore another version: %v", err)
	}

	a, b := live.Snapshot(now), replayed.Snapshot(now)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("replayed state differs")
	}
	if !reflect.DeepEqual(live.tickets, replayed.tickets) || !reflect.DeepEqual(live.cal, replayed.cal) || !reflect.DeepEqual(live.counter, replayed.counter) {
		t.Fatal("replayed internals differ")
	}
	// And the next decision is the same.
	for w := 1; w <= 3; w++ {
		x, errX := live.Clone().CallNext(now, w)
		y, errY := replayed.Clone().CallNext(now, w)
		if Code(errX) != Code(errY) || x.Ticket != y.Ticket {
			t.Errorf("window %d: %v/%v vs %v/%v", w, x.Ticket, errX, y.Ticket, errY)
		}
	}
}

func TestCloneIsIndependent(t *testing.T) {
	e := newEngine(t, nil)
	openAll(t, e, at(9, 0))
	must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001"}))
	must(t)(e.Issue(at(9, 0), IssueReq{Item: "HR-001"}))
	before := e.Snapshot(at(9, 1))
	c := e.Clone()
	must(t)(c.CallNext(at(9, 1), 1))
	must(t)(c.SetServes(at(9, 1), 2, []string{"*"}))
	must(t)(c.Issue(at(9, 1), IssueReq{Item: "TX-001"}))
	if after := e.Snapshot(at(9, 1)); !reflect.DeepEqual(before, after) {
		t.Fatal("clone changed the original")
	}
}

func TestApplyRejectsInconsistent(t *testing.T) {
	e := newEngine(t, nil)
	for _, ev := range []Event{
		{Type: EvIssued, Ticket: 5, Item: "HR-001", Number: "A001"},
		{Type: EvIssued, Ticket: 1, Item: "nope", Number: "A001"},
		{Type: EvCalled, Ticket: 1, Window: 1},
		{Type: EvFinished, Ticket: 1, Window: 1},
		{Type: EvServesChanged, Window: 1, Refs: []string{"dept:ZZ"}},
		{Type: "bogus"},
	} {
		if err := e.Apply(ev); err == nil {
			t.Errorf("%+v accepted", ev)
		}
	}
}

func snapshotsEqual(a, b Snapshot) bool { return reflect.DeepEqual(a, b) }
