package ctl

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
)

const floorHall = `hall: {id: f, name: 楼层大厅, hours: {open: "08:00", close: "18:00"}}
departments: [{code: HR, name: 人社}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}
windows:
  - {number: 1, dept: HR, serves: ["*"], zone: east}
  - {number: 2, dept: HR, serves: ["*"], zone: west}
`

// reopen builds a second controller on the same log (a restart).
func reopen(t *testing.T, c *Controller, st *store.Log, clock clockwork.Clock) *Controller {
	t.Helper()
	c2, err := New(context.Background(), Options{Config: c.cfg, Clock: clock, Store: st,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return c2
}

type floorView struct {
	Calls   []CallRecord
	Reason  *queue.Reason
	Clerk   string
	Clerk2  string
	Util1   float64
	Util2   float64
	Ratings []Rating
}

func viewFloor(c *Controller) floorView {
	var cur int64
	c.View(func(e *queue.Engine) { w, _ := e.Window(1); cur = w.Current })
	v := floorView{Calls: c.Calls(10), Ratings: c.RecentRatings(time.Time{})}
	v.Reason, v.Clerk = c.WindowFloor(1, cur)
	_, v.Clerk2 = c.WindowFloor(2, 0)
	v.Util1, v.Util2 = c.Utilisation(1, c.Now()), c.Utilisation(2, c.Now())
	return v
}

// The floor (calls, reasons, clerks, utilisation, ratings) is a
// projection of the log: a restart shows the same, where the old web
// tracker started empty.
func TestFloorSurvivesRestart(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c, clock, st := newTestController(t, floorHall, time.Date(2026, 11, 23, 9, 0, 0, 0, sh))
	ctx := context.Background()
	for _, w := range []int{1, 2} {
		if _, err := c.Manage(ctx, ManagerAction{Type: "open", Window: w}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	act := func(w int, action, clerk string) {
		t.Helper()
		if _, err := c.Act(ctx, ActRequest{Window: w, Action: action, Clerk: clerk}); err != nil {
			t.Fatalf("window %d %s: %v", w, action, err)
		}
	}
	clock.Advance(time.Minute)
	act(1, "call-next", "zhang")
	act(1, "start", "zhang")
	clock.Advance(4 * time.Minute)
	act(1, "finish", "zhang")
	if _, err := c.Rate(ctx, 1, 5, "api", ""); err != nil {
		t.Fatal(err)
	}
	act(1, "call-next", "zhang")
	act(2, "call-next", "li")
	clock.Advance(time.Minute)
	act(2, "recall", "li")
	clock.Advance(time.Minute)

	before := viewFloor(c)
	if len(before.Calls) != 4 || before.Calls[0].Number != "A003" || !before.Calls[0].Recall || before.Calls[0].Zone != "west" ||
		before.Calls[3].Number != "A001" || before.Calls[3].Window != 1 {
		t.Errorf("calls %+v", before.Calls)
	}
	if before.Reason == nil || before.Clerk != "zhang" || before.Clerk2 != "li" {
		t.Errorf("window 1 reason %v clerk %q, window 2 clerk %q", before.Reason, before.Clerk, before.Clerk2)
	}
	// Window 1: open 7 min, busy 4 (A001) + 2 (A002 since its call).
	if want := 6.0 / 7; before.Util1 < want-1e-9 || before.Util1 > want+1e-9 {
		t.Errorf("window 1 utilisation %v, want %v", before.Util1, want)
	}
	if len(before.Ratings) != 1 || before.Ratings[0].Level != 5 || before.Ratings[0].Window != 1 {
		t.Errorf("ratings %+v", before.Ratings)
	}
	after := viewFloor(reopen(t, c, st, clock))
	if !reflect.DeepEqual(before, after) {
		t.Errorf("after a restart the floor changed:\nbefore %+v\nafter  %+v", before, after)
	}

	// The next day starts empty (clerks and recent ratings carry over).
	clock.Advance(24 * time.Hour)
	if calls := c.Calls(10); len(calls) != 0 {
		t.Errorf("yesterday's calls on today's screen: %+v", calls)
	}
	if u := c.Utilisation(1, c.Now()); u != 0 {
		t.Errorf("utilisation carried into the next day: %v", u)
	}
	if _, clerk := c.WindowFloor(1, 0); clerk != "zhang" {
		t.Errorf("clerk %q", clerk)
	}
}

// A long replay saves a floor snapshot; the next start restores it and
// replays only what came after, to the same floor.
func TestFloorSnapshot(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c, clock, st := newTestController(t, floorHall, time.Date(2026, 11, 23, 8, 0, 0, 0, sh))
	ctx := context.Background()
	if _, err := c.Manage(ctx, ManagerAction{Type: "open", Window: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", ""); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, err := c.Act(ctx, ActRequest{Window: 1, Action: "call-next", Clerk: "wang"}); err != nil {
		t.Fatal(err)
	}
	// A day of shift changes: more records than snapshotEvery.
	var b store.Batch
	for i := range snapshotEvery + 1 {
		b.Append(casesys.ClerkRecord(1+i%2, fmt.Sprintf("clerk-%d", i), clock.Now()))
	}
	if _, err := st.Commit(ctx, &b); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	want := viewFloor(c)
	if want.Clerk != fmt.Sprintf("clerk-%d", snapshotEvery) || len(want.Calls) != 1 || want.Util1 != 0.5 {
		t.Fatalf("floor before the restart: %+v", want)
	}
	c2 := reopen(t, c, st, clock)
	snap, err := st.LatestSnapshot(ctx, FloorStream)
	if err != nil {
		t.Fatalf("no floor snapshot after a replay of %d records: %v", snapshotEvery+1, err)
	}
	if !reflect.DeepEqual(viewFloor(c2), want) {
		t.Errorf("rebuilt floor differs")
	}
	// One more call after the snapshot, then a start from the snapshot.
	if _, err := c2.Issue(ctx, IssueRequest{Item: "HR-001"}, "", ""); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"no-show", "call-next"} {
		if _, err := c2.Act(ctx, ActRequest{Window: 1, Action: a, Clerk: "zhao"}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	want = viewFloor(c2)
	c3 := reopen(t, c2, st, clock)
	if len(want.Calls) != 2 || want.Clerk != "zhao" {
		t.Errorf("after the snapshot: %+v", want)
	}
	if got := viewFloor(c3); !reflect.DeepEqual(got, want) {
		t.Errorf("from the snapshot (upto %d): %+v, want %+v", snap.Upto, got, want)
	}
}

// The manager console's queue view: estimates, clerks, utilisation and
// the queue's alerts.
func TestManagerFloor(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c, clock, _ := newTestController(t, floorHall, time.Date(2026, 11, 23, 9, 0, 0, 0, sh))
	ctx := context.Background()
	for range 2 {
		if _, err := c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(20 * time.Minute)
	mf := c.ManagerFloor()
	if len(mf.Items) != 1 || mf.Items[0].Name != "社保卡" || mf.Items[0].Served || mf.Items[0].Waiting != 2 {
		t.Errorf("items %+v", mf.Items)
	}
	if len(mf.Alerts) != 2 || mf.Alerts[0].Level != "warn" || mf.Alerts[1].Level != "alarm" {
		t.Errorf("alerts (a 20-minute wait, nobody open): %+v", mf.Alerts)
	}
	if _, err := c.Manage(ctx, ManagerAction{Type: "open", Window: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, ActRequest{Window: 2, Action: "call-next", Clerk: "li"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	mf = c.ManagerFloor()
	if len(mf.Windows) != 2 || mf.Windows[1].Clerk != "li" || mf.Windows[1].Utilisation != 1 || mf.Items[0].EstP50S <= 0 {
		t.Errorf("windows %+v items %+v", mf.Windows, mf.Items)
	}
	if len(mf.Alerts) != 1 || mf.Alerts[0].Kind != "long_wait" {
		t.Errorf("alerts with window 2 open: %+v", mf.Alerts)
	}
}

// CallOf is the hall-screen line of a call event; the number comes from
// the issue when the event lacks it. FindTicket and Rated read the rest.
func TestCallOfAndFindTicket(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c, _, _ := newTestController(t, floorHall, time.Date(2026, 11, 23, 9, 0, 0, 0, sh))
	ctx := context.Background()
	if _, err := c.Manage(ctx, ManagerAction{Type: "open", Window: 2}); err != nil {
		t.Fatal(err)
	}
	is, err := c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	cr := c.CallOf(queue.Event{Type: queue.EvRecalled, Ticket: is.ID, Item: "HR-001", Window: 2, At: c.Now()})
	if cr.Number != is.Number || cr.Zone != "west" || !cr.Recall {
		t.Errorf("call %+v", cr)
	}
	for _, a := range []string{"call-next", "start", "finish"} {
		if _, err := c.Act(ctx, ActRequest{Window: 2, Action: a}); err != nil {
			t.Fatal(err)
		}
	}
	if tv, ok := c.FindTicket(" " + strings.ToLower(is.Number)); !ok || tv.ID != is.ID || tv.State != queue.Finished {
		t.Errorf("find finished %s: %+v %v", is.Number, tv, ok)
	}
	if _, ok := c.FindTicket("Z999"); ok {
		t.Error("found a ticket never issued")
	}
	if c.Rated(is.ID) {
		t.Error("rated before a rating")
	}
	if _, err := c.Rate(ctx, is.ID, 4, "api", ""); err != nil || !c.Rated(is.ID) {
		t.Errorf("rate: %v", err)
	}
}
