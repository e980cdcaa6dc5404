package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/web"
	"github.com/servicehall/servicehall/wire"
)

// One headless Chromium per test package (Debian's /usr/bin/chromium,
// never a downloaded browser); each test opens tabs in it.
var (
	browserOnce   sync.Once
	browserCtx    context.Context
	browserErr    error
	browserCancel = func() {}
)

func TestMain(m *testing.M) {
	code := m.Run()
	browserCancel()
	os.Exit(code)
}

func chromiumPath() string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// browser returns the package's browser, skipping loudly when Chromium is
// missing outside CI and failing under CI=true.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		msg := "!!! BROWSER TESTS SKIPPED: chromium not found (apt-get install -y chromium fonts-wqy-microhei) !!!"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
	browserOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sh-chromium-*")
		if err != nil {
			browserErr = err
			return
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
			chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(dir),
			chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
			chromedp.Flag("lang", "zh-CN"), chromedp.WindowSize(1920, 1080))
		ctx, cancel := chromedp.NewContext(alloc, chromedp.WithLogf(func(string, ...any) {}), chromedp.WithErrorf(func(string, ...any) {}))
		if err := chromedp.Do(ctx); err != nil { // starts the browser
			browserErr = err
		}
		browserCtx = ctx
		browserCancel = func() { cancel(); cancelAlloc(); os.RemoveAll(dir) }
	})
	if browserErr != nil {
		t.Fatalf("start chromium: %v", browserErr)
	}
	return browserCtx
}

// tab opens a new tab at url with the given viewport and waits for the
// app to be ready.
func tab(t *testing.T, url string, w, h int64) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser(t))
	t.Cleanup(cancel)
	// The tab is created by the first action and lives as long as the
	// context of that action: create it with ctx itself, not a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	step(t, ctx, "open "+url, chromedp.EmulateViewport(w, h), chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`)))
	return ctx
}

