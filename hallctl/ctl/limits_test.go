package ctl

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/servicehall/servicehall/wire"
)

// Finding (issue 10, item 2): anyone could rate any served ticket. A
// rating pad's press counts only for the session the controller opened on
// that very pad, for the ticket just finished at its window, once: a pad
// of another window, or a guessed session, rates nothing and is counted
// as a refused event.
func TestRatingPadOnlyItsOwnSession(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	w := r.newAgent("win-1", append(windowDevices, wire.DeviceInfo{ID: "pad-2", Kind: wire.KindRating, Window: 2})...)
	ctx := context.Background()
	for range 2 {
		if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-002"}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyCallNext})
	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyFinish})
	var ro wire.RatingOpen
	for ro.Session == "" {
		if c := w.next(); c.Name == wire.CmdRatingOpen {
			ro = args[wire.RatingOpen](t, c)
		}
	}
	rejected := r.counter(r.c.metrics.rejected.WithLabelValues("event", "handler"))
	w.emit("pad-2", wire.EvtRating, wire.Rating{Session: ro.Session, Level: 1}) // a pad of window 2
	w.emit("pad-1", wire.EvtRating, wire.Rating{Session: "2", Level: 1})        // a guessed ticket id
	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyPause})
	r.waitFor("window paused", func() bool { return r.window(1).State == "paused" })
	if r.c.Rated(1) || r.c.Rated(2) || len(r.records(RatingStream)) != 0 {
		t.Fatal("a rating from another window's pad or for a guessed session was recorded")
	}
	// The guessed session is refused by the rating check; the pad of
	// window 2 is refused before it, by enrolment (win-1 is not enrolled
	// for window 2: TestForeignKeypadClaimRefused), under its own reason.
	if n := r.counter(r.c.metrics.rejected.WithLabelValues("event", "handler")) - rejected; n < 1 {
		t.Fatalf("refused ratings counted %v, want at least 1", n)
	}
	// The window's own pad, in its session: recorded once.
	w.emit("pad-1", wire.EvtRating, wire.Rating{Session: ro.Session, Level: 4})
	r.waitFor("the rating recorded", func() bool { return r.c.Rated(1) })
	w.emit("pad-1", wire.EvtRating, wire.Rating{Session: ro.Session, Level: 1})
	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyResume})
	r.waitFor("window resumed", func() bool { return r.window(1).State == "open" })
	if n := len(r.records(RatingStream)); n != 1 {
		t.Fatalf("%d ratings recorded, want 1", n)
	}
}

// A session left open past its timeout takes no rating.
func TestRatingPadSessionTimesOut(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	w := r.newAgent("win-1", windowDevices...)
	if _, err := r.c.Issue(context.Background(), IssueRequest{Item: "HR-002"}, "", ""); err != nil {
		t.Fatal(err)
	}
	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyCallNext})
	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyFinish})
	var ro wire.RatingOpen
	for ro.Session == "" {
		if c := w.next(); c.Name == wire.CmdRatingOpen {
			ro = args[wire.RatingOpen](t, c)
		}
	}
	r.clock.Advance(ratingTimeout + padGrace + time.Second)
	w.emit("pad-1", wire.EvtRating, wire.Rating{Session: ro.Session, Level: 5})
	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyPause})
	r.waitFor("window paused", func() bool { return r.window(1).State == "paused" })
	if r.c.Rated(1) {
		t.Fatal("a timed-out session took a rating")
	}
}

// Finding (issue 10, item 9): 200,000 anonymous tickets put the next
// applicant 25,002nd. An item gives at most
// limits.tickets_per_item_per_day tickets a day (item_full_today), other
// items are not affected, the count survives a restart (it comes from the
// queue's state), appointments are not capped, and the next day starts
// afresh.
func TestItemDailyCap(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall+"limits: {tickets_per_item_per_day: 2}\n", nil)
	r.start()
	ctx := context.Background()
	for range 2 {
		if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	full := func() {
		t.Helper()
		_, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001", Source: "web:x1"}, "", "")
		if !errors.Is(err, ErrItemFullToday) || Code(err) != "item_full_today" {
			t.Fatalf("third ticket of the day: %v (code %q), want item_full_today", err, Code(err))
		}
	}
	full()
	if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-002"}, "", ""); err != nil {
		t.Fatalf("another item: %v", err)
	}
	r.restart()
	full()
	if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001", Class: "appointment"}, "", ""); err != nil {
		t.Fatalf("an appointment's ticket: %v", err)
	}
	if n := r.counter(r.c.lim.refused.WithLabelValues("item_full_today")); n != 1 { // this process's
		t.Fatalf("refusals counted %v", n)
	}
	r.clock.Advance(24 * time.Hour)
	if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", ""); err != nil {
		t.Fatalf("the next day: %v", err)
	}
}

// Finding (issue 10, item 9): a dispenser issues at most
// limits.tickets_per_client_per_min tickets a minute; over it, its
// presses are refused and counted, other dispensers still issue, and it
// issues again once the minute refills.
func TestPressRateLimitPerDispenser(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall+"limits: {tickets_per_client_per_min: 3}\n", nil)
	r.start()
	k := r.newAgent("kiosk-1",
		wire.DeviceInfo{ID: "btn-1", Kind: wire.KindButton, Item: "HR-001"},
		wire.DeviceInfo{ID: "btn-2", Kind: wire.KindButton, Item: "HR-002"},
		wire.DeviceInfo{ID: "prn-1", Kind: wire.KindPrinter})
	waiting := func() int { return len(r.c.Snapshot().Waiting) }
	for range 5 {
		k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	}
	k.emit("btn-2", wire.EvtPress, wire.Press{Item: "HR-002"})
	r.waitFor("the other dispenser's ticket", func() bool { _, ok := r.c.FindTicket("B001"); return ok })
	if n := waiting(); n != 4 {
		t.Fatalf("%d tickets waiting, want 3 from btn-1 and 1 from btn-2", n)
	}
	if n := r.counter(r.c.lim.refused.WithLabelValues("dispenser_rate")); n != 2 {
		t.Fatalf("refused presses counted %v, want 2", n)
	}
	r.clock.Advance(20 * time.Second) // one token back
	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	r.waitFor("a press after the refill", func() bool { return waiting() == 5 })
}

// Finding (issue 10, item 9): clerk input became metric labels (a 12 MB
// /metrics). 10,000 distinct junk actions, ack statuses, event types and
// refusal reasons leave every metric with a bounded set of label values
// (known actions + "other"; at most limits.metric_label_values others).
func TestMetricLabelsBounded(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall+"limits: {metric_label_values: 20}\n", nil)
	ctx := context.Background()
	for i := range 10_000 {
		junk := "junk-" + strconv.Itoa(i)
		if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: junk}); err == nil {
			t.Fatalf("action %s accepted", junk)
		}
		r.c.metrics.CommandOutcome("print", junk)
		r.c.metrics.EventHandled(junk)
		r.c.metrics.Rejected("event", junk)
	}
	fams, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if n := len(f.GetMetric()); n > 21 {
			t.Errorf("%s has %d label sets, want at most 21", f.GetName(), n)
		}
	}
	if n := r.counter(r.c.metrics.actions.WithLabelValues(otherLabel, "unknown_action")); n != 10_000 {
		t.Fatalf("junk actions counted as other: %v", n)
	}
}
