package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/wire"
)

// supSink is a 电子监察 endpoint: it verifies the signature against the
// hall's (fake) clock and keeps each event once.
type supSink struct {
	mu     sync.Mutex
	clock  clockwork.Clock
	secret []byte
	seen   map[string]bool
	events []casesys.Event
	posts  int
	got    chan struct{}
}

func (s *supSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if err := casesys.Verify(r.Header, s.secret, s.clock.Now(), b); err != nil {
		http.Error(w, err.Error(), 401)
		return
	}
	var ev casesys.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		http.Error(w, "bad event", 400)
		return
	}
	s.mu.Lock()
	s.posts++
	if !s.seen[ev.ID] {
		s.seen[ev.ID] = true
		s.events = append(s.events, ev)
	}
	s.mu.Unlock()
	select {
	case s.got <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *supSink) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		s.mu.Lock()
		have := len(s.events)
		s.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("the supervision endpoint has %d events, want %d", have, n)
		}
	}
}

// The running hall sends its 电子监察 facts to case_system.supervision.url:
// a window paused past pause_min raises an alert (the controller's own
// evaluation, every 15 s of its clock), the resume clears it; the pause's
// start and end and both transitions arrive once each, in order, and a
// restart raises nothing again.
func TestSupervisionEndpointRunningHall(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 9, 0, 0, 0, sh))
	const secret = "supervision-secret-0123456789"
	sink := &supSink{clock: clock, secret: []byte(secret), seen: map[string]bool{}, got: make(chan struct{}, 100)}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	extra := fmt.Sprintf("case_system: {supervision: {pause_min: 10, url: %q, secret: %q}}\n", srv.URL, secret)
	dir := t.TempDir()
	a, stop := startWith(t, dir, caseConfig(t, extra), clock)
	waitOpen(t, a, 2)
	ctx := context.Background()
	if _, err := a.Controller.Act(ctx, ctl.ActRequest{Window: 2, Action: wire.KeyPause, Arg: "午休"}); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, 1) // the pause's start
	clock.Advance(12 * time.Minute)
	sink.waitFor(t, 2) // the alert, raised by the controller's own evaluation
	if _, err := a.Controller.Act(ctx, ctl.ActRequest{Window: 2, Action: wire.KeyResume}); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, 3)
	clock.Advance(ctl.SupervisionEvery)
	sink.waitFor(t, 4)
	stop()

	a2, stop2 := startWith(t, dir, caseConfig(t, extra), clock)
	defer stop2()
	if up, down, err := a2.Controller.StepAlerts(ctx); err != nil || up != 0 || down != 0 {
		t.Fatalf("after the restart: raised %d cleared %d (%v)", up, down, err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var got []string
	for i, ev := range sink.events {
		got = append(got, ev.Type+":"+ev.Supervision.Type)
		if i > 0 && ev.Seq <= sink.events[i-1].Seq {
			t.Errorf("event %d out of order", i)
		}
	}
	want := "supervision.pause:started,supervision.alert:raised,supervision.pause:ended,supervision.alert:cleared"
	if strings.Join(got, ",") != want {
		t.Fatalf("endpoint got %v, want %s", got, want)
	}
	if ev := sink.events[0]; ev.Supervision.Reason != "午休" || ev.Window != 2 {
		t.Errorf("pause event %+v", ev.Supervision)
	}
	if a := sink.events[1].Supervision.Alert; a == nil || a.Kind != casesys.AlertPaused || a.Window != 2 {
		t.Errorf("alert event %+v", a)
	}
}
