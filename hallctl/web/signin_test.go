package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/servicehall/servicehall/hallctl/app"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/report"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/hallctl/web"
)

// The staff of the sign-in tests: passwords in the clear here, bcrypt
// hashes (at the cheapest cost, for speed) in the config.
var testStaff = []struct{ id, name, role, password, windows string }{
	{"c1", "小李", "clerk", "clerk-one-pw", ""},
	{"c2", "小王", "clerk", "clerk-two-pw", ""},
	{"c3", "小张", "clerk", "clerk-three-pw", "[2]"},
	{"m1", "陈主任", "manager", "manager-pw", ""},
}

func staffHall(t testing.TB) *hall {
	t.Helper()
	return startHallWith(t, staffConfig(t))
}

// staffConfig is the test hall with the testStaff section.
func staffConfig(t testing.TB) *config.Config {
	t.Helper()
	var b strings.Builder
	b.WriteString(testHall + "staff:\n")
	for _, s := range testStaff {
		h, err := bcrypt.GenerateFromPassword([]byte(s.password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("  - {id: " + s.id + ", name: " + s.name + ", role: " + s.role + ", password_hash: \"" + string(h) + "\"")
		if s.windows != "" {
			b.WriteString(", windows: " + s.windows)
		}
		b.WriteString("}\n")
	}
	cfg, err := config.Parse("staff.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// call is h.do with a session cookie and extra headers; it returns the
// answer and its headers.
func (h *hall) call(t testing.TB, method, path, cookie string, body any, hdr map[string]string) (resp, http.Header) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, h.base+path, rd)
	if rd != nil || (method != "GET" && method != "HEAD") {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: cookie})
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, ctype: res.Header.Get("Content-Type"), body: b}, res.Header
}

func sessionCookie(h http.Header) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == web.SessionCookie {
			return c
		}
	}
	return nil
}

// signIn signs a member of staff in and returns the session cookie's value.
func (h *hall) signIn(t testing.TB, id, password string, window int) string {
	t.Helper()
	r, cs := h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": id, "password": password, "window": window}, nil)
	if r.status != 200 {
		t.Fatalf("sign in %s: %d %s", id, r.status, r.body)
	}
	c := sessionCookie(cs)
	if c == nil || c.Value == "" {
		t.Fatalf("sign in %s: no session cookie", id)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/", c)
	}
	return c.Value
}

// A clerk signs in at a window with the staff id and password: the
// session's token names the staff id and the window; the clerk acts there.
func TestStaffSignInGood(t *testing.T) {
	h := staffHall(t)
	tok := h.signIn(t, "c1", "clerk-one-pw", 1)
	cl, err := h.keys.Parse(tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cl.Subject != "c1" || cl.Role != web.RoleClerk || cl.Window != 1 || cl.Session == "" {
		t.Errorf("claims %+v", cl)
	}
	if ttl := time.Duration(cl.Expires-cl.Issued) * time.Second; ttl != web.StaffSessionTTL {
		t.Errorf("session lifetime %v", ttl)
	}
	r, _ := h.call(t, "GET", "/api/v1/whoami", tok, nil, nil)
	var me struct {
		Role, Subject, Name string
		Window              int
	}
	r.decode(t, &me)
	if me.Subject != "c1" || me.Name != "小李" || me.Window != 1 || me.Role != "clerk" {
		t.Errorf("whoami %s", r.body)
	}
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	if r, _ := h.call(t, "POST", "/api/v1/windows/1/actions", tok, map[string]any{"action": "call-next"}, nil); r.status != 200 {
		t.Fatalf("call next: %d %s", r.status, r.body)
	}
	// A manager signs in without a window.
	mt := h.signIn(t, "m1", "manager-pw", 0)
	if r, _ := h.call(t, "GET", "/api/v1/manager/hall", mt, nil, nil); r.status != 200 {
		t.Errorf("manager route: %d %s", r.status, r.body)
	}
	if h.metric(t, `hallctl_staff_signins_total{result="ok"}`) != "2" {
		t.Errorf("ok sign-ins counted %q", h.metric(t, `hallctl_staff_signins_total{result="ok"}`))
	}
}

// A wrong password and an unknown staff id get the very same answer,
// and no cookie.
func TestStaffSignInWrongAndUnknownSameAnswer(t *testing.T) {
	h := staffHall(t)
	wrong, wc := h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "c1", "password": "not-it", "window": 1}, nil)
	unknown, uc := h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "nobody", "password": "not-it", "window": 1}, nil)
	empty, _ := h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "c1", "password": "", "window": 1}, nil)
	for _, r := range []resp{wrong, unknown, empty} {
		if p := r.problem(t); r.status != 401 || p.Code != "sign_in_failed" {
			t.Errorf("answer %d %s", r.status, r.body)
		}
	}
	if !bytes.Equal(wrong.body, unknown.body) || wrong.ctype != unknown.ctype {
		t.Errorf("wrong password %s, unknown id %s: the answers differ", wrong.body, unknown.body)
	}
	if sessionCookie(wc) != nil || sessionCookie(uc) != nil {
		t.Error("a failed sign-in set a cookie")
	}
	if v := h.metric(t, `hallctl_staff_signins_total{result="failed"}`); v != "3" {
		t.Errorf("failures counted %q", v)
	}
}

