package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/wire"
)

// TestCaseLoad measures the wired connector (CASES_LOAD=N: N × a big
// hall's peak of 0.22 tickets/s, each ticket issued, called, started and
// finished through the controller, one commit per step) and the drain
// rate of a backlog. Skipped unless CASES_LOAD is set.
func TestCaseLoad(t *testing.T) {
	n, _ := strconv.ParseFloat(os.Getenv("CASES_LOAD"), 64)
	if n <= 0 {
		t.Skip("set CASES_LOAD=100 to run")
	}
	var mu sync.Mutex
	var lags []time.Duration
	got := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got++
		mu.Unlock()
	}))
	defer srv.Close()
	extra := fmt.Sprintf("case_system:\n  webhook: {url: %q, secret: %q}\n", srv.URL, "load-secret-0123456789")
	cfg := caseConfig(t, extra)
	a, stop := startWith(t, t.TempDir(), cfg, nil)
	defer stop()
	waitOpen(t, a, 1)
	ctx := context.Background()
	ob := a.Controller.Outbox()
	rate := 0.22 * n
	dur := 20 * time.Second
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	end := time.Now().Add(dur)
	maxPending, steps := 0, 0
	for time.Now().Before(end) {
		<-tick.C
		start := time.Now()
		if _, err := a.Controller.Issue(ctx, ctl.IssueRequest{Item: "HR-001"}, "", ""); err != nil {
			t.Fatal(err)
		}
		for _, act := range []string{wire.KeyCallNext, wire.KeyStart, wire.KeyFinish} {
			if _, err := a.Controller.Act(ctx, ctl.ActRequest{Window: 1, Action: act}); err != nil {
				t.Fatal(err)
			}
		}
		steps++
		if p := ob.Stats().Pending; p > maxPending {
			maxPending = p
		}
		lags = append(lags, time.Since(start))
	}
	want := steps * 5 // issued, called, started, accepted, finished
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		g := got
		mu.Unlock()
		if g >= want || time.Now().After(deadline) {
			t.Logf("%.0f× peak: %d tickets (%.1f/s), %d events, delivered %d; max pending %d; drained %v after the last step",
				n, steps, float64(steps)/dur.Seconds(), want, g, maxPending, time.Since(end))
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	t.Logf("controller time per ticket (4 commits): p50 %v p99 %v", lags[len(lags)/2], lags[len(lags)*99/100])
}