func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
		defer dcancel()
		html, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 1500)`))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, html)
	}
}

// text is the visible text of the first element css matches, read in
// one step in the page: the apps re-render lists when the hall changes,
// and a read by node id (chromedp.Text) fails when the node it found is
// replaced before its text is fetched. An element not there (yet, or
// replaced at that moment) is waited for.
func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	const none = "\x00none"
	q, _ := json.Marshal(css)
	js := `(() => { const e = document.querySelector(` + string(q) + `); return e ? e.innerText : "\u0000none"; })()`
	for {
		if err := chromedp.Do(sctx, chromedp.WaitReady(chromedp.CSS(css))); err != nil {
			t.Fatalf("text of %s: %v", css, err)
		}
		s, err := chromedp.Run(sctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("text of %s: %v", css, err)
		}
		if s != none {
			return strings.TrimSpace(s)
		}
	}
}

// shot writes a screenshot to $SCREENSHOTS/name.png (make screenshots).
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SCREENSHOTS")
	if dir == "" {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	// Let CSS transitions and the ticker settle a moment in the picture.
	b, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitCmd(t *testing.T, d *device, prefix, contains string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case c := <-d.cmds:
			if strings.HasPrefix(c, prefix) && strings.Contains(c, contains) {
				return c
			}
		case <-timeout:
			t.Fatalf("%s got no %s command with %q", d.agent, prefix, contains)
		}
	}
}

// The whole applicant journey in a real browser: a ticket on the kiosk, a
// clerk calls it, the hall screen and the window LED show it, the
// applicant rates the service; an ID-card ticket; a manager previews a
// rebalance (checked against the simulator) and applies it.
func TestBrowserEndToEnd(t *testing.T) {
	browser(t)
	h := startHall(t)
	kiosk := newDevice(t, h, "kiosk-1", []wire.DeviceInfo{
		{ID: "printer-1", Kind: wire.KindPrinter}, {ID: "reader-1", Kind: wire.KindIDReader}})
	win1 := newDevice(t, h, "window-1", []wire.DeviceInfo{
		{ID: "led-1", Kind: wire.KindLED, Window: 1}, {ID: "pad-1", Kind: wire.KindRating, Window: 1}})

	// Kiosk: browse, search, read the guide, take a ticket; it prints.
	k := tab(t, h.base+"/kiosk/?agent=kiosk-1", 1080, 1920)
	step(t, k, "kiosk online", chromedp.WaitReady(chromedp.CSS(`body[data-online="1"]`)))
	shot(t, k, "kiosk-home")
	step(t, k, "browse items", chromedp.Click(chromedp.CSS("#go-take")), chromedp.WaitVisible(chromedp.CSS(`[data-item="MKT-001"]`)),
		chromedp.SendKeys(chromedp.CSS("#search"), "社会保障"), chromedp.WaitNotPresent(chromedp.CSS(`[data-item="MKT-001"]`)))
	step(t, k, "open the guide", clickItem("HR-001"), chromedp.WaitVisible(chromedp.CSS("#guide-title")))
	if g := text(t, k, "#guide"); !strings.Contains(g, "居民身份证原件") || !strings.Contains(g, "一楼东区") {
		t.Errorf("guide: %q", g)
	}
	shot(t, k, "kiosk-guide")
	step(t, k, "take a ticket", chromedp.Click(chromedp.CSS("#take")), chromedp.WaitVisible(chromedp.CSS("#t-number")))
	if n := text(t, k, "#t-number"); n != "A001" {
		t.Fatalf("kiosk ticket %q", n)
	}
	if p := text(t, k, "#t-printed"); !strings.Contains(p, "已打印") {
		t.Errorf("printed line: %q", p)
	}
	waitCmd(t, kiosk, wire.CmdPrint, `"A001"`)
	step(t, k, "wait for a screen moment", chromedp.WaitVisible(chromedp.CSS("#t-eta")))
	shot(t, k, "kiosk-ticket")

	// An elderly applicant's ID card on this kiosk's reader: masked data
	// only, the elderly class, printed like any ticket.
	step(t, k, "back home", chromedp.Click(chromedp.CSS("#ticket .done")), chromedp.WaitVisible(chromedp.CSS("#go-take")))
	h.Controller.OnCard("kiosk-1", "reader-1", wire.Card{IDHash: "k1-hash-of-id", MaskedID: "110105********002X", MaskedName: "张*三", BirthYear: 1948,
		Raw: &wire.CardRaw{Name: "张小三", ID: "11010519480101002X"}})
	step(t, k, "card read", chromedp.WaitVisible(chromedp.CSS("#card-banner")), chromedp.WaitVisible(chromedp.CSS(`[data-item="MKT-001"]`)))
	if b := text(t, k, "#card-banner"); !strings.Contains(b, "张*三") {
		t.Errorf("card banner %q", b)
	}
	step(t, k, "take by card", clickItem("MKT-001"), chromedp.WaitVisible(chromedp.CSS("#take")),
		chromedp.Click(chromedp.CSS("#take")), chromedp.WaitVisible(chromedp.CSS("#t-number")))
	if n, it := text(t, k, "#t-number"), text(t, k, "#t-item"); n != "C001" || !strings.Contains(it, "老年人优先") {
		t.Errorf("card ticket %q %q", n, it)
	}
	html, _ := chromedp.Run(k, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if strings.Contains(html, "11010519480101002X") || strings.Contains(html, "张小三") {
		t.Fatal("the raw ID number or name reached the kiosk page")
	}
	if c, ok := h.Controller.FindTicket("C001"); !ok || c.Class != queue.Elderly {
		t.Errorf("card ticket in the engine: %+v", c)
	}

	// Hall screen and clerk console.
	screen := tab(t, h.base+"/screen/", 1920, 1080)
	step(t, screen, "screen online", chromedp.WaitReady(chromedp.CSS(`body[data-online="1"]`)))
	clerk := signedInTab(t, h.base+"/clerk/", h.token(t, web.RoleClerk, 1), 1280, 800)
	step(t, clerk, "clerk online", chromedp.WaitReady(chromedp.CSS(`body[data-online="1"]`)))
	step(t, clerk, "call next with the N key", chromedp.KeyEvent("n"), chromedp.WaitReady(chromedp.CSS(`body[data-current="A001"]`)),
		chromedp.WaitVisible(chromedp.CSS("#reason")))
	if r := text(t, clerk, "#reason"); !strings.Contains(r, "得分最高") {
		t.Errorf("reason: %q", r)
	}
	step(t, screen, "the call on the hall screen", chromedp.WaitReady(chromedp.CSS(`body[data-latest="A001@1"]`)))
	if n := text(t, screen, "#latest-n"); n != "A001" {
		t.Errorf("screen shows %q", n)
	}
	select {
	case doc := <-win1.docs:
		if len(doc.Lines) != 2 || doc.Lines[0] != "A001" || doc.Lines[1] != "请到1号窗口" {
			t.Errorf("LED: %+v", doc)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("window LED got no document")
	}
	shot(t, clerk, "clerk")
	shot(t, screen, "screen")
	step(t, clerk, "start (S)", chromedp.KeyEvent("s"), chromedp.Poll[chromedp.Void](`document.body.dataset.ticketState === "serving"`, chromedp.WithPollingTimeout(10*time.Second)))
	step(t, clerk, "finish (F)", chromedp.KeyEvent("f"), chromedp.Poll[chromedp.Void](`document.body.dataset.current === ""`, chromedp.WithPollingTimeout(10*time.Second)))
	waitCmd(t, win1, wire.CmdRatingOpen, `"A001"`)

	// The applicant rates at the kiosk.
	step(t, k, "rate", chromedp.Click(chromedp.CSS("#ticket .done")), chromedp.Click(chromedp.CSS("#go-rate")),
		chromedp.SendKeys(chromedp.CSS("#lookup-no"), "A001"), chromedp.Click(chromedp.CSS("#lookup-go")),
		chromedp.WaitVisible(chromedp.CSS("#rate-box")), chromedp.SendKeys(chromedp.CSS("#rate-check"), h.checkCode(t, "A001")),
		chromedp.Click(chromedp.CSS(`[data-level="5"]`)),
		chromedp.WaitVisible(chromedp.CSS("#rate-done")))
	if a, _ := h.Controller.FindTicket("A001"); !h.Controller.Rated(a.ID) {
		t.Error("rating not recorded")
	}

	// A001's case (accepted when the clerk started it) on the kiosk, by
	// the URL its receipt's QR code holds.
	kvs, err := h.Store.List(context.Background(), casesys.CasesBucket)
	if err != nil || len(kvs) != 1 {
		t.Fatalf("cases: %v %v", kvs, err)
	}
	serial := kvs[0].Key
	step(t, k, "case lookup", chromedp.Click(chromedp.CSS("#lookup .back")), chromedp.Click(chromedp.CSS("#go-lookup")),
		chromedp.WaitVisible(chromedp.CSS("#lookup-no")), chromedp.Click(chromedp.CSS("#lookup .keys button.wide:last-child")), chromedp.SendKeys(chromedp.CSS("#lookup-no"), h.Controller.Config().Server.PublicURL+"/c/"+serial+"?k="+h.Controller.CaseCheck(serial)), chromedp.Click(chromedp.CSS("#lookup-go")),
		chromedp.WaitVisible(chromedp.CSS(`.case-status[data-status="accepted"]`)))
	if s := text(t, k, ".case-serial"); s != serial {
		t.Errorf("kiosk shows case %q, want %q", s, serial)
	}

	// Manager: a backlog for HR, then open window 3 as a no-difference
	// window — preview, check against the simulator, apply.
	for i := 0; i < 8; i++ {
		h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	}
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-002"})
	m := signedInTab(t, h.base+"/manager/", h.token(t, web.RoleManager, 0), 1600, 1300)
	step(t, m, "propose", chromedp.SetValue(chromedp.CSS("#a-type"), "open"), chromedp.SetValue(chromedp.CSS("#a-window"), "3"),
		chromedp.Click(chromedp.CSS("#a-add")), chromedp.SetValue(chromedp.CSS("#a-type"), "set_serves"),
		chromedp.SetValue(chromedp.CSS("#a-refs"), "*"), chromedp.Click(chromedp.CSS("#a-add")),
		chromedp.Click(chromedp.CSS("#preview")), chromedp.WaitVisible(chromedp.CSS("#preview-table")))
	raw, err := chromedp.Run(m, chromedp.Evaluate[string](`JSON.stringify(window.lastPreview)`))
	if err != nil {
		t.Fatal(err)
	}
	var pr web.PreviewResponse
	if err := json.Unmarshal([]byte(raw), &pr); err != nil {
		t.Fatal(err)
	}
	actions := []ctl.ManagerAction{{Type: "open", Window: 3}, {Type: "set_serves", Window: 3, Refs: []string{"*"}}}
	checkPreview(t, h, pr, actions)
	if after := text(t, m, "#all-after"); after != fmt.Sprintf("%.1f / %.1f 分", pr.After.WaitP50/60, pr.After.WaitP90/60) {
		t.Errorf("shown %q for %v/%v", after, pr.After.WaitP50, pr.After.WaitP90)
	}
	shot(t, m, "manager")
	step(t, m, "report", chromedp.Click(chromedp.CSS("#r-show")), chromedp.WaitVisible(chromedp.CSS(`#report-table tr[data-group="HR-001"]`)))
	step(t, m, "apply", chromedp.Click(chromedp.CSS("#apply")), chromedp.WaitReady(chromedp.CSS("#audit tbody tr:nth-child(2)")))
	var w3 queue.WindowView
	h.Controller.View(func(e *queue.Engine) { w3, _ = e.Window(3) })
	if w3.State != "open" || len(w3.Serves) != 1 || w3.Serves[0] != "*" {
		t.Errorf("window 3 after apply: %+v", w3)
	}
	if os.Getenv("SCREENSHOTS") != "" {
		step(t, m, "refresh", chromedp.Reload(), chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`)))
		shot(t, m, "manager-applied")
	}
}

// The apps say so while offline and reconnect by themselves.
func TestBrowserReconnects(t *testing.T) {
	browser(t)
	h := startHall(t)
	s := tab(t, h.base+"/screen/", 1920, 1080)
	step(t, s, "online", chromedp.WaitReady(chromedp.CSS(`body[data-online="1"]`)))
	// Drop the stream as a network outage would.
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	if _, err := chromedp.Run(s, chromedp.Evaluate[chromedp.Void](`SH.dropStreams()`)); err != nil {
		t.Fatal(err)
	}
	step(t, s, "offline, then back", chromedp.WaitReady(chromedp.CSS(`body[data-offline-seen="1"][data-reconnects="1"][data-online="1"]`)),
		chromedp.WaitNotVisible(chromedp.CSS("#offline")))
}
