package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/sim"
	"github.com/servicehall/servicehall/hallctl/web"
)

// fingerprint is the hall's state that a refused request must not change.
func fingerprint(t *testing.T, h *hall) string {
	t.Helper()
	var s string
	h.Controller.View(func(e *queue.Engine) {
		snap := e.Snapshot(time.Unix(0, 0))
		snap.At = time.Time{}
		for i := range snap.Items {
			snap.Items[i].OldestWaitS = 0
		}
		b, _ := json.Marshal(snap)
		s = fmt.Sprintf("%d %s", e.TicketCount(), b)
	})
	au, err := h.Controller.Audit(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s audit=%d", s, len(au))
}

func TestBadRequestsChangeNothing(t *testing.T) {
	h := startHall(t)
	// Some state to protect: a waiting ticket and a served one.
	if r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"}); r.status != 201 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	clerk1, clerk2 := h.token(t, web.RoleClerk, 1), h.token(t, web.RoleClerk, 2)
	manager := h.token(t, web.RoleManager, 0)
	expired, _ := h.keys.Sign(web.Claims{Role: web.RoleManager, Subject: "m01", Issued: time.Now().Add(-2 * time.Hour).Unix(), Expires: time.Now().Add(-time.Minute).Unix()})
	forged, _ := auth.Memory("t-hall", map[string][]byte{"k0001-x": []byte("another-hall-key-0123456789abcdef")}).Sign(web.Claims{Role: web.RoleAdmin, Subject: "a", Issued: time.Now().Unix(), Expires: time.Now().Add(time.Hour).Unix()})
	big := `{"item":"HR-001","request_id":"` + strings.Repeat("x", web.MaxBodyDefault) + `"}`

	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"unknown item", "POST", "/api/v1/tickets", "", map[string]any{"item": "NOPE-1"}, 404, "unknown_item"},
		{"invalid json", "POST", "/api/v1/tickets", "", `{"item":`, 400, "invalid_json"},
		{"unknown field", "POST", "/api/v1/tickets", "", `{"item":"HR-001","vip":true}`, 400, "invalid_json"},
		{"trailing data", "POST", "/api/v1/tickets", "", `{"item":"HR-001"} {"item":"HR-001"}`, 400, "invalid_json"},
		{"empty body", "POST", "/api/v1/tickets", "", ``, 400, "invalid_json"},
		{"oversized body", "POST", "/api/v1/tickets", "", big, 413, "body_too_large"},
		{"green class without staff token", "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001", "class": "green"}, 403, "forbidden"},
		{"unknown class", "POST", "/api/v1/tickets", manager, map[string]any{"item": "HR-001", "class": "vip"}, 400, "unknown_class"},
		{"unknown kiosk agent", "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001", "agent": "kiosk-x"}, 404, "unknown_agent"},
		{"card without a read", "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001", "card": true}, 400, "bad_request"},
		{"clerk call without token", "POST", "/api/v1/windows/1/actions", "", map[string]any{"action": "call-next"}, 401, "unauthorized"},
		{"clerk token for another window", "POST", "/api/v1/windows/1/actions", clerk2, map[string]any{"action": "call-next"}, 403, "wrong_window"},
		{"manager token on a clerk route", "POST", "/api/v1/windows/1/actions", manager, map[string]any{"action": "call-next"}, 403, "forbidden"},
		{"forged token", "POST", "/api/v1/windows/1/actions", forged, map[string]any{"action": "call-next"}, 401, "unauthorized"},
		{"unknown action", "POST", "/api/v1/windows/1/actions", clerk1, map[string]any{"action": "dance"}, 400, "unknown_action"},
		{"bad transfer", "POST", "/api/v1/windows/1/actions", clerk1, map[string]any{"action": "transfer", "arg": "nowhere"}, 400, "bad_transfer"},
		{"transfer with nothing called", "POST", "/api/v1/windows/1/actions", clerk1, map[string]any{"action": "transfer", "arg": "window:2"}, 409, "window_idle"},
		{"clerk action invalid json", "POST", "/api/v1/windows/1/actions", clerk1, `[1,2`, 400, "invalid_json"},
		{"clerk on a manager route", "POST", "/api/v1/manager/actions", clerk1, map[string]any{"actions": []any{map[string]any{"type": "open", "window": 3}}}, 403, "forbidden"},
		{"expired token", "GET", "/api/v1/manager/hall", expired, nil, 401, "token_expired"},
		{"batch with a bad action", "POST", "/api/v1/manager/actions", manager, map[string]any{"actions": []any{map[string]any{"type": "open", "window": 3}, map[string]any{"type": "open", "window": 99}}}, 404, "unknown_window"},
		{"bad manager action", "POST", "/api/v1/manager/preview", manager, map[string]any{"actions": []any{map[string]any{"type": "explode", "window": 3}}}, 400, "bad_action"},
		{"rating level", "POST", "/api/v1/tickets/A001/rating", "", map[string]any{"level": 9, "check": h.checkCode(t, "A001")}, 400, "bad_level"},
		{"rating a waiting ticket", "POST", "/api/v1/tickets/A001/rating", "", map[string]any{"level": 5, "check": h.checkCode(t, "A001")}, 409, "not_rateable"},
		{"rating without proof", "POST", "/api/v1/tickets/A001/rating", "", map[string]any{"level": 5}, 404, "bad_ticket_check"},
		{"unknown ticket", "GET", "/api/v1/tickets/Z999", "", nil, 404, "unknown_ticket"},
		{"bad ticket number", "GET", "/api/v1/tickets/DROP%20TABLE", "", nil, 400, "bad_request"},
		{"unknown appointment", "POST", "/api/v1/appointments/NOPE-1234/checkin", "", map[string]any{}, 404, "unknown_appointment"},
		{"unknown route", "GET", "/api/v1/nothing", "", nil, 404, "not_found"},
		{"whoami without token", "GET", "/api/v1/whoami", "", nil, 401, "unauthorized"},
	}
	before := fingerprint(t, h)
	for _, c := range cases {
		r := h.do(t, c.method, c.path, c.token, c.body)
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.name, r.status, c.status, r.body)
			continue
		}
		if p := r.problem(t); p.Code != c.code {
			t.Errorf("%s: code %q, want %q (%s)", c.name, p.Code, c.code, r.body)
		}
		if after := fingerprint(t, h); after != before {
			t.Fatalf("%s changed the hall:\nbefore %s\nafter  %s", c.name, before, after)
		}
	}
}

