package web_test

import (
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/web"
)

// GET /api/v1/screen carries the screen: section as layout (defaults
// filled in, the title defaulting to the hall's name) and no more calls
// than screen.last_calls.
func TestScreenLayoutServed(t *testing.T) {
	cfg := testConfig(t)
	cfg.Screen.LastCalls = 2
	h := startHallWith(t, cfg)
	clerk := h.token(t, web.RoleClerk, 1)
	for i := 0; i < 3; i++ {
		h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
		for _, a := range []string{"call-next", "start"} {
			if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]any{"action": a}); r.status != 200 {
				t.Fatalf("%s: %d %s", a, r.status, r.body)
			}
		}
	}
	r := h.do(t, "GET", "/api/v1/screen", "", nil)
	var sc web.Screen
	r.decode(t, &sc)
	l := sc.Layout
	if l.Title != "市民服务中心" || strings.Join(l.Languages, ",") != "zh,en" || strings.Join(l.Panels, ",") != "calls,depts,notice" ||
		l.LastCalls != 2 || l.PageSeconds != 10 || l.Timezone != "Asia/Shanghai" || l.Colours.Background != "#0d1b2a" || l.Colours.TickerText != "#1b2430" {
		t.Errorf("layout %+v", l)
	}
	if len(sc.Calls) != 2 || sc.Calls[0].Number != "A003" || sc.Calls[1].Number != "A002" {
		t.Errorf("calls %+v, want A003 and A002", sc.Calls)
	}
	// Display settings only: nothing of the server, agents or secrets.
	for _, leak := range []string{"secret", "password", "state_dir", "users", "token", "agents"} {
		if strings.Contains(strings.ToLower(string(r.body)), leak) {
			t.Errorf("screen answer mentions %q: %s", leak, r.body)
		}
	}
}
