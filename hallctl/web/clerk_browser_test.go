package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/web"
)

// rawCodes must never reach a clerk's eyes (issue 11, clerk console).
var rawCodes = []string{"call-next", "no-show", "serving", "called", "(no_ticket)", "no_ticket", "dept:", "walkin",
	"window_idle", "wrong_window", "unauthorized", "token_", "session_ended", "undefined", "NaN", "[object"}

// noRawCodes fails when the page's visible text holds a raw code.
func noRawCodes(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	body := eval[string](t, ctx, `document.body.innerText`)
	for _, c := range rawCodes {
		if strings.Contains(body, c) {
			t.Errorf("%s: raw code %q on the page:\n%s", what, c, body)
		}
	}
}

// enabledActs lists the action buttons that are enabled, in page order.
func enabledActs(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, `[...document.querySelectorAll("[data-act]")].filter(b => !b.disabled).map(b => b.dataset.act).join(",")`)
}

func wantActs(t *testing.T, ctx context.Context, state, want string) {
	t.Helper()
	if got := enabledActs(t, ctx); got != want {
		t.Errorf("%s: enabled actions %q, want %q", state, got, want)
	}
}

// staffSignIn fills the console's sign-in form.
func staffSignIn(t *testing.T, ctx context.Context, id, password, window string) {
	t.Helper()
	step(t, ctx, "sign in as "+id, chromedp.WaitVisible(chromedp.CSS("#staff-id")),
		chromedp.SetValue(chromedp.CSS("#staff-id"), id), chromedp.SetValue(chromedp.CSS("#staff-pw"), password),
		chromedp.SetValue(chromedp.CSS("#staff-win"), window), chromedp.Click(chromedp.CSS("#signin-go")))
}

func sessionCookieIn(t *testing.T, ctx context.Context, base string) string {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == web.SessionCookie {
			return c.Value
		}
	}
	return ""
}