// After SignInFreeFailures failures for a staff id the next tries wait:
// 429 with Retry-After even with the right password; other staff ids are
// not held up by it. Unknown ids are throttled alike.
func TestStaffSignInThrottled(t *testing.T) {
	h := staffHall(t)
	for i := 0; i < web.SignInFreeFailures; i++ {
		if r, _ := h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "c2", "password": "guess", "window": 1}, nil); r.status != 401 {
			t.Fatalf("try %d: %d", i, r.status)
		}
	}
	r, cs := h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "c2", "password": "clerk-two-pw", "window": 1}, nil)
	if p := r.problem(t); r.status != 429 || p.Code != "sign_in_throttled" || cs.Get("Retry-After") == "" || sessionCookie(cs) != nil {
		t.Fatalf("throttled: %d %s %s", r.status, r.ctype, r.body)
	}
	if v := h.metric(t, `hallctl_staff_signins_total{result="throttled"}`); v != "1" {
		t.Errorf("throttled counted %q", v)
	}
	h.signIn(t, "c1", "clerk-one-pw", 1) // another staff id signs in
	for i := 0; i < web.SignInFreeFailures; i++ {
		h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "ghost", "password": "guess", "window": 1}, nil)
	}
	if r, _ := h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "ghost", "password": "guess", "window": 1}, nil); r.status != 429 {
		t.Errorf("unknown id after failures: %d (an unknown id must be throttled like a known one)", r.status)
	}
	// Per address: past SignInFreeFailuresIP failures from one address
	// every staff id waits.
	for i := 0; i < web.SignInFreeFailuresIP; i++ {
		h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "spray" + string(rune('a'+i)), "password": "guess", "window": 1}, nil)
	}
	if r, _ := h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "m1", "password": "manager-pw"}, nil); r.status != 429 {
		t.Errorf("address throttle: %d", r.status)
	}
}

// A disabled staff id (hallctl token disable) cannot sign in, and its
// live session is refused at once.
func TestStaffSignInDisabled(t *testing.T) {
	h := staffHall(t)
	tok := h.signIn(t, "c2", "clerk-two-pw", 2)
	if _, err := h.Controller.DisableSubject(context.Background(), "c2", "admin-test", web.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	r, cs := h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "c2", "password": "clerk-two-pw", "window": 2}, nil)
	if p := r.problem(t); r.status != 403 || p.Code != "staff_disabled" || sessionCookie(cs) != nil {
		t.Errorf("disabled sign-in: %d %s", r.status, r.body)
	}
	if r, _ := h.call(t, "GET", "/api/v1/windows/2", tok, nil, nil); r.status != 401 || r.problem(t).Code != "token_revoked" {
		t.Errorf("disabled session: %d %s", r.status, r.body)
	}
	// A wrong password for a disabled id still says only "wrong".
	if r, _ := h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "c2", "password": "x", "window": 2}, nil); r.problem(t).Code != "sign_in_failed" {
		t.Errorf("disabled id, wrong password: %s", r.body)
	}
}

