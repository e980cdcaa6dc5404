package web_test

import (
	"encoding/json"
	"testing"
)

// While the hall's state changes with every call, /snapshot builds are
// paced (2 a second after 4 at once, counted in
// hallctl_snapshot_builds_paced_total), and each answer still holds the
// state of the moment it was asked: the ticket issued just before is in it.
func TestSnapshotBuildsPacedNeverStale(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.PublicPerMin, cfg.Limits.PublicBurst = 1<<20, 1<<20
	h := startHallWith(t, cfg)
	for i := range 8 {
		iss := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
		if iss.status != 201 {
			t.Fatalf("issue: %d %s", iss.status, iss.body)
		}
		var tk struct {
			Number string `json:"number"`
		}
		_ = json.Unmarshal(iss.body, &tk)
		r := h.do(t, "GET", "/api/v1/snapshot", "", nil)
		var snap struct {
			Waiting []struct {
				Number string `json:"number"`
			} `json:"waiting"`
		}
		if err := json.Unmarshal(r.body, &snap); err != nil || r.status != 200 {
			t.Fatalf("snapshot %d: %d %v", i, r.status, err)
		}
		found := false
		for _, w := range snap.Waiting {
			found = found || w.Number == tk.Number
		}
		if !found {
			t.Fatalf("snapshot %d lacks %s, issued just before it was asked", i, tk.Number)
		}
	}
	var paced float64
	mfs, _ := h.Registry.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "hallctl_snapshot_builds_paced_total" {
			paced = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if paced < 1 {
		t.Errorf("8 builds in a row, %v paced: want the builds after the first 4 paced", paced)
	}
}