// The clerk's day at 1920×1080: sign in at window 1 with staff id and
// password (a wrong password first), the waiting list shows the ticket,
// call → start → finish with only the valid actions enabled, Chinese
// labels only, a session ended elsewhere returns to the sign-in screen
// with a message, and signing out does too. axe is clean in each state.
func TestBrowserClerkStaffConsole(t *testing.T) {
	browser(t)
	h := staffHall(t)
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "MKT-001"}) // window 2's: not listed at window 1

	c := isolatedTab(t, h.base+"/clerk/?window=1", 1920, 1080)
	step(t, c, "the sign-in screen", chromedp.WaitReady(chromedp.CSS(`body[data-signed-in="0"]`)), chromedp.WaitVisible(chromedp.CSS("#staff-id")))
	if v := eval[string](t, c, `document.getElementById("staff-win").value`); v != "1" {
		t.Errorf("window preselected %q", v)
	}
	axeClean(t, c, "clerk sign-in")
	noRawCodes(t, c, "sign-in")
	shot(t, c, "clerk-signin")

	staffSignIn(t, c, "c1", "wrong-password", "1")
	step(t, c, "refused", chromedp.Poll[chromedp.Void](`document.getElementById("login-err").textContent.includes("工号或密码错误")`, chromedp.WithPollingTimeout(10*time.Second)))
	if eval[string](t, c, `document.getElementById("staff-pw").value`) != "" {
		t.Error("the password stayed in the field")
	}
	axeClean(t, c, "clerk sign-in refused")

	staffSignIn(t, c, "c1", "clerk-one-pw", "1")
	step(t, c, "signed in, the waiting list", chromedp.WaitReady(chromedp.CSS(`body[data-signed-in="1"][data-ready="1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#queue tr[data-number="A001"]`)))
	if who := text(t, c, "#who"); !strings.Contains(who, "小李") || !strings.Contains(who, "c1") {
		t.Errorf("identity label %q", who)
	}
	if row := text(t, c, `#queue tr[data-number="A001"]`); !strings.Contains(row, "社会保障卡申领") || !strings.Contains(row, "分钟") {
		t.Errorf("queue row %q", row)
	}
	if eval[int](t, c, `document.querySelectorAll("#queue tbody tr").length`) != 1 {
		t.Errorf("window 1's list shows other windows' tickets: %s", text(t, c, "#queue"))
	}
	if s := text(t, c, "#serves"); !strings.Contains(s, "人力资源和社会保障局") {
		t.Errorf("serves %q", s)
	}
	wantActs(t, c, "idle", "call-next,pause")
	noRawCodes(t, c, "idle")
	axeClean(t, c, "clerk idle with a waiting ticket")
	shot(t, c, "clerk-console")

	step(t, c, "call", chromedp.Click(chromedp.CSS(`[data-act="call-next"]`)),
		chromedp.WaitReady(chromedp.CSS(`body[data-current="A001"][data-ticket-state="called"]`)), chromedp.WaitVisible(chromedp.CSS("#reason")))
	wantActs(t, c, "called", "recall,no-show,start,transfer")
	if i := text(t, c, "#cur-info"); !strings.Contains(i, "已呼叫") {
		t.Errorf("called info %q", i)
	}
	noRawCodes(t, c, "called")
	axeClean(t, c, "clerk called")
	shot(t, c, "clerk-called")

	step(t, c, "start", chromedp.Click(chromedp.CSS(`[data-act="start"]`)),
		chromedp.WaitReady(chromedp.CSS(`body[data-ticket-state="serving"]`)))
	wantActs(t, c, "serving", "call-next,finish,transfer")
	if i := text(t, c, "#cur-info"); !strings.Contains(i, "办理中") {
		t.Errorf("serving info %q", i)
	}
	noRawCodes(t, c, "serving")
	axeClean(t, c, "clerk serving")

	// Keyboard shortcuts respect the state: R (recall) does nothing now.
	step(t, c, "R while serving", chromedp.KeyEvent("r"))
	step(t, c, "finish", chromedp.Click(chromedp.CSS(`[data-act="finish"]`)),
		chromedp.WaitReady(chromedp.CSS(`body[data-current=""][data-ticket-state=""]`)), chromedp.WaitVisible(chromedp.CSS("#queue-empty")))
	wantActs(t, c, "idle after finish", "call-next,pause")
	if l := text(t, c, "#log"); strings.Contains(l, "重呼") || !strings.Contains(l, "办结") || !strings.Contains(l, "叫号：A001") {
		t.Errorf("log %q", l)
	}
	// Nobody waits: calling says so in Chinese.
	step(t, c, "call with nobody waiting", chromedp.Click(chromedp.CSS(`[data-act="call-next"]`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("log").textContent.includes("没有可呼叫的号码")`, chromedp.WithPollingTimeout(10*time.Second)))
	noRawCodes(t, c, "no ticket")
	axeClean(t, c, "clerk idle, empty queue")

	step(t, c, "pause", chromedp.Click(chromedp.CSS(`[data-act="pause"]`)), chromedp.WaitVisible(chromedp.CSS("#pause-box")),
		chromedp.Click(chromedp.CSS("#pause-go")), chromedp.WaitReady(chromedp.CSS(`body[data-win-state="paused"]`)))
	wantActs(t, c, "paused", "resume")
	if s := text(t, c, "#win-state"); !strings.Contains(s, "暂停服务") {
		t.Errorf("paused state %q", s)
	}
	noRawCodes(t, c, "paused")
	axeClean(t, c, "clerk paused")
	step(t, c, "resume", chromedp.Click(chromedp.CSS(`[data-act="resume"]`)), chromedp.WaitReady(chromedp.CSS(`body[data-win-state="open"]`)))

	// The session ends elsewhere (as at expiry): the next answer is 401
	// and the console shows the sign-in screen with the reason, by itself.
	tok := sessionCookieIn(t, c, h.base)
	if tok == "" {
		t.Fatal("no session cookie in the browser")
	}
	if r, _ := h.call(t, "DELETE", "/api/v1/session", tok, nil, nil); r.status != 204 {
		t.Fatalf("end the session: %d", r.status)
	}
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-002"}) // a queue event: the console refreshes
	step(t, c, "back to sign-in", chromedp.WaitReady(chromedp.CSS(`body[data-signed-in="0"]`)), chromedp.WaitVisible(chromedp.CSS("#staff-id")))
	if m := text(t, c, "#login-err"); !strings.Contains(m, "请重新登录") {
		t.Errorf("sign-in message after the session ended: %q", m)
	}
	if eval[bool](t, c, `document.getElementById("app").classList.contains("hidden")`) != true {
		t.Error("the console stayed open")
	}
	noRawCodes(t, c, "session ended")
	axeClean(t, c, "clerk session ended")

	// Expiry: the browser holds a session token past its exp (as after a
	// shift); the next refresh answers 401 token_expired.
	staffSignIn(t, c, "c1", "clerk-one-pw", "1")
	step(t, c, "signed in again", chromedp.WaitReady(chromedp.CSS(`body[data-signed-in="1"][data-ready="1"]`)), chromedp.WaitVisible(chromedp.CSS(`#queue tr[data-number="B001"]`)))
	now := time.Now()
	old, err := h.keys.Sign(web.Claims{Role: web.RoleClerk, Window: 1, Subject: "c1", Session: "expired-one",
		Issued: now.Add(-2 * time.Hour).Unix(), Expires: now.Add(-time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	httpOnly := true
	if _, err := chromedp.Call(c, network.SetCookie, network.SetCookieParams{Name: web.SessionCookie, Value: old, URL: h.base + "/", Path: "/",
		HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteStrict}); err != nil {
		t.Fatal(err)
	}
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-002"})
	step(t, c, "expired: back to sign-in", chromedp.WaitReady(chromedp.CSS(`body[data-signed-in="0"]`)), chromedp.WaitVisible(chromedp.CSS("#staff-id")))
	if m := text(t, c, "#login-err"); !strings.Contains(m, "登录已过期") {
		t.Errorf("sign-in message after expiry: %q", m)
	}
	noRawCodes(t, c, "session expired")
	axeClean(t, c, "clerk session expired")

	// Sign in again; sign out: the cookie is gone, the sign-in screen shows.
	staffSignIn(t, c, "c1", "clerk-one-pw", "1")
	step(t, c, "signed in a third time", chromedp.WaitReady(chromedp.CSS(`body[data-signed-in="1"][data-ready="1"]`)), chromedp.WaitVisible(chromedp.CSS(`#queue tr[data-number="B002"]`)))
	tok = sessionCookieIn(t, c, h.base)
	step(t, c, "sign out", chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitReady(chromedp.CSS(`body[data-signed-in="0"]`)), chromedp.WaitVisible(chromedp.CSS("#staff-id")))
	if m := text(t, c, "#login-err"); !strings.Contains(m, "已退出登录") {
		t.Errorf("sign-out message %q", m)
	}
	if v := sessionCookieIn(t, c, h.base); v != "" {
		t.Errorf("the session cookie is still set after sign-out")
	}
	if r, _ := h.call(t, "GET", "/api/v1/windows/1", tok, nil, nil); r.status != 401 {
		t.Errorf("the signed-out session's token still works: %d", r.status)
	}
	noViolations(t, c, "clerk")
}

// A cross-site page's forms cannot sign a browser in nor act with its
// session: a page of another site (localhost vs the hall's 127.0.0.1)
// posts a sign-in form and, to a signed-in browser, an action form. Both
// are refused (the browser sends the other site's Origin; the bodies are
// not JSON; the SameSite=Strict cookie is not sent), no cookie is set and
// nothing is called.
func TestBrowserClerkCrossSiteSignIn(t *testing.T) {
	browser(t)
	h := staffHall(t)
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	evilSite := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, fields := "/api/v1/session", [][2]string{{"staff", "c1"}, {"password", "clerk-one-pw"}, {"window", "1"}}
		if r.URL.Path == "/act" {
			path, fields = "/api/v1/windows/1/actions", [][2]string{{"action", "call-next"}}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><body><iframe name="sink"></iframe><form method="POST" target="sink" action="%s%s">`, h.base, path)
		for _, f := range fields {
			fmt.Fprintf(w, `<input name="%s" value="%s">`, f[0], f[1])
		}
		fmt.Fprint(w, `</form><script>const fr = document.querySelector("iframe"); fr.onload = () => { document.body.dataset.posted = "1"; }; document.forms[0].submit();</script></body>`)
	}))
	t.Cleanup(evilSite.Close)
	evil := "http://localhost:" + evilSite.URL[strings.LastIndex(evilSite.URL, ":")+1:]
	refused := func() string { return h.metric(t, `hallctl_http_cross_site_refused_total{reason="origin"}`) }

	b := isolatedTab(t, evil+"/", 1280, 800)
	step(t, b, "the other site's sign-in form", chromedp.WaitReady(chromedp.CSS(`body[data-posted="1"]`)))
	if v := sessionCookieIn(t, b, h.base); v != "" {
		t.Error("a cross-site form signed the browser in")
	}
	if n := refused(); n != "1" {
		t.Errorf("cross-site posts refused: %s, want 1", n)
	}

	// The same browser signs in at the hall, then visits the other site.
	step(t, b, "the hall", chromedp.Navigate(h.base+"/clerk/?window=1"), chromedp.WaitReady(chromedp.CSS(`body[data-signed-in="0"]`)))
	staffSignIn(t, b, "c1", "clerk-one-pw", "1")
	step(t, b, "signed in", chromedp.WaitReady(chromedp.CSS(`body[data-signed-in="1"][data-ready="1"]`)))
	step(t, b, "the other site's action form", chromedp.Navigate(evil+"/act"), chromedp.WaitReady(chromedp.CSS(`body[data-posted="1"]`)))
	if n := refused(); n != "2" {
		t.Errorf("cross-site posts refused: %s, want 2", n)
	}
	if a, _ := h.Controller.FindTicket("A001"); a.State != queue.Waiting {
		t.Errorf("A001 is %s: a cross-site form acted", a.State)
	}
}
