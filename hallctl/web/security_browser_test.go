package web_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/servicehall/servicehall/hallctl/web"
)

// cspWatch records, before any page script runs, every
// securitypolicyviolation and every alert() call of the tab's documents
// (a script the CSP lets run is not subject to it: it comes from the
// test, not the page).
const cspWatch = `window.__csp = []; window.__alerts = 0;
document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber));
window.alert = () => { window.__alerts++; };`

// isolatedTab opens a tab in a browser context of its own (its own
// cookies) with cspWatch installed, at url, without waiting for the app.
func isolatedTab(t *testing.T, url string, w, h int64) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser(t), chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "open "+url, chromedp.EmulateViewport(w, h), chromedp.Navigate(url))
	return ctx
}

// readyTab is isolatedTab waiting for the app to be ready.
func readyTab(t *testing.T, url string, w, h int64) context.Context {
	t.Helper()
	ctx := isolatedTab(t, url, w, h)
	step(t, ctx, "ready "+url, chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`)))
	return ctx
}

// signedInTab opens a console at url and signs in by pasting token into
// its sign-in field, as a clerk does.
func signedInTab(t *testing.T, url, token string, w, h int64) context.Context {
	t.Helper()
	ctx := isolatedTab(t, url, w, h)
	// The token field sits under the staff sign-in form, in a <details>.
	step(t, ctx, "open the token sign-in", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#login details").forEach(d => d.open = true)`))
	step(t, ctx, "sign in", chromedp.WaitVisible(chromedp.CSS("#token-in")), chromedp.SetValue(chromedp.CSS("#token-in"), token),
		chromedp.Click(chromedp.CSS("#token-go")), chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`)))
	return ctx
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// noViolations fails the test when the tab reported a CSP violation or
// an alert() ran.
func noViolations(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(eval[string](t, ctx, `JSON.stringify(window.__csp || ["watch missing"])`)), &v); err != nil {
		t.Fatal(err)
	}
	if len(v) != 0 {
		t.Errorf("%s: CSP violations %q", what, v)
	}
	if n := eval[int](t, ctx, `window.__alerts`); n != 0 {
		t.Errorf("%s: alert() ran %d times", what, n)
	}
}

// Finding "no CSP / inline code": every app, the ticket page and the case
// page load and work under the Content-Security-Policy without a single
// violation.
func TestBrowserAppsUnderCSP(t *testing.T) {
	browser(t)
	h := startHall(t)
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	a1, ok := h.Controller.FindTicket("A001")
	if !ok {
		t.Fatal("no A001")
	}
	link := h.Controller.TicketURL(a1.ID, a1.Number, a1.IssuedAt)
	for _, app := range []struct {
		path string
		w, h int64
	}{{"/kiosk/?agent=kiosk-1", 1080, 1920}, {"/screen/", 1920, 1080}} {
		ctx := readyTab(t, h.base+app.path, app.w, app.h)
		step(t, ctx, "online", chromedp.WaitReady(chromedp.CSS(`body[data-online="1"]`)))
		noViolations(t, ctx, app.path)
	}
	k := readyTab(t, h.base+"/kiosk/?agent=kiosk-1", 1080, 1920)
	step(t, k, "kiosk browses and opens a guide", chromedp.Click(chromedp.CSS("#go-take")), chromedp.WaitVisible(chromedp.CSS(`[data-item="HR-001"]`)),
		clickItem("HR-001"), chromedp.WaitVisible(chromedp.CSS("#guide-title")))
	noViolations(t, k, "kiosk guide")

	clerk := signedInTab(t, h.base+"/clerk/", h.token(t, web.RoleClerk, 1), 1280, 800)
	step(t, clerk, "call next", chromedp.KeyEvent("n"), chromedp.WaitReady(chromedp.CSS(`body[data-current="A001"]`)), chromedp.WaitVisible(chromedp.CSS("#reason")))
	noViolations(t, clerk, "clerk")

	m := signedInTab(t, h.base+"/manager/", h.token(t, web.RoleManager, 0), 1600, 1300)
	step(t, m, "report with bars", chromedp.Click(chromedp.CSS("#r-show")), chromedp.WaitVisible(chromedp.CSS(`#report-table tr[data-group="HR-001"]`)))
	if w := eval[string](t, m, `document.querySelector("#report-table .hbar").style.width`); !strings.HasSuffix(w, "px") {
		t.Errorf("report bar width %q: sizes not applied", w)
	}
	noViolations(t, m, "manager")

	tp := readyTab(t, link, 390, 844)
	noViolations(t, tp, "ticket page")
	home := isolatedTab(t, h.base+"/", 1280, 800)
	step(t, home, "home", chromedp.WaitVisible(chromedp.CSS("a")))
	noViolations(t, home, "home")
	cp := isolatedTab(t, h.base+"/c/31010000000000000000", 390, 844)
	step(t, cp, "case page", chromedp.WaitVisible(chromedp.CSS("h1")))
	noViolations(t, cp, "case page")
	if fs := eval[string](t, cp, `getComputedStyle(document.body).fontFamily`); !strings.Contains(fs, "sans-serif") {
		t.Errorf("case page style not applied: %q", fs)
	}
}