func TestClerkFlowAndRating(t *testing.T) {
	h := startHall(t)
	var tk web.TicketResponse
	r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001", "request_id": "abc-1"})
	r.decode(t, &tk)
	if r.status != 201 || tk.Number != "A001" || tk.Ahead != 0 || tk.P90S < tk.P50S {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	// The same request id again is the same ticket (a double tap).
	if r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001", "request_id": "abc-1"}); r.status != 200 || !strings.Contains(string(r.body), `"A001"`) {
		t.Fatalf("replayed request: %d %s", r.status, r.body)
	}
	clerk := h.token(t, web.RoleClerk, 1)
	var ar web.ActionResponse
	r = h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]any{"action": "call-next"})
	r.decode(t, &ar)
	if r.status != 200 || ar.Called == nil || ar.Called.Number != "A001" || ar.State.Reason == nil || ar.State.Reason.Rule == "" {
		t.Fatalf("call-next: %d %s", r.status, r.body)
	}
	if ar.State.Clerk != "clerk-test" {
		t.Errorf("clerk %q", ar.State.Clerk)
	}
	for _, a := range []string{"start", "finish"} {
		if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]any{"action": a}); r.status != 200 {
			t.Fatalf("%s: %d %s", a, r.status, r.body)
		}
	}
	var st web.TicketStatus
	h.do(t, "GET", "/api/v1/tickets/a001", "", nil).decode(t, &st)
	if st.State != queue.Finished || !st.Rateable {
		t.Fatalf("lookup after finish: %+v", st)
	}
	if r := h.do(t, "POST", "/api/v1/tickets/A001/rating", "", map[string]any{"level": 2, "check": h.checkCode(t, "A001")}); r.status != 201 {
		t.Fatalf("rate: %d %s", r.status, r.body)
	}
	if p := h.do(t, "POST", "/api/v1/tickets/A001/rating", "", map[string]any{"level": 5, "check": h.checkCode(t, "A001")}).problem(t); p.Code != "already_rated" {
		t.Errorf("second rating: %+v", p)
	}
	// The manager sees the bad rating as an alert, and the clerk.
	var mh web.ManagerHall
	h.do(t, "GET", "/api/v1/manager/hall", h.token(t, web.RoleManager, 0), nil).decode(t, &mh)
	found := false
	for _, a := range mh.Alerts {
		found = found || a.Kind == "rating"
	}
	if !found || mh.Windows[0].Clerk != "clerk-test" {
		t.Errorf("manager hall: alerts %+v windows %+v", mh.Alerts, mh.Windows)
	}
}

func TestAppointmentCheckin(t *testing.T) {
	h := startHall(t)
	m := h.token(t, web.RoleManager, 0)
	if r := h.do(t, "POST", "/api/v1/manager/appointments", m, map[string]any{"code": "yy-2026-0001", "item": "MKT-001"}); r.status != 201 {
		t.Fatalf("book: %d %s", r.status, r.body)
	}
	var a, b web.TicketResponse
	r := h.do(t, "POST", "/api/v1/appointments/YY-2026-0001/checkin", "", map[string]any{})
	r.decode(t, &a)
	if r.status != 201 || a.Class != "appointment" || a.Number != "C001" {
		t.Fatalf("check-in: %d %s", r.status, r.body)
	}
	h.do(t, "POST", "/api/v1/appointments/YY-2026-0001/checkin", "", map[string]any{}).decode(t, &b)
	if b.ID != a.ID || !b.Duplicate {
		t.Errorf("second check-in gave another ticket: %+v", b)
	}
}

