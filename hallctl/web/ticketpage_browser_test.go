package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/all" // the real drivers
	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos/escposemu"
)

// qrPayloads decodes the data of every native QR code in an ESC/POS byte
// stream: GS ( k pL pH cn=0x31 fn=0x50 m=0x30 d1…dk stores k = pL+256·pH−3
// bytes of QR data (the print function, fn=0x51, follows).
func qrPayloads(t *testing.T, raw []byte) []string {
	t.Helper()
	var out []string
	for i := 0; i+5 <= len(raw); i++ {
		if raw[i] != 0x1D || raw[i+1] != '(' || raw[i+2] != 'k' {
			continue
		}
		n := int(raw[i+3]) | int(raw[i+4])<<8
		end := i + 5 + n
		if end > len(raw) {
			t.Fatalf("GS ( k at %d declares %d bytes, %d left", i, n, len(raw)-i-5)
		}
		if n >= 3 && raw[i+5] == 0x31 && raw[i+6] == 0x50 && raw[i+7] == 0x30 {
			out = append(out, string(raw[i+8:end]))
		}
		i = end - 1
	}
	return out
}

// startKioskAgent runs the real firmware-agent in-process as kiosk-1 with
// its real ESC/POS printer driver, the printer being the emulator on a
// pseudo-terminal (as e2e does), connected to the hall's broker.
func startKioskAgent(t *testing.T, h *hall) *escposemu.Emulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	printer := escposemu.New(escposemu.Opts{})
	line, err := escposemu.Plug(ctx, printer, filepath.Join(dir, "ttyPrinter"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	y := fmt.Sprintf(`agent: {id: kiosk-1, hall: t-hall, state_dir: %s}
mqtt: {url: "%s"}
devices:
  - {id: printer-1, kind: escpos-printer, port: %s, baud: 9600, options: {poll_s: 1}}
`, filepath.Join(dir, "agent"), h.BrokerURL(), line.Path())
	cfg, err := agent.Parse([]byte(y), "kiosk-1.yaml")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ag, err := agent.New(ctx, cfg, agent.Opts{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; ag.Close(); line.Close() })
	waitRegistered(t, h, "kiosk-1", 1)
	return printer
}

// A real printed ticket's QR code, decoded from the bytes the printer
// emulator received, opens the ticket page on a 390×844 phone: 200, the
// number, people ahead and the wait range; it follows the ticket live to
// its window and to 已办结, and rates it once. The same number with a
// wrong d shows nothing and cannot rate.
func TestBrowserTicketPageFromPaper(t *testing.T) {
	browser(t)
	h := startHall(t)
	printer := startKioskAgent(t, h)

	// Someone ahead, then the ticket from the kiosk, printed on paper.
	if r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"}); r.status != 201 {
		t.Fatalf("first ticket: %d %s", r.status, r.body)
	}
	r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001", "agent": "kiosk-1"})
	var tk struct {
		Number  string
		Printed bool
	}
	r.decode(t, &tk)
	if r.status != 201 || !tk.Printed || tk.Number != "A002" {
		t.Fatalf("kiosk ticket: %d %s", r.status, r.body)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := printer.WaitFor(wctx, "---- cut ----"); err != nil {
		t.Fatalf("%v\n%s", err, printer.Paper())
	}
	qrs := qrPayloads(t, printer.Received())
	if len(qrs) != 1 {
		t.Fatalf("%d QR codes on the paper: %q", len(qrs), qrs)
	}
	link := qrs[0]
	if !strings.Contains(printer.Paper(), "[QR: "+link+"]") || !strings.Contains(printer.Paper(), "A002") {
		t.Fatalf("the virtual paper does not show the decoded QR %q:\n%s", link, printer.Paper())
	}
	u, err := url.Parse(link)
	if err != nil || "http://"+u.Host != h.base || u.Path != "/t/A002" || u.Query().Get("d") == "" {
		t.Fatalf("QR link %q (%v)", link, err)
	}

	p := tab(t, link, 390, 844)
	status, err := chromedp.Run(p, chromedp.Evaluate[int](`performance.getEntriesByType("navigation")[0].responseStatus`))
	if err != nil || status != 200 {
		t.Fatalf("page status %d (%v)", status, err)
	}
	if n := text(t, p, "#num"); n != "A002" {
		t.Fatalf("number %q", n)
	}
	st := text(t, p, "#status")
	if !strings.Contains(st, "等候中") || !strings.Contains(text(t, p, "#ahead"), "前面还有1人") || !strings.Contains(text(t, p, "#eta"), "分钟") {
		t.Fatalf("waiting page: %q / %q", st, text(t, p, "#eta"))
	}
	if it := text(t, p, "#item"); it != "社会保障卡申领" {
		t.Fatalf("item %q", it)
	}
	wide, err := chromedp.Run(p, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil || wide {
		t.Fatalf("the page scrolls sideways on a 390 px phone (%v)", err)
	}
	shot(t, p, "ticket-page-waiting")

	// The same number with a wrong d: nothing shown, rating refused.
	bad := h.base + "/t/A002?d=AAAAAAAAAAAAAAAA"
	w := tab(t, bad, 390, 844)
	if e := text(t, w, "#error"); !strings.Contains(e, "号票链接无效") {
		t.Fatalf("wrong d page: %q", e)
	}
	shown, err := chromedp.Run(w, chromedp.Evaluate[[]string](`["ticket", "status", "rate"].filter(id => document.getElementById(id).offsetParent !== null)`))
	if err != nil || len(shown) != 0 {
		t.Fatalf("wrong d shows %v (%v)", shown, err)
	}
	shot(t, w, "ticket-page-bad-link")

	// The window calls A001, then A002: the page follows by itself.
	clerk := h.token(t, "clerk", 1)
	act := func(a string) {
		t.Helper()
		if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]string{"action": a}); r.status != 200 {
			t.Fatalf("%s: %d %s", a, r.status, r.body)
		}
	}
	act("call-next")
	act("start")
	act("finish")
	act("call-next")
	step(t, p, "called, live", chromedp.WaitReady(chromedp.CSS(`body[data-state="called"]`)))
	if win := text(t, p, "#window"); win != "请到1号窗口" {
		t.Fatalf("called page: %q", win)
	}
	shot(t, p, "ticket-page-called")
	act("start")
	act("finish")
	step(t, p, "served, live", chromedp.WaitReady(chromedp.CSS(`body[data-state="finished"]`)), chromedp.WaitVisible(chromedp.CSS("#rate")))
	shot(t, p, "ticket-page-rate")

	// A wrong d cannot rate the served ticket (its page never shows the
	// buttons; the API refuses it directly too).
	code, err := chromedp.Run(w, chromedp.Evaluate[int](`fetch("/api/v1/t/A002/rating?d=AAAAAAAAAAAAAAAA", {method: "POST",
		headers: {"Content-Type": "application/json"}, body: JSON.stringify({level: 1})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || code != 404 {
		t.Fatalf("rating with a wrong d answered %d (%v)", code, err)
	}
	if r := h.do(t, "GET", "/api/v1/t/A002?"+u.RawQuery, "", nil); !strings.Contains(string(r.body), `"rating_open":true`) {
		t.Fatalf("the wrong d rated: %s", r.body)
	}

	step(t, p, "rate", chromedp.Click(chromedp.CSS(`#rate button[data-level="5"]`)), chromedp.WaitVisible(chromedp.CSS("#thanks")),
		chromedp.WaitNotVisible(chromedp.CSS("#rate")))
	shot(t, p, "ticket-page-thanks")
	if r := h.do(t, "GET", "/api/v1/t/A002?"+u.RawQuery, "", nil); !strings.Contains(string(r.body), `"rated":true`) {
		t.Fatalf("not rated after the page's rating: %s", r.body)
	}
	if r := h.do(t, "POST", "/api/v1/t/A002/rating?"+u.RawQuery, "", map[string]int{"level": 1}); r.status != 409 {
		t.Fatalf("second rating: %d %s", r.status, r.body)
	}
}
