package web_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/web"
)

// hardenedHall starts the test hall with limits changed by set.
func hardenedHall(t *testing.T, set func(l *config.Limits)) *hall {
	t.Helper()
	cfg := testConfig(t)
	set(&cfg.Limits)
	return startHallWith(t, cfg)
}

// expectClosed reads c until the server closes it; failing when our own
// deadline (far beyond the server's) passes first.
func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open", what)
	}
}

func metricValue(t *testing.T, h *hall, name, label string) float64 {
	t.Helper()
	mfs, err := h.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

// Finding "no idle timeout": a keep-alive connection is closed after
// limits.http_idle_timeout_s.
func TestIdleConnectionIsClosed(t *testing.T) {
	h := hardenedHall(t, func(l *config.Limits) { l.HTTPIdleTimeoutS = 1 })
	c, err := net.Dial("tcp", h.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /api/v1/hall HTTP/1.1\r\nHost: %s\r\n\r\n", h.HTTPAddr())
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("first request: %v %v", res, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	expectClosed(t, c, "idle keep-alive connection")
}

// Finding "no read timeout": a body sent one byte a second is cut at
// limits.http_read_timeout_s.
func TestSlowBodyIsCut(t *testing.T) {
	h := hardenedHall(t, func(l *config.Limits) { l.HTTPReadTimeoutS = 1 })
	c, err := net.Dial("tcp", h.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/v1/tickets HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", h.HTTPAddr())
	stop := make(chan struct{})
	defer close(stop)
	go func() { // the slow client: one byte a second
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	expectClosed(t, c, "slow body")
	if n := len(h.Controller.Snapshot().Waiting); n != 0 {
		t.Errorf("%d tickets issued by a cut request", n)
	}
}

// Finding "no connection cap": one address holding more than
// limits.http_conns_per_ip connections gets the extra ones closed at
// once (counted), and the server still answers another client.
func TestConnectionsPerIPCapped(t *testing.T) {
	h := hardenedHall(t, func(l *config.Limits) { l.HTTPConnsPerIP = 4; l.HTTPReadHeaderTimeoutS = 60; l.HTTPIdleTimeoutS = 60 })
	var conns []net.Conn
	for i := 0; i < 7; i++ {
		c, err := net.Dial("tcp", h.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	closed := make(chan bool, len(conns))
	for _, c := range conns {
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			closed <- !(errors.As(err, &ne) && ne.Timeout())
		}()
	}
	n := 0
	for range conns {
		if <-closed {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d of 7 connections closed by the server, want 3 (cap 4 per address)", n)
	}
	if v := metricValue(t, h, "hallctl_http_conns_refused_total", "per_ip"); v < 3 {
		t.Errorf("refused per_ip counted %v", v)
	}
	// Another client (127.0.0.2 is loopback too) is served meanwhile.
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	res, err := other.Get(h.base + "/api/v1/hall")
	if err != nil {
		t.Fatalf("another client: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("another client got %d", res.StatusCode)
	}
}

func dialStream(h *hall, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	return websocket.DefaultDialer.Dial(strings.Replace(h.base, "http", "ws", 1)+"/api/v1/stream", hdr)
}

// Finding "unbounded websockets": the 5th anonymous stream from one
// address is refused with 429 (limits.websockets_per_ip, default 4) and
// counted; a staff token's streams are counted by its subject instead.
func TestWebsocketsPerIPCapped(t *testing.T) {
	h := startHall(t)
	for i := 0; i < 4; i++ {
		ws, _, err := dialStream(h, nil)
		if err != nil {
			t.Fatalf("stream %d: %v", i+1, err)
		}
		defer ws.Close()
	}
	_, res, err := dialStream(h, nil)
	if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("5th stream: %v %v", res, err)
	}
	if v := metricValue(t, h, "hallctl_websockets_refused_total", "per_ip"); v != 1 {
		t.Errorf("refused per_ip counted %v", v)
	}
	// A manager's console on the same address is not refused for the
	// screens' streams, and its own subject has the same cap.
	tok := h.token(t, web.RoleManager, 0)
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	for i := 0; i < 4; i++ {
		ws, _, err := dialStream(h, hdr)
		if err != nil {
			t.Fatalf("manager stream %d: %v", i+1, err)
		}
		defer ws.Close()
	}
	if _, res, err := dialStream(h, hdr); err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("5th manager stream: %v %v", res, err)
	}
}

// The write timeout does not cut a websocket stream: it still gets
// events after a connection of the same server has been closed by its
// (equal) idle timeout.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	h := hardenedHall(t, func(l *config.Limits) { l.HTTPWriteTimeoutS = 1; l.HTTPIdleTimeoutS = 1 })
	ws, _, err := dialStream(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c, err := net.Dial("tcp", h.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /api/v1/hall HTTP/1.1\r\nHost: %s\r\n\r\n", h.HTTPAddr())
	expectClosed(t, c, "idle connection") // one second has passed
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m web.StreamMsg
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("stream cut: %v", err)
		}
		if m.Kind == "queue" && m.Queue != nil && m.Queue.Number == "A001" {
			return
		}
	}
}

// Finding "any site may open the stream": a cross-origin websocket is
// refused; the hall's own origin and clients without Origin are not.
func TestStreamOrigin(t *testing.T) {
	h := startHall(t)
	_, res, err := dialStream(h, http.Header{"Origin": {"http://evil.example"}})
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin stream: %v %v", res, err)
	}
	for _, hdr := range []http.Header{nil, {"Origin": {h.base}}, {"Origin": {h.Controller.Config().Server.PublicURL}}} {
		ws, _, err := dialStream(h, hdr)
		if err != nil {
			t.Fatalf("stream with %v: %v", hdr, err)
		}
		ws.Close()
	}
}

// Finding "cross-site writes": a form-like text/plain POST is refused
// with 415, a JSON POST from another site's page with 403; nothing is
// issued. The hall's own origin works.
func TestCrossSiteWritesRefused(t *testing.T) {
	h := startHall(t)
	send := func(ctype, origin string) int {
		req, _ := http.NewRequest("POST", h.base+"/api/v1/tickets", strings.NewReader(`{"item":"HR-001"}`))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, c := range []struct {
		ctype, origin string
		want          int
	}{
		{"text/plain", "", 415},
		{"application/x-www-form-urlencoded", h.base, 415},
		{"", "", 415},
		{"application/json", "http://evil.example", 403},
		{"application/json", "null", 403},
	} {
		if got := send(c.ctype, c.origin); got != c.want {
			t.Errorf("POST %q from %q: %d, want %d", c.ctype, c.origin, got, c.want)
		}
	}
	if n := len(h.Controller.Snapshot().Waiting); n != 0 {
		t.Fatalf("%d tickets issued by refused requests", n)
	}
	if v := metricValue(t, h, "hallctl_http_cross_site_refused_total", "content_type"); v != 3 {
		t.Errorf("content_type refusals counted %v", v)
	}
	if got := send("application/json; charset=utf-8", h.base); got != 201 {
		t.Errorf("own origin JSON POST: %d", got)
	}
}

// Finding "no security headers": every answer carries the CSP, nosniff,
// no-referrer and DENY framing.
func TestSecurityHeaders(t *testing.T) {
	h := startHall(t)
	for _, p := range []string{"/", "/kiosk/", "/clerk/", "/assets/common.js", "/api/v1/hall", "/api/v1/nope", "/t/A001?d=x", "/c/123", "/healthz"} {
		res, err := http.Get(h.base + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		for k, want := range map[string]string{"Content-Security-Policy": web.ContentSecurityPolicy, "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if got := res.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q", p, k, got)
			}
		}
	}
	if strings.Contains(web.ContentSecurityPolicy, "unsafe-inline") {
		t.Error("the CSP allows inline code")
	}
}

// Finding "tokens in URLs": POST /session sets the token as an
// HttpOnly, SameSite=Strict cookie that authorises calls without an
// Authorization header; a bad token sets nothing; DELETE signs out.
func TestSessionCookie(t *testing.T) {
	h := startHall(t)
	if r := h.do(t, "POST", "/api/v1/session", "", map[string]string{"token": "nonsense.sig"}); r.status != 401 {
		t.Fatalf("bad token: %d", r.status)
	}
	body := strings.NewReader(`{"token":"` + h.token(t, web.RoleClerk, 1) + `"}`)
	req, _ := http.NewRequest("POST", h.base+"/api/v1/session", body)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var ck *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == web.SessionCookie {
			ck = c
		}
	}
	if res.StatusCode != 200 || ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Expires.IsZero() || ck.Secure {
		t.Fatalf("session: %d %+v", res.StatusCode, ck)
	}
	get := func(path string, c *http.Cookie) int {
		req, _ := http.NewRequest("GET", h.base+path, nil)
		if c != nil {
			req.AddCookie(c)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := get("/api/v1/windows/1", ck); s != 200 {
		t.Fatalf("clerk call with the cookie: %d", s)
	}
	if s := get("/api/v1/windows/1", nil); s != 401 {
		t.Fatalf("clerk call without it: %d", s)
	}
	req, _ = http.NewRequest("DELETE", h.base+"/api/v1/session", nil)
	req.Header.Set("Content-Type", "application/json")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || len(res.Cookies()) != 1 || res.Cookies()[0].MaxAge >= 0 {
		t.Fatalf("sign out: %d %+v", res.StatusCode, res.Cookies())
	}
}
