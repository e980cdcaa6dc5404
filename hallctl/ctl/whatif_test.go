package ctl

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/queue"
)

const previewHall = `hall: {id: p, name: 预览大厅, hours: {open: "08:00", close: "18:00"}}
departments: [{code: HR, name: 人社}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}
  - {code: HR-002, name: 就业, dept: HR, prefix: B, service_s: 300}
windows:
  - {number: 1, dept: HR, serves: ["*"]}
  - {number: 2, dept: HR, serves: ["*"]}
  - {number: 3, dept: HR, serves: [HR-002]}
`

// previewController is a hall at 10:00 with windows 1 and 2 open, window 1
// paused, and a queue.
func previewController(t *testing.T) *Controller {
	t.Helper()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c, clock, _ := newTestController(t, previewHall, time.Date(2026, 11, 23, 9, 0, 0, 0, sh))
	ctx := context.Background()
	for _, w := range []int{1, 2} {
		if _, err := c.Manage(ctx, ManagerAction{Type: "open", Window: w}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 12 {
		clock.Advance(5 * time.Minute)
		item := "HR-001"
		if i%3 == 0 {
			item = "HR-002"
		}
		if _, err := c.Issue(ctx, IssueRequest{Item: item}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Act(ctx, ActRequest{Window: 2, Action: "call-next"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Manage(ctx, ManagerAction{Type: "pause", Window: 1, Reason: "休息"}); err != nil {
		t.Fatal(err)
	}
	return c
}

// The preview with a paused window answered an error (a 500); it now
// projects, deterministically, and changes nothing live.
func TestPreviewPausedWindow(t *testing.T) {
	c := previewController(t)
	ctx := context.Background()
	live := c.Snapshot()
	req := PreviewRequest{Actions: []ManagerAction{{Type: "resume", Window: 1}, {Type: "open", Window: 3}}, HorizonS: 3600, Replications: 2, Seed: 7}
	pr, err := c.Preview(ctx, req)
	if err != nil {
		t.Fatalf("preview with window 1 paused: %v", err)
	}
	if pr.Replications != 2 || pr.Seed != 7 || pr.HorizonS != 3600 || !pr.At.Equal(c.Now()) {
		t.Errorf("preview header %+v", pr)
	}
	if len(pr.Events) != 2 || pr.Events[0].Type != queue.EvWindowResumed || pr.Events[1].Type != queue.EvWindowOpened {
		t.Errorf("events %+v", pr.Events)
	}
	if pr.RatePerHour["HR-001"] != 4 || pr.RatePerHour["HR-002"] != 2 {
		t.Errorf("rates %v: 8 and 4 tickets in the two hours since 08:00", pr.RatePerHour)
	}
	if pr.After.WaitP90 >= pr.Before.WaitP90 || pr.After.Items["HR-002"].P90 >= pr.Before.Items["HR-002"].P90 {
		t.Errorf("resuming 1 and opening 3 did not shorten waits: before %+v after %+v", pr.Before, pr.After)
	}
	again, err := c.Preview(ctx, req)
	if err != nil || !reflect.DeepEqual(again, pr) {
		t.Errorf("the same seed gave another preview (%v)", err)
	}
	if after := c.Snapshot(); !reflect.DeepEqual(live.Windows, after.Windows) || !reflect.DeepEqual(live.Waiting, after.Waiting) {
		t.Error("the preview changed the live hall")
	}
	// Defaults and bounds.
	pr, err = c.Preview(ctx, PreviewRequest{HorizonS: 1e9, Replications: 99})
	if err != nil || pr.HorizonS != 8*3600 || pr.Replications != 20 || pr.Seed != 1 || len(pr.Events) != 0 {
		t.Errorf("bounds: %v %+v", err, pr)
	}
	if pr.Before.WaitP50 != pr.After.WaitP50 {
		t.Errorf("no actions, but before %v after %v", pr.Before.WaitP50, pr.After.WaitP50)
	}
}

func TestPreviewBadActions(t *testing.T) {
	c := previewController(t)
	ctx := context.Background()
	_, err := c.Preview(ctx, PreviewRequest{Actions: []ManagerAction{{Type: "open", Window: 3}, {Type: "explode"}}})
	if !errors.Is(err, ErrBadAction) || Code(err) != "bad_action" {
		t.Errorf("unknown action: %v (%s)", err, Code(err))
	}
	_, err = c.Preview(ctx, PreviewRequest{Actions: []ManagerAction{{Type: "open", Window: 9}}})
	if Code(err) != "unknown_window" {
		t.Errorf("unknown window: %v (%s)", err, Code(err))
	}
	_, err = c.Preview(ctx, PreviewRequest{Actions: make([]ManagerAction, MaxActions+1)})
	if !errors.Is(err, ErrBadAction) {
		t.Errorf("too many actions: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Preview(cctx, PreviewRequest{}); !errors.Is(err, ErrPreview) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// ManageBatch applies all or nothing, and audits who did it.
func TestManageBatch(t *testing.T) {
	c := previewController(t)
	ctx := context.Background()
	_, err := c.ManageBatch(ctx, []ManagerAction{{Type: "open", Window: 3}, {Type: "resume", Window: 9}}, "m1", "manager")
	if Code(err) != "unknown_window" {
		t.Fatalf("bad second action: %v", err)
	}
	if windowState(c, 3) != "closed" {
		t.Fatal("the first action of a refused batch was applied")
	}
	if _, err := c.ManageBatch(ctx, nil, "m1", "manager"); !errors.Is(err, ErrBadAction) {
		t.Errorf("empty batch: %v", err)
	}
	evs, err := c.ManageBatch(ctx, []ManagerAction{{Type: "open", Window: 3}, {Type: "resume", Window: 1}}, "m1", "manager")
	if err != nil || len(evs) != 2 {
		t.Fatalf("batch: %v %+v", err, evs)
	}
	if windowState(c, 3) != "open" || windowState(c, 1) != "open" {
		t.Errorf("windows 3 %s, 1 %s", windowState(c, 3), windowState(c, 1))
	}
	au, err := c.Audit(ctx, 10)
	if err != nil || len(au) != 2 || au[0].Actor != "m1" || au[0].Action.Type != "resume" {
		t.Errorf("audit %v %+v", err, au)
	}
}
