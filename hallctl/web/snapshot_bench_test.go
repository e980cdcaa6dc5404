package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/web"
)

// BenchmarkSnapshotParallel: 100 parallel /api/v1/snapshot callers over a
// hall of 2,000 waiting tickets (issue 10: parallel snapshots pushed RSS
// to 1.27 GB). The encoded snapshot is built once per state change and
// second and shared, so B/op stays near the HTTP cost of one answer
// instead of growing with the callers (compare -cpu 1 with the default).
func BenchmarkSnapshotParallel(b *testing.B) {
	cfg := testConfig(b)
	cfg.Limits.PublicPerMin, cfg.Limits.PublicBurst, cfg.Limits.TicketsPerClientPerMin = 1<<30, 1<<20, 1<<30
	h := startHallWith(b, cfg)
	for range 2000 {
		if r := h.do(b, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"}); r.status != 201 {
			b.Fatalf("issue: %d %s", r.status, r.body)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	b.SetParallelism(100) // 100 × GOMAXPROCS goroutines: at least 100 callers
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(h.base + "/api/v1/snapshot")
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}

// BenchmarkSnapshotBuild is one build of the public snapshot with 10,000
// tickets waiting: the controller's Snapshot and its encoding, paid once
// per state change whatever the number of readers.
func BenchmarkSnapshotBuild(b *testing.B) {
	cfg := testConfig(b)
	cfg.Limits.PublicPerMin, cfg.Limits.PublicBurst, cfg.Limits.TicketsPerClientPerMin = 1<<30, 1<<20, 1<<30
	cfg.Limits.TicketsPerItemPerDay = 1 << 30
	h := startHallWith(b, cfg)
	for i := range 10000 {
		if _, err := h.Controller.Issue(context.Background(), ctl.IssueRequest{Item: []string{"HR-001", "HR-002"}[i%2]}, "", ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		snap, total := h.Controller.SnapshotN(5000)
		if _, err := json.Marshal(web.PublicSnapshot{Snapshot: snap, WaitingTotal: total}); err != nil {
			b.Fatal(err)
		}
	}
}
