package web_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/web"
)

// metric reads one sample line's value text from /metrics ("" if absent).
func (h *hall) metric(t testing.TB, name string) string {
	t.Helper()
	res, err := http.Get(h.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

// serveTicket issues a ticket of HR-001 and serves it at window 1.
func (h *hall) serveTicket(t *testing.T) string {
	t.Helper()
	var tk web.TicketResponse
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"}).decode(t, &tk)
	clerk := h.token(t, web.RoleClerk, 1)
	for _, a := range []string{"call-next", "start", "finish"} {
		if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]any{"action": a}); r.status != 200 {
			t.Fatalf("%s: %d %s", a, r.status, r.body)
		}
	}
	return tk.Number
}

// Finding (issue 10, item 2): anyone could rate any served ticket at the
// kiosk route by its public, sequential number. Now a guessed number with
// no proof, or a wrong check code, rates nothing (404 bad_ticket_check,
// counted in hallctl_ticket_check_failures_total); the check code printed
// on the ticket (or the QR's d) rates it, once.
func TestKioskRatingNeedsProofOfHolding(t *testing.T) {
	h := startHall(t)
	no := h.serveTicket(t)
	code := h.checkCode(t, no)
	wrong := "00000000"
	if code == wrong {
		wrong = "00000001"
	}
	for _, body := range []map[string]any{{"level": 1}, {"level": 1, "check": wrong}, {"level": 1, "d": "AAAAAAAAAAAAAAAA"}} {
		r := h.do(t, "POST", "/api/v1/tickets/"+no+"/rating", "", body)
		if r.status != 404 || r.problem(t).Code != "bad_ticket_check" {
			t.Fatalf("rating %v: %d %s, want 404 bad_ticket_check", body, r.status, r.body)
		}
	}
	tk, _ := h.Controller.FindTicket(no)
	if h.Controller.Rated(tk.ID) {
		t.Fatal("a rating without proof was stored")
	}
	if v := h.metric(t, "hallctl_ticket_check_failures_total"); v != "3" {
		t.Fatalf("failed checks counted %q, want 3", v)
	}
	if r := h.do(t, "POST", "/api/v1/tickets/"+no+"/rating", "", map[string]any{"level": 4, "check": code[:4] + " " + code[4:]}); r.status != 201 {
		t.Fatalf("rating with the printed code: %d %s", r.status, r.body)
	}
	if r := h.do(t, "POST", "/api/v1/tickets/"+no+"/rating", "", map[string]any{"level": 1, "check": code}); r.status != 409 || r.problem(t).Code != "already_rated" {
		t.Fatalf("second rating: %d %s", r.status, r.body)
	}
}

// limitedHall is the test hall with the given limits: section.
func limitedHall(t *testing.T, limits string) *hall {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(testHall+"limits: "+limits+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return startHallWith(t, cfg)
}

// from is a client on another loopback address (Linux routes 127/8).
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func (h *hall) post(t *testing.T, c *http.Client, path, token, body string) (int, string, web.Problem) {
	t.Helper()
	req, _ := http.NewRequest("POST", h.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return h.send(t, c, req)
}

func (h *hall) send(t *testing.T, c *http.Client, req *http.Request) (int, string, web.Problem) {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var p web.Problem
	if res.Header.Get("Content-Type") == "application/problem+json" {
		_ = json.Unmarshal(b, &p)
	}
	return res.StatusCode, res.Header.Get("Retry-After"), p
}

// Finding (issue 10, item 3/9): the public routes had no per-client
// limit. A client over limits.public_burst (refilled at
// limits.public_per_min) gets 429 rate_limited with Retry-After on every
// public route, the ticket page included, counted by route; another
// client address and the staff routes are served as before.
func TestPublicRateLimitPerClient(t *testing.T) {
	h := limitedHall(t, "{public_per_min: 1, public_burst: 5}")
	get := func(c *http.Client, path string) (int, string, web.Problem) {
		req, _ := http.NewRequest("GET", h.base+path, nil)
		return h.send(t, c, req)
	}
	for i := range 5 {
		if code, _, _ := get(http.DefaultClient, "/api/v1/hall"); code != 200 {
			t.Fatalf("request %d of the burst: %d", i, code)
		}
	}
	for _, path := range []string{"/api/v1/hall", "/api/v1/snapshot", "/t/A001", "/api/v1/t/A001?d=x", "/c/X1"} {
		code, retry, p := get(http.DefaultClient, path)
		if code != 429 || p.Code != "rate_limited" || retry == "" || retry == "0" {
			t.Fatalf("%s over the limit: %d %q retry %q, want 429 rate_limited with Retry-After", path, code, p.Code, retry)
		}
	}
	if code, _, _ := get(from("127.0.0.2"), "/api/v1/hall"); code != 200 {
		t.Fatalf("another client: %d", code)
	}
	req, _ := http.NewRequest("GET", h.base+"/api/v1/windows/1", nil)
	req.Header.Set("Authorization", "Bearer "+h.token(t, web.RoleClerk, 1))
	if code, _, _ := h.send(t, http.DefaultClient, req); code != 200 {
		t.Fatalf("a clerk route: %d", code)
	}
	if v := h.metric(t, `hallctl_http_rate_limited_total{limit="public",route="GET /api/v1/hall"}`); v != "1" {
		t.Fatalf("limited requests of /api/v1/hall counted %q, want 1", v)
	}
}

// Finding (issue 10, item 9): 200,000 anonymous tickets in 5.5 min. A
// kiosk or client address issues at most limits.tickets_per_client_per_min
// tickets a minute (429 too_many_tickets, nothing issued, counted);
// another kiosk and staff tokens still issue.
func TestTicketIssueLimitPerClient(t *testing.T) {
	h := limitedHall(t, "{tickets_per_client_per_min: 2, public_burst: 100}")
	body := `{"item":"HR-001"}`
	for i := range 2 {
		if code, _, p := h.post(t, http.DefaultClient, "/api/v1/tickets", "", body); code != 201 {
			t.Fatalf("ticket %d: %d %+v", i, code, p)
		}
	}
	before := fingerprint(t, h)
	code, retry, p := h.post(t, http.DefaultClient, "/api/v1/tickets", "", body)
	if code != 429 || p.Code != "too_many_tickets" || retry == "" {
		t.Fatalf("third ticket: %d %q retry %q, want 429 too_many_tickets", code, p.Code, retry)
	}
	if after := fingerprint(t, h); after != before {
		t.Fatal("a refused ticket changed the hall")
	}
	if code, _, _ := h.post(t, from("127.0.0.3"), "/api/v1/tickets", "", body); code != 201 {
		t.Fatalf("another kiosk: %d", code)
	}
	if code, _, _ := h.post(t, http.DefaultClient, "/api/v1/tickets", h.token(t, web.RoleManager, 0), body); code != 201 {
		t.Fatalf("a manager's ticket: %d", code)
	}
	if v := h.metric(t, `hallctl_http_rate_limited_total{limit="tickets",route="POST /api/v1/tickets"}`); v != "1" {
		t.Fatalf("refused tickets counted %q, want 1", v)
	}
}
