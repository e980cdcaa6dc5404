package web_test

import (
	"net/http"
	"testing"
)

// Profiles are for admins only: anonymous and manager tokens are refused.
func TestPprofIsAdminOnly(t *testing.T) {
	h := startHall(t)
	if r := h.do(t, "GET", "/debug/pprof/", "", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d", r.status)
	}
	if r := h.do(t, "GET", "/debug/pprof/", h.token(t, "manager", 0), nil); r.status != http.StatusForbidden {
		t.Fatalf("manager: %d", r.status)
	}
	r := h.do(t, "GET", "/debug/pprof/", h.token(t, "admin", 0), nil)
	if r.status != http.StatusOK {
		t.Fatalf("admin: %d", r.status)
	}
	if r := h.do(t, "GET", "/debug/pprof/goroutine?debug=1", h.token(t, "admin", 0), nil); r.status != http.StatusOK {
		t.Fatalf("admin goroutine profile: %d", r.status)
	}
}