// Finding "manual escaping": an item named like markup shows as text in
// the kiosk and manager console; nothing of it runs.
func TestBrowserMarkupInDataIsText(t *testing.T) {
	browser(t)
	const evil = `<img src=x onerror=alert(1)>`
	cfg := testConfig(t)
	cfg.Items[0].Name = evil
	cfg.Items[0].Guide.Location = evil
	h := startHallWith(t, cfg)
	k := readyTab(t, h.base+"/kiosk/?agent=kiosk-1", 1080, 1920)
	step(t, k, "browse", chromedp.Click(chromedp.CSS("#go-take")), chromedp.WaitVisible(chromedp.CSS(`[data-item="HR-001"]`)))
	if s := text(t, k, `[data-item="HR-001"] b`); s != evil {
		t.Errorf("kiosk shows %q", s)
	}
	if n := eval[int](t, k, `document.querySelectorAll("#item-list img").length`); n != 0 {
		t.Errorf("%d img elements made from an item name", n)
	}
	noViolations(t, k, "kiosk")
	m := signedInTab(t, h.base+"/manager/", h.token(t, web.RoleManager, 0), 1600, 1300)
	step(t, m, "item row shows the name as text", chromedp.Poll[chromedp.Void](`(document.querySelector('#items tr[data-item="HR-001"] td') || {}).textContent?.includes("<img src=x onerror=alert(1)>")`, chromedp.WithPollingTimeout(10*time.Second)))
	if n := eval[int](t, m, `document.querySelectorAll("#items img").length`); n != 0 {
		t.Errorf("%d img elements in the manager's items", n)
	}
	noViolations(t, m, "manager")
}

// Finding "tokens in URLs": the clerk signs in by pasting the token;
// calls next; the token is never in the URL nor in page storage, and the
// session cookie is invisible to page scripts. A console opened with
// ?token= drops it from the address and does not use it.
func TestBrowserClerkSignIn(t *testing.T) {
	browser(t)
	h := startHall(t)
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	tok := h.token(t, web.RoleClerk, 1)
	c := signedInTab(t, h.base+"/clerk/", tok, 1280, 800)
	step(t, c, "call next", chromedp.Click(chromedp.CSS(`[data-act="call-next"]`)), chromedp.WaitReady(chromedp.CSS(`body[data-current="A001"]`)))
	if u := eval[string](t, c, `location.href`); strings.Contains(u, tok) || strings.Contains(u, "token") {
		t.Errorf("URL %q", u)
	}
	if s := eval[string](t, c, `document.cookie + JSON.stringify(sessionStorage) + JSON.stringify(localStorage)`); strings.Contains(s, tok) {
		t.Errorf("the token is readable by the page: %q", s)
	}
	noViolations(t, c, "clerk")
	step(t, c, "sign out", chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#token-in")))

	u := isolatedTab(t, h.base+"/clerk/?token="+tok, 1280, 800)
	step(t, u, "refused", chromedp.WaitVisible(chromedp.CSS("#token-in")))
	if href := eval[string](t, u, `location.href`); strings.Contains(href, "token") {
		t.Errorf("the token stayed in the address: %q", href)
	}
	if s := text(t, u, "#login-err"); !strings.Contains(s, "URL") {
		t.Errorf("no refusal message: %q", s)
	}
	if eval[bool](t, u, `document.getElementById("app").classList.contains("hidden")`) != true {
		t.Error("the console opened with a token from the URL")
	}
}
