package ctl

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
)

// openStore opens a real event log in a temporary directory.
func openStore(t testing.TB) *store.Log {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "hallctl.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

const hoursHall = `hall: {id: h, name: 时段大厅, hours: {open: "09:00", close: "17:00"}}
departments: [{code: HR, name: 人社}]
items: [{code: HR-001, name: 社保卡, dept: HR, prefix: A}]
windows:
  - {number: 1, dept: HR, serves: ["*"], hours: [{open: "09:00", close: "12:00"}, {open: "13:30", close: "17:00"}]}
  - {number: 2, dept: HR, serves: ["*"]}
`

func newTestController(t *testing.T, yaml string, at time.Time) (*Controller, *clockwork.FakeClock, *store.Log) {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(at)
	st := openStore(t)
	c, err := New(context.Background(), Options{Config: cfg, Clock: clock, Store: st,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return c, clock, st
}

func windowState(c *Controller, n int) string {
	var s string
	c.View(func(e *queue.Engine) {
		v, _ := e.Window(n)
		s = v.State
	})
	return s
}

func TestHoursOpenAndCloseWindows(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c, clock, _ := newTestController(t, hoursHall, time.Date(2026, 11, 23, 8, 59, 0, 0, sh))
	ctx := context.Background()
	st := &hoursState{within: map[int]bool{}, closing: map[int]bool{}}
	step := func(to time.Time) {
		clock.Advance(to.Sub(clock.Now()))
		c.schedule(ctx, st)
	}
	c.schedule(ctx, st)
	if s := windowState(c, 1); s != "closed" {
		t.Fatalf("08:59: window 1 %s, want closed", s)
	}
	step(time.Date(2026, 11, 23, 9, 0, 0, 0, sh))
	if windowState(c, 1) != "open" || windowState(c, 2) != "open" {
		t.Fatalf("09:00: windows %s/%s, want open", windowState(c, 1), windowState(c, 2))
	}
	// A ticket is called at window 1 before lunch and still served at 12:00:
	// the window closes only once it is idle.
	if _, err := c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, ActRequest{Window: 1, Action: "call-next"}); err != nil {
		t.Fatal(err)
	}
	step(time.Date(2026, 11, 23, 12, 0, 0, 0, sh))
	if s := windowState(c, 1); s != "open" {
		t.Fatalf("12:00 while serving: window 1 %s, want open until idle", s)
	}
	if _, err := c.Act(ctx, ActRequest{Window: 1, Action: "start"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, ActRequest{Window: 1, Action: "finish"}); err != nil {
		t.Fatal(err)
	}
	step(time.Date(2026, 11, 23, 12, 0, 15, 0, sh))
	if s := windowState(c, 1); s != "closed" {
		t.Fatalf("lunch: window 1 %s, want closed", s)
	}
	step(time.Date(2026, 11, 23, 13, 30, 0, 0, sh))
	if s := windowState(c, 1); s != "open" {
		t.Fatalf("13:30: window 1 %s, want open", s)
	}
	// After closing time a window keeps serving while tickets wait.
	if _, err := c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", ""); err != nil {
		t.Fatal(err)
	}
	step(time.Date(2026, 11, 23, 17, 0, 0, 0, sh))
	if windowState(c, 1) != "open" || windowState(c, 2) != "open" {
		t.Fatalf("17:00 with a ticket waiting: %s/%s, want extended service", windowState(c, 1), windowState(c, 2))
	}
	if _, err := c.Act(ctx, ActRequest{Window: 2, Action: "call-next"}); err != nil {
		t.Fatal(err)
	}
	step(time.Date(2026, 11, 23, 17, 0, 15, 0, sh))
	if s := windowState(c, 1); s != "closed" {
		t.Fatalf("17:00, nothing waiting: window 1 %s, want closed", s)
	}
	if s := windowState(c, 2); s != "open" {
		t.Fatalf("window 2 is serving: %s, want open", s)
	}
}

func TestManagerCloseNotOverruled(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c, clock, _ := newTestController(t, hoursHall, time.Date(2026, 11, 23, 10, 0, 0, 0, sh))
	ctx := context.Background()
	st := &hoursState{within: map[int]bool{}, closing: map[int]bool{}}
	c.schedule(ctx, st)
	if _, err := c.Manage(ctx, ManagerAction{Type: "close", Window: 2}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(15 * time.Second)
	c.schedule(ctx, st)
	if s := windowState(c, 2); s != "closed" {
		t.Fatalf("the scheduler reopened a window the manager closed: %s", s)
	}
}

func TestStateRebuiltFromLog(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c, _, st := newTestController(t, strings.Replace(hoursHall, `"09:00", close: "17:00"}}`, `"00:00", close: "24:00"}}`, 1),
		time.Date(2026, 11, 23, 10, 0, 0, 0, sh))
	ctx := context.Background()
	if _, err := c.Manage(ctx, ManagerAction{Type: "open", Window: 2}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.Issue(ctx, IssueRequest{Item: "HR-001", Source: "req-" + string(rune('a'+i))}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Act(ctx, ActRequest{Window: 2, Action: "call-next", Source: "key-1"}); err != nil {
		t.Fatal(err)
	}
	c2, err := New(ctx, Options{Config: c.cfg, Clock: c.clock, Store: st, Logger: c.log})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := c.Snapshot(), c2.Snapshot(); len(a.Waiting) != 2 || len(b.Waiting) != 2 || a.Windows[1].CurrentNo != b.Windows[1].CurrentNo || a.Windows[1].CurrentNo == "" {
		t.Fatalf("rebuilt state differs: %+v vs %+v", a.Windows[1], b.Windows[1])
	}
	// A redelivered request is recognised after the rebuild.
	t2, err := c2.Issue(ctx, IssueRequest{Item: "HR-001", Source: "req-b"}, "", "")
	if err != nil || !t2.Duplicate || t2.Number != "A002" {
		t.Fatalf("duplicate after rebuild: %+v %v", t2, err)
	}
	if _, err := c2.Act(ctx, ActRequest{Window: 2, Action: "call-next", Source: "key-1"}); Code(err) != "duplicate" {
		t.Fatalf("repeated key after rebuild: %v", err)
	}
}

func TestStartFromSnapshot(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	yaml := strings.Replace(hoursHall, `"09:00", close: "17:00"}}`, `"00:00", close: "24:00"}}`, 1)
	c, _, st := newTestController(t, yaml, time.Date(2026, 11, 23, 10, 0, 0, 0, sh))
	ctx := context.Background()
	if _, err := c.Manage(ctx, ManagerAction{Type: "open", Window: 2}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < snapshotEvery+10; i++ {
		if _, err := c.Issue(ctx, IssueRequest{Item: "HR-001", Source: fmt.Sprintf("req-%d", i)}, "", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Act(ctx, ActRequest{Window: 2, Action: "call-next"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Act(ctx, ActRequest{Window: 2, Action: "start"}); err != nil {
			t.Fatal(err)
		}
	}
	// The first restart replays everything and saves a snapshot.
	c2, err := New(ctx, Options{Config: c.cfg, Clock: c.clock, Store: st, Logger: c.log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LatestSnapshot(ctx, QueueStream); err != nil {
		t.Fatal("no snapshot saved after a long replay")
	}
	if _, err := c2.Issue(ctx, IssueRequest{Item: "HR-001", Source: "after"}, "", ""); err != nil {
		t.Fatal(err)
	}
	// The second starts from the snapshot plus one record, with the same state.
	c3, err := New(ctx, Options{Config: c.cfg, Clock: c.clock, Store: st, Logger: c.log})
	if err != nil {
		t.Fatal(err)
	}
	a, b := c2.Snapshot(), c3.Snapshot()
	if len(a.Waiting) != 1 || len(b.Waiting) != 1 || a.Waiting[0].Number != b.Waiting[0].Number {
		t.Fatalf("state from snapshot differs: %+v vs %+v", a.Waiting, b.Waiting)
	}
	if t3, err := c3.Issue(ctx, IssueRequest{Item: "HR-001", Source: "req-5"}, "", ""); err != nil || !t3.Duplicate {
		t.Fatalf("request id from before the snapshot not recognised: %+v %v", t3, err)
	}
}
