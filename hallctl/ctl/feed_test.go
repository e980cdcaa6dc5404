package ctl

import (
	"context"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/queue"
)

// The feed delivers each queue event once it is durable; a subscriber that
// falls behind is told (Lagged) instead of slowing the hall, and a closed
// subscription gets nothing more.
func TestFeed(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c, _, _ := newTestController(t, floorHall, time.Date(2026, 11, 23, 9, 0, 0, 0, sh))
	ctx := context.Background()
	sub := c.Subscribe(0) // default buffer
	small := c.Subscribe(1)
	if _, err := c.Manage(ctx, ManagerAction{Type: "open", Window: 1}); err != nil {
		t.Fatal(err)
	}
	is, err := c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []queue.EventType{queue.EvWindowOpened, queue.EvIssued} {
		ev := <-sub.C
		if ev.Kind != "queue" || ev.Queue == nil || ev.Queue.Type != want {
			t.Fatalf("got %+v, want a queue %s", ev, want)
		}
		if want == queue.EvIssued && ev.Queue.Ticket != is.ID {
			t.Errorf("issued %d, want %d", ev.Queue.Ticket, is.ID)
		}
	}
	if sub.Lagged() {
		t.Error("a subscriber that kept up is lagged")
	}
	if !small.Lagged() || small.Lagged() {
		t.Error("a full subscriber is not lagged once (Lagged clears)")
	}
	if ev := <-small.C; ev.Queue.Type != queue.EvWindowOpened {
		t.Errorf("the full subscriber kept %+v", ev)
	}
	small.Close()
	sub.Close()
	if _, err := c.Act(ctx, ActRequest{Window: 1, Action: "call-next"}); err != nil {
		t.Fatal(err)
	}
	if len(sub.C) != 0 || len(small.C) != 0 {
		t.Error("closed subscriptions still receive")
	}
}

// A transfer names an item, a window or a window number; anything else is
// a bad_transfer, and each error maps to its problem code.
func TestTransferTargets(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c, _, _ := newTestController(t, floorHall, time.Date(2026, 11, 23, 9, 0, 0, 0, sh))
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
	for _, arg := range []string{"window:2", "2", "item:HR-001"} {
		if _, err := c.Act(ctx, ActRequest{Window: 1, Action: "call-next"}); err != nil {
			t.Fatal(err)
		}
		res, err := c.Act(ctx, ActRequest{Window: 1, Action: "transfer", Arg: arg})
		if err != nil || len(res.Events) == 0 || res.Events[0].Type != queue.EvTransferred {
			t.Errorf("transfer %q: %v %+v", arg, err, res.Events)
		}
	}
	for _, tc := range []struct {
		req  ActRequest
		code string
	}{
		{ActRequest{Window: 1, Action: "transfer", Arg: "window:x"}, "bad_transfer"},
		{ActRequest{Window: 1, Action: "transfer", Arg: "0"}, "bad_transfer"},
		{ActRequest{Window: 1, Action: "dance"}, "unknown_action"},
		{ActRequest{Window: 9, Action: "call-next"}, "unknown_window"},
	} {
		_, err := c.Act(ctx, tc.req)
		if Code(err) != tc.code {
			t.Errorf("%+v: %v (%s), want %s", tc.req, err, Code(err), tc.code)
		}
	}
	if _, err := c.Rate(ctx, 1, 9, "api", ""); Code(err) != "bad_level" {
		t.Errorf("level 9: %v", err)
	}
	if _, err := c.Rate(ctx, 3, 5, "api", ""); Code(err) != "not_rateable" {
		t.Errorf("rating a waiting ticket: %v", err)
	}
}

// Every subscriber's copy of one published event shares its Memo, so an
// encoding made for one stream is reused by the others; a nil Memo
// computes each time.
func TestFeedEventMemoShared(t *testing.T) {
	c := &Controller{feed: &feed{subs: map[*Subscription]struct{}{}}}
	f := c.feed
	a, b := c.Subscribe(4), c.Subscribe(4)
	defer a.Close()
	defer b.Close()
	f.publish(HallEvent{Kind: "queue", Type: "issued"})
	ea, eb := <-a.C, <-b.C
	calls := 0
	enc := func() any { calls++; return calls }
	if x, y := ea.Shared.Do(enc), eb.Shared.Do(enc); x != 1 || y != 1 || calls != 1 {
		t.Errorf("memo: %v %v after %d calls, want one computation shared", x, y, calls)
	}
	var nilMemo *Memo
	nilMemo.Do(enc)
	nilMemo.Do(enc)
	if calls != 3 {
		t.Errorf("nil memo computed %d times in all, want 3", calls)
	}
}