// The window is bound into the session: a clerk signed in at window 1
// cannot read or act for window 2; a clerk needs a window, and one the
// staff entry allows.
func TestStaffSignInWindowBinding(t *testing.T) {
	h := staffHall(t)
	tok := h.signIn(t, "c1", "clerk-one-pw", 1)
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "MKT-001"})
	if r, _ := h.call(t, "POST", "/api/v1/windows/2/actions", tok, map[string]any{"action": "call-next"}, nil); r.status != 403 || r.problem(t).Code != "wrong_window" {
		t.Errorf("act for window 2: %d %s", r.status, r.body)
	}
	if r, _ := h.call(t, "GET", "/api/v1/windows/2", tok, nil, nil); r.status != 403 {
		t.Errorf("read window 2: %d", r.status)
	}
	if c, _ := h.Controller.FindTicket("C001"); c.State != queue.Waiting {
		t.Errorf("C001 %s: window 2 acted", c.State)
	}
	for _, tc := range []struct {
		id, pw string
		window int
		status int
		code   string
	}{
		{"c1", "clerk-one-pw", 0, 400, "window_required"},
		{"c1", "clerk-one-pw", 9, 404, "unknown_window"},
		{"c3", "clerk-three-pw", 1, 403, "window_not_allowed"},
	} {
		r, cs := h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": tc.id, "password": tc.pw, "window": tc.window}, nil)
		if r.status != tc.status || r.problem(t).Code != tc.code || sessionCookie(cs) != nil {
			t.Errorf("%s at %d: %d %s", tc.id, tc.window, r.status, r.body)
		}
	}
	h.signIn(t, "c3", "clerk-three-pw", 2)
}

// CSRF: another site cannot sign a browser in nor act with its session —
// a form post is refused (415: not JSON), a JSON post from another
// Origin is refused (403), and the cookie is SameSite=Strict (signIn).
func TestStaffSignInCrossSiteRefused(t *testing.T) {
	h := staffHall(t)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}
	r, cs := h.call(t, "POST", "/api/v1/session", "", "staff=c1&password=clerk-one-pw&window=1", form)
	if r.status != 403 || sessionCookie(cs) != nil {
		t.Errorf("cross-site form sign-in: %d %s", r.status, r.body)
	}
	r, cs = h.call(t, "POST", "/api/v1/session", "", "staff=c1&password=clerk-one-pw&window=1", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if r.status != 415 || sessionCookie(cs) != nil {
		t.Errorf("form sign-in without Origin: %d %s", r.status, r.body)
	}
	r, cs = h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "c1", "password": "clerk-one-pw", "window": 1}, map[string]string{"Origin": "http://evil.example"})
	if r.status != 403 || r.problem(t).Code != "cross_origin" || sessionCookie(cs) != nil {
		t.Errorf("cross-origin JSON sign-in: %d %s", r.status, r.body)
	}
	tok := h.signIn(t, "c1", "clerk-one-pw", 1)
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	if r, _ := h.call(t, "POST", "/api/v1/windows/1/actions", tok, "action=call-next", form); r.status != 403 {
		t.Errorf("cross-site form action: %d %s", r.status, r.body)
	}
	if r, _ := h.call(t, "POST", "/api/v1/windows/1/actions", tok, `{"action":"call-next"}`, map[string]string{"Content-Type": "text/plain"}); r.status != 415 {
		t.Errorf("text/plain action: %d %s", r.status, r.body)
	}
	if c, _ := h.Controller.FindTicket("A001"); c.State != queue.Waiting {
		t.Errorf("A001 %s: a cross-site post acted", c.State)
	}
}

// Sign-out clears the cookie and ends the session: its token is refused.
func TestStaffSignOut(t *testing.T) {
	h := staffHall(t)
	tok := h.signIn(t, "c1", "clerk-one-pw", 1)
	if _, clerk := h.Controller.WindowFloor(1, 0); clerk != "c1" {
		t.Errorf("window 1's clerk after sign-in: %q", clerk)
	}
	r, cs := h.call(t, "DELETE", "/api/v1/session", tok, nil, nil)
	c := sessionCookie(cs)
	if r.status != 204 || c == nil || c.Value != "" || c.MaxAge >= 0 {
		t.Fatalf("sign out: %d %+v", r.status, c)
	}
	if r, _ := h.call(t, "GET", "/api/v1/windows/1", tok, nil, nil); r.status != 401 || r.problem(t).Code != "session_ended" {
		t.Errorf("the old session after sign-out: %d %s", r.status, r.body)
	}
	if _, clerk := h.Controller.WindowFloor(1, 0); clerk != "" {
		t.Errorf("window 1's clerk after sign-out: %q", clerk)
	}
	// Signing in again works, and machine tokens (no session id) are not
	// ended by a sign-out.
	h.signIn(t, "c1", "clerk-one-pw", 1)
	mt := h.token(t, web.RoleClerk, 1)
	h.do(t, "DELETE", "/api/v1/session", mt, nil)
	if r := h.do(t, "GET", "/api/v1/windows/1", mt, nil); r.status != 200 {
		t.Errorf("machine token after a sign-out call: %d", r.status)
	}
}

