package web_test

import (
	"testing"

	"github.com/servicehall/servicehall/hallctl/web"
)

// Finding "parallel /snapshot calls pushed RSS to 1.27 GB and stalled
// issuance": an anonymous snapshot lists at most 100 waiting tickets (the
// kiosks read only the counts) with waiting_total and waiting_truncated;
// staff get the long list the manager's preview needs.
func TestPublicSnapshotListsFewWaiting(t *testing.T) {
	h := startHall(t)
	for i := 0; i < 130; i++ {
		if r := h.do(t, "POST", "/api/v1/tickets", h.token(t, web.RoleManager, 0), map[string]any{"item": "HR-001"}); r.status != 201 {
			t.Fatalf("ticket %d: %d %s", i, r.status, r.body)
		}
	}
	var pub, staff web.PublicSnapshot
	h.do(t, "GET", "/api/v1/snapshot", "", nil).decode(t, &pub)
	if len(pub.Waiting) != 100 || pub.WaitingTotal != 130 || !pub.WaitingTruncated {
		t.Errorf("anonymous snapshot: %d listed, total %d, truncated %v", len(pub.Waiting), pub.WaitingTotal, pub.WaitingTruncated)
	}
	h.do(t, "GET", "/api/v1/snapshot", h.token(t, web.RoleManager, 0), nil).decode(t, &staff)
	if len(staff.Waiting) != 130 || staff.WaitingTruncated {
		t.Errorf("manager snapshot: %d listed, truncated %v", len(staff.Waiting), staff.WaitingTruncated)
	}
}
