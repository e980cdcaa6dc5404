package web_test

import (
	"testing"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/web"
)

// The what-if preview answered 500 whenever a window was paused; it now
// previews with the paused window calling nothing, and previewing its
// resumption shortens the wait.
func TestPreviewWithPausedWindow(t *testing.T) {
	h := startHall(t)
	for range 6 {
		h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	}
	clerk := h.token(t, web.RoleClerk, 1)
	if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]any{"action": "pause", "arg": "休息"}); r.status != 200 {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	mgr := h.token(t, web.RoleManager, 0)
	var pr web.PreviewResponse
	r := h.do(t, "POST", "/api/v1/manager/preview", mgr, map[string]any{"horizon_s": 1800, "replications": 1})
	if r.status != 200 {
		t.Fatalf("preview with window 1 paused: %d %s", r.status, r.body)
	}
	actions := []ctl.ManagerAction{{Type: "resume", Window: 1}}
	r = h.do(t, "POST", "/api/v1/manager/preview", mgr, map[string]any{"actions": actions, "horizon_s": 1800, "replications": 1})
	if r.status != 200 {
		t.Fatalf("preview resume: %d %s", r.status, r.body)
	}
	r.decode(t, &pr)
	if pr.Before.Unserved == 0 {
		t.Errorf("with HR's only open window paused every HR-001 ticket should stay unserved: %+v", pr.Before)
	}
	if pr.After.Unserved >= pr.Before.Unserved {
		t.Errorf("resuming window 1 did not serve more: before %+v after %+v", pr.Before, pr.After)
	}
}