// The clerk's staff id flows into the call and service events, the
// rating record and the per-clerk report, with the display name.
func TestStaffClerkInEventsRatingsReports(t *testing.T) {
	h := staffHall(t)
	tok := h.signIn(t, "c1", "clerk-one-pw", 1)
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	for _, a := range []string{"call-next", "start", "finish"} {
		if r, _ := h.call(t, "POST", "/api/v1/windows/1/actions", tok, map[string]any{"action": a}, nil); r.status != 200 {
			t.Fatalf("%s: %d %s", a, r.status, r.body)
		}
	}
	if r := h.do(t, "POST", "/api/v1/tickets/A001/rating", "", map[string]any{"level": 5, "check": h.checkCode(t, "A001")}); r.status != 201 {
		t.Fatalf("rate: %d %s", r.status, r.body)
	}
	ctx := context.Background()
	clerks := map[string]string{}
	var ratingClerk string
	err := h.Store.Read(ctx, "", 0, func(r store.Record) error {
		switch r.Stream {
		case ctl.QueueStream:
			if ev, err := queue.UnmarshalEvent(r.Data); err == nil && ev.Ticket != 0 {
				clerks[string(ev.Type)] = ev.Clerk
			}
		case ctl.RatingStream:
			var rt ctl.Rating
			json.Unmarshal(r.Data, &rt)
			ratingClerk = rt.Clerk
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"called", "started", "finished"} {
		if clerks[typ] != "c1" {
			t.Errorf("%s event's clerk %q", typ, clerks[typ])
		}
	}
	if clerks["issued"] != "" {
		t.Errorf("issued event has clerk %q", clerks["issued"])
	}
	if ratingClerk != "c1" {
		t.Errorf("rating's clerk %q", ratingClerk)
	}
	day := time.Now().In(h.Controller.Config().Loc).Format("2006-01-02")
	rows, err := h.Controller.Report(ctx, report.Opts{From: day, To: day, Period: "day", By: "clerk"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows {
		if r.Group == "c1" {
			found = true
			if r.GroupName != "小李" || r.Served != 1 || r.Ratings[4] != 1 {
				t.Errorf("c1's row %+v", r)
			}
		}
	}
	if !found {
		t.Errorf("no row for c1 in %+v", rows)
	}
	// The public stream and its snapshot do not say which staff id acted.
	if r := h.do(t, "GET", "/api/v1/snapshot", "", nil); bytes.Contains(r.body, []byte(`"c1"`)) {
		t.Errorf("the public snapshot names the clerk: %s", r.body)
	}
}

// The clerk's window state lists the tickets it can call: numbers, items
// and waits, no personal data, nothing of other windows' items.
func TestClerkWaitingList(t *testing.T) {
	h := staffHall(t)
	tok := h.signIn(t, "c1", "clerk-one-pw", 1)
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "MKT-001"})
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-002"})
	r, _ := h.call(t, "GET", "/api/v1/windows/1", tok, nil, nil)
	var ws web.WindowState
	r.decode(t, &ws)
	if ws.Waiting != 2 || len(ws.Queue) != 2 || ws.Queue[0].Number != "A001" || ws.Queue[1].Number != "B001" || ws.Queue[0].ItemName != "社会保障卡申领" {
		t.Errorf("window 1's queue: %s", r.body)
	}
	for _, k := range []string{"person", "masked", "id_hash"} {
		if bytes.Contains(r.body, []byte(k)) {
			t.Errorf("the clerk's queue carries %q: %s", k, r.body)
		}
	}
}

// The logs name the staff id and the outcome of each sign-in, never the
// password nor the session token.
func TestStaffSignInLogsNoPassword(t *testing.T) {
	logs := &lockedBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Start(ctx, app.Options{Config: staffConfig(t), Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: t.TempDir()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	h := &hall{App: a, base: "http://" + a.HTTPAddr(), keys: a.Keys}
	h.call(t, "POST", "/api/v1/session", "", map[string]any{"staff": "c1", "password": "wrong-secret-guess", "window": 1}, nil)
	tok := h.signIn(t, "c1", "clerk-one-pw", 1)
	h.call(t, "DELETE", "/api/v1/session", tok, nil, nil)
	logs.mu.Lock()
	out := logs.b.String()
	logs.mu.Unlock()
	for _, want := range []string{"staff sign-in failed", "staff signed in", "staff signed out", "staff=c1"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"wrong-secret-guess", "clerk-one-pw", tok} {
		if strings.Contains(out, secret) {
			t.Errorf("a secret is in the logs: %q", secret)
		}
	}
}
