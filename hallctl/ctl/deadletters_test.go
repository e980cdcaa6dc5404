package ctl

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/servicehall/servicehall/hallctl/casesys"
)

// The supervision platform's outbox has dead letters too: a record it
// refuses is listed, alerted, replayed and discarded like a case event's,
// through the same controller calls with the outbox named.
func TestSupervisionDeadLetters(t *testing.T) {
	t.Parallel()
	var refuse atomic.Bool
	refuse.Store(true)
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() {
			http.Error(w, "unknown region", http.StatusUnprocessableEntity)
			return
		}
		got.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	hall := rigHall + `case_system: {region: "440300", inbound_secret: "` + inboundSecret + `", supervision: {url: "` + srv.URL + `", secret: "supervision-secret-0123"}}` + "\n"
	r := newRig(t, hall, nil)
	ctx := context.Background()
	r.openWindows()
	if _, err := r.c.Manage(ctx, ManagerAction{Type: "pause", Window: 2, Reason: "会议"}); err != nil {
		t.Fatal(err)
	}
	ob := r.c.SupervisionOutbox()
	if _, err := ob.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	ob.DeliverDue(ctx)

	if _, err := r.c.DeadLetters(ctx); !errors.Is(err, ErrNoOutbox) {
		t.Fatalf("the case outbox (none here): %v, want ErrNoOutbox", err)
	}
	if _, err := r.c.DeadLettersIn(ctx, "nope"); !errors.Is(err, ErrUnknownOutbox) || Code(err) != "bad_request" {
		t.Fatalf("unknown outbox: %v (%s)", err, Code(err))
	}
	dead, err := r.c.DeadLettersIn(ctx, OutboxSupervision)
	if err != nil || len(dead) == 0 {
		t.Fatalf("supervision dead letters: %d %v", len(dead), err)
	}
	if !strings.Contains(dead[0].LastError, "422") {
		t.Errorf("last error %q: want the platform's answer", dead[0].LastError)
	}
	if one, err := r.c.DeadLetterIn(ctx, OutboxSupervision, dead[0].Key); err != nil || one.Key != dead[0].Key {
		t.Fatalf("one dead letter: %+v %v", one, err)
	}
	var alert *casesys.Alert
	for _, a := range r.c.Supervision(ctx) {
		if a.Kind == "dead_letter" {
			alert = &a
		}
	}
	if alert == nil || alert.Outbox != OutboxSupervision || alert.ID != "dead_letter/supervision" || !strings.Contains(alert.Message, "--outbox supervision") {
		t.Fatalf("dead-letter alert: %+v", alert)
	}

	// The platform is fixed and the dead letters replayed, in order.
	refuse.Store(false)
	n, err := r.c.ReplayDeadLettersIn(ctx, OutboxSupervision, "", "mgr", "manager")
	if err != nil || n != len(dead) {
		t.Fatalf("replay: %d %v, want %d", n, err, len(dead))
	}
	deliver := func() {
		t.Helper()
		for range 10 {
			if _, err := ob.Scan(ctx); err != nil {
				t.Fatal(err)
			}
			ob.DeliverDue(ctx)
			if ob.Stats().Pending == ob.Stats().Dead {
				return
			}
		}
	}
	deliver()
	if s := ob.Stats(); s.Pending != 0 || s.Dead != 0 || got.Load() != int64(n) {
		t.Fatalf("after the replay: %+v, delivered %d, want %d", s, got.Load(), n)
	}
	// Refused again: a discard needs a reason, then drops the record.
	refuse.Store(true)
	if _, err := r.c.Manage(ctx, ManagerAction{Type: "resume", Window: 2}); err != nil {
		t.Fatal(err)
	}
	deliver()
	dead, err = r.c.DeadLettersIn(ctx, OutboxSupervision)
	if err != nil || len(dead) == 0 {
		t.Fatalf("supervision dead letters after the resume: %d %v", len(dead), err)
	}
	if _, err := r.c.DiscardDeadLetterIn(ctx, OutboxSupervision, dead[0].Key, "", "mgr", "manager"); !errors.Is(err, ErrDiscardReason) {
		t.Fatalf("discard without a reason: %v", err)
	}
	for _, d := range dead {
		if _, err := r.c.DiscardDeadLetterIn(ctx, OutboxSupervision, d.Key, "测试记录", "mgr", "manager"); err != nil {
			t.Fatal(err)
		}
	}
	if s := ob.Stats(); s.Dead != 0 {
		t.Fatalf("after the discards: %+v", s)
	}
	audit, err := r.c.Audit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, e := range audit {
		details = append(details, e.Detail)
	}
	all := strings.Join(details, "\n")
	if !strings.Contains(all, "supervision event "+dead[0].Key+" (") || !strings.Contains(all, "supervision event(s) back in the outbox") {
		t.Fatalf("audit: %s", all)
	}
	for _, a := range r.c.Supervision(ctx) {
		if a.Kind == "dead_letter" {
			t.Fatalf("dead-letter alert still up: %+v", a)
		}
	}
}
