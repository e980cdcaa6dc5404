package history_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/app"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
)

// TestRestartOnHistory starts hallctl on a generated history, takes a
// ticket over HTTP, stops it cleanly and starts it again: the clean stop
// leaves snapshots at the end of the log (the restart replays nothing),
// ticket ids go on, and the engine holds only what today needs.
func TestRestartOnHistory(t *testing.T) {
	cfg := parse(t)
	dir := t.TempDir()
	stats := generate(t, cfg, dir, 2000, time.Now()) // hallctl runs on the real clock: the history ends yesterday
	ctx := context.Background()

	start := func() (*app.App, func()) {
		t.Helper()
		rctx, cancel := context.WithCancel(ctx)
		a, err := app.Start(rctx, app.Options{Config: cfg, Logger: quiet, MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: dir})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- a.Run(rctx) }()
		<-a.Controller.Connected()
		return a, func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("run: %v", err)
			}
			a.Close()
		}
	}
	issue := func(a *app.App) ctl.Issued {
		t.Helper()
		resp, err := http.Post("http://"+a.HTTPAddr()+"/api/v1/tickets", "application/json", strings.NewReader(`{"item":"TX-001"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out ctl.Issued
		if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&out) != nil {
			t.Fatalf("issue: HTTP %d", resp.StatusCode)
		}
		return out
	}

	a, stop := start()
	first := issue(a)
	if first.ID != int64(stats.Issued)+1 {
		t.Fatalf("first ticket after the history is %d, want %d", first.ID, stats.Issued+1)
	}
	stop()

	st, err := store.OpenReadOnly(ctx, filepath.Join(dir, "hallctl.db"))
	if err != nil {
		t.Fatal(err)
	}
	last, err := st.LastSeq(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{ctl.QueueStream, ctl.StateStream, ctl.MonitorStream} {
		snap, err := st.LatestSnapshot(ctx, s)
		if err != nil || snap.Upto < last-1 {
			t.Errorf("snapshot %s after a clean stop: up to %d, log at %d (%v)", s, snap.Upto, last, err)
		}
	}
	st.Close()

	a, stop = start()
	defer stop()
	second := issue(a)
	if second.ID != first.ID+1 {
		t.Fatalf("ticket after the restart is %d, want %d", second.ID, first.ID+1)
	}
	a.Controller.View(func(e *queue.Engine) {
		if e.HeldTickets() > 2 {
			t.Errorf("engine holds %d tickets, want today's 2", e.HeldTickets())
		}
	})
}