func TestStreamDeliversCalls(t *testing.T) {
	h := startHall(t)
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(h.base, "http", "ws", 1)+"/api/v1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var hello web.StreamMsg
	if err := ws.ReadJSON(&hello); err != nil || hello.Kind != "hello" {
		t.Fatalf("hello: %+v %v", hello, err)
	}
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "MKT-001"})
	h.do(t, "POST", "/api/v1/windows/2/actions", h.token(t, web.RoleClerk, 2), map[string]any{"action": "call-next"})
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m web.StreamMsg
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Queue != nil && m.Queue.Person != "" {
			t.Fatalf("person hash leaked: %+v", m.Queue)
		}
		if m.Call != nil {
			if m.Call.Number != "C001" || m.Call.Window != 2 {
				t.Fatalf("call: %+v", m.Call)
			}
			return
		}
	}
}

// The what-if preview reports exactly what the simulator reports for the
// same engine state, actions and seeded arrivals.
func TestPreviewMatchesSimulator(t *testing.T) {
	h := startHall(t)
	for i := 0; i < 8; i++ {
		h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	}
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-002"})
	h.do(t, "POST", "/api/v1/windows/1/actions", h.token(t, web.RoleClerk, 1), map[string]any{"action": "call-next"})
	actions := []ctl.ManagerAction{{Type: "open", Window: 3}, {Type: "set_serves", Window: 3, Refs: []string{"*"}}}
	var pr web.PreviewResponse
	r := h.do(t, "POST", "/api/v1/manager/preview", h.token(t, web.RoleManager, 0), map[string]any{"actions": actions, "horizon_s": 3600, "replications": 2, "seed": 7})
	r.decode(t, &pr)
	if r.status != 200 {
		t.Fatalf("preview: %d %s", r.status, r.body)
	}
	checkPreview(t, h, pr, actions)
	if pr.After.Items["HR-001"].P90 >= pr.Before.Items["HR-001"].P90 {
		t.Errorf("a third window did not shorten HR-001's P90: before %+v after %+v", pr.Before.Items["HR-001"], pr.After.Items["HR-001"])
	}
	// The preview changed nothing; applying does, and is audited.
	var w3 queue.WindowView
	h.Controller.View(func(e *queue.Engine) { w3, _ = e.Window(3) })
	if w3.State != "closed" {
		t.Fatalf("preview opened window 3")
	}
	if r := h.do(t, "POST", "/api/v1/manager/actions", h.token(t, web.RoleManager, 0), map[string]any{"actions": actions}); r.status != 200 {
		t.Fatalf("apply: %d %s", r.status, r.body)
	}
	au, _ := h.Controller.Audit(context.Background(), 10)
	if len(au) != 2 || au[0].Actor != "manager-test" || au[1].Action.Type != "open" {
		t.Errorf("audit: %+v", au)
	}
}

// checkPreview recomputes the preview with sim.RunFrom directly.
func checkPreview(t *testing.T, h *hall, pr web.PreviewResponse, actions []ctl.ManagerAction) {
	t.Helper()
	now := pr.At
	var base *queue.Engine
	var snap queue.Snapshot
	var rates map[string]float64
	h.Controller.View(func(e *queue.Engine) {
		base, snap, rates = e.Clone(), e.Snapshot(now), ctl.ObservedRates(h.Controller.Config(), e, now)
	})
	changed := base.Clone()
	for _, a := range actions {
		if _, err := ctl.ApplyManagerAction(changed, now, a); err != nil {
			t.Fatal(err)
		}
	}
	cfg := h.Controller.Config()
	for side, eng := range map[string]*queue.Engine{"before": base, "after": changed} {
		got := pr.Before
		if side == "after" {
			got = pr.After
		}
		var p50, p90 float64
		mean := map[string]float64{}
		n := float64(pr.Replications)
		for r := 0; r < pr.Replications; r++ {
			arr := ctl.Forecast(cfg, snap, rates, pr.HorizonS, pr.Seed+uint64(r))
			res, err := sim.RunFrom(cfg, eng.Clone(), now, arr)
			if err != nil {
				t.Fatal(err)
			}
			p50 += res.Wait.P50 / n
			p90 += res.Wait.P90 / n
			for k, v := range res.ItemMeanWaitS {
				mean[k] += v / n
			}
		}
		if got.WaitP50 != p50 || got.WaitP90 != p90 {
			t.Errorf("%s: preview P50/P90 %v/%v, simulator %v/%v", side, got.WaitP50, got.WaitP90, p50, p90)
		}
		for k, v := range mean {
			if got.Items[k].MeanArrivals != v {
				t.Errorf("%s %s: preview mean %v, simulator %v", side, k, got.Items[k].MeanArrivals, v)
			}
		}
	}
}

func TestSecretPersistsAndTokens(t *testing.T) {
	dir := t.TempDir()
	s1, err := web.LoadSecret("", dir, true)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := web.LoadSecret("", dir, false)
	if err != nil || string(s1) != string(s2) {
		t.Fatalf("secret not persisted: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, web.SecretFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("hall secret mode: %v %v", fi, err)
	}
	// Finding "every secret is refused when group/world readable".
	os.Chmod(filepath.Join(dir, web.SecretFileName), 0o644)
	if _, err := web.LoadSecret("", dir, true); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("0644 hall secret: %v", err)
	}
	_ = http.StatusOK
}
