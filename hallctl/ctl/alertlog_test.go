package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/wire"
)

// The controller records alert transitions: a long wait and a long pause
// are raised once (not again at the next evaluation, nor after a
// restart), and cleared once the ticket is called and the window resumes.
// With case_system.supervision.url the 电子监察 events have an outbox of
// their own, in log order.
func TestAlertTransitionsRecordedOnce(t *testing.T) {
	t.Parallel()
	hall := rigHall + `case_system: {region: "440300", inbound_secret: "` + inboundSecret + `", supervision: {url: "http://127.0.0.1:9/sup", secret: "supervision-secret-0123"}}` + "\n"
	r := newRig(t, hall, nil)
	if r.c.SupervisionOutbox() == nil || r.c.Outbox() != nil {
		t.Fatalf("supervision outbox %v, case outbox %v: want only the former", r.c.SupervisionOutbox(), r.c.Outbox())
	}
	r.openWindows()
	ctx := context.Background()
	tk, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if _, err := r.c.Manage(ctx, ManagerAction{Type: "pause", Window: 2, Reason: "会议"}); err != nil {
		t.Fatal(err)
	}
	step := func(wantUp, wantDown int) {
		t.Helper()
		up, down, err := r.c.StepAlerts(ctx)
		if err != nil || up != wantUp || down != wantDown {
			t.Fatalf("step: raised %d cleared %d (%v), want %d and %d", up, down, err, wantUp, wantDown)
		}
	}
	step(0, 0)
	r.clock.Advance(31 * time.Minute)
	step(2, 0)
	step(0, 0)
	r.restart()
	step(0, 0)
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyCallNext, Clerk: "clerk-1"}); err != nil {
		t.Fatal(err)
	}
	step(0, 1)
	if _, err := r.c.Manage(ctx, ManagerAction{Type: "resume", Window: 2}); err != nil {
		t.Fatal(err)
	}
	step(0, 1)
	var got []string
	for _, rec := range r.records(casesys.SupervisionStream) {
		var ar casesys.AlertRecord
		if err := json.Unmarshal(rec.Data, &ar); err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Type+" "+ar.Alert.Kind)
		if ar.Alert.Kind == casesys.AlertLongWait && ar.Alert.Ticket != tk.ID {
			t.Errorf("long wait for ticket %d, want %d", ar.Alert.Ticket, tk.ID)
		}
	}
	want := "[alert.raised long_wait alert.raised window_paused alert.cleared long_wait alert.cleared window_paused]"
	if s := fmt.Sprint(got); s != want {
		t.Fatalf("supervision records %s, want %s", s, want)
	}
	ob := r.c.SupervisionOutbox()
	if _, err := ob.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	// The pause's start and end and the four alert transitions.
	if n := ob.Stats().Pending; n != 6 {
		t.Fatalf("%d supervision events pending, want 6", n)
	}
}
