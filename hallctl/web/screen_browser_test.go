package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/web"
)

// screenDepts are the 18 departments the signage hall adds to the test
// hall's 2: 20 in all, more than one page at every screen size.
var screenDepts = []string{
	"公安局出入境管理支队", "不动产登记中心", "住房公积金管理中心", "医疗保障局", "民政局", "交通运输局",
	"住房和城乡建设局", "自然资源和规划局", "卫生健康委员会", "教育局", "生态环境局", "文化广电旅游局",
	"退役军人事务局", "残疾人联合会", "商务局", "农业农村局", "应急管理局", "司法局公证处",
}

// signageHall is the test hall with 20 departments and a screen: section
// (6 calls, its own palette; a page interval long enough that only the
// test turns the pages, through SHScreen.next).
func signageHall(t *testing.T) (*config.Config, []string) {
	t.Helper()
	var add strings.Builder
	names := []string{"人力资源和社会保障局", "市场监督管理局"}
	for i, n := range screenDepts {
		fmt.Fprintf(&add, "  - {code: D%02d, name: %s}\n", i, n)
		names = append(names, n)
	}
	const anchor = "  - {code: MKT, name: 市场监督管理局}\n"
	if !strings.Contains(testHall, anchor) {
		t.Fatal("the test hall no longer lists the MKT department as expected")
	}
	src := strings.Replace(testHall, anchor, anchor+add.String(), 1) + `screen:
  title: 市民服务中心综合屏
  last_calls: 6
  page_seconds: 300
  colours: {background: "#1a1a2e", panel: "#16213e", text: "#ffffff", accent: "#ffd166",
            header: "#0b6e4f", header_text: "#ffffff", ticker: "#e0e0e0", ticker_text: "#1b1b1b"}
`
	cfg, err := config.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, names
}

var screenSizes = []struct {
	name string
	w, h int64
}{{"1366x768", 1366, 768}, {"1920x1080", 1920, 1080}, {"3840x2160", 3840, 2160}}

// screenEval runs a JS expression in the tab and returns its value.
func screenEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// screenOverflowJS lists what sticks out of the viewport: the page's scroll
// width, any element's box past the right or bottom edge, and any
// department name or call cut off in its row.
const screenOverflowJS = `(() => {
  const W = innerWidth, H = innerHeight, bad = [];
  const de = document.documentElement;
  if (de.scrollWidth > W) bad.push("documentElement.scrollWidth " + de.scrollWidth + " > " + W);
  if (de.scrollHeight > H) bad.push("documentElement.scrollHeight " + de.scrollHeight + " > " + H);
  for (const e of document.querySelectorAll("body *")) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > W + 0.5 || r.left < -0.5 || r.bottom > H + 0.5)
      bad.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + " [" + e.className + "] right " + Math.round(r.right) + " bottom " + Math.round(r.bottom));
  }
  for (const e of document.querySelectorAll("#depts li span, #calls li b, #calls li span, #latest-n, #latest-w, #hall-name, #ticker, .total, #page"))
    if (e.offsetParent && e.scrollWidth > e.clientWidth + 1) bad.push("cut off: " + e.textContent);
  return bad.slice(0, 12).join("\n");
})()`

func screenRGB(hex string) string {
	var r, g, b int
	fmt.Sscanf(hex, "#%02x%02x%02x", &r, &g, &b)
	return fmt.Sprintf("rgb(%d, %d, %d)", r, g, b)
}

// The hall screen as configured signage, at 1366×768, 1920×1080 and
// 3840×2160: nothing overflows; idle, it says so (no dash, no yellow
// bar); its 20 departments are paged and every one is on some page; after
// calls it lists the last 6; the labels are proper Chinese and English;
// the palette is the config's; axe finds nothing critical or serious.
func TestScreenSignage(t *testing.T) {
	browser(t)
	cfg, names := signageHall(t)
	h := startHallWith(t, cfg)
	col := cfg.Screen.Colours
	tabs := map[string]context.Context{}

	noOverflow := func(ctx context.Context, what string) {
		t.Helper()
		if bad := screenEval[string](t, ctx, screenOverflowJS); bad != "" {
			t.Errorf("%s overflows:\n%s", what, bad)
		}
	}
	for _, sz := range screenSizes {
		ctx := tab(t, h.base+"/screen/", sz.w, sz.h)
		tabs[sz.name] = ctx
		step(t, ctx, sz.name+": layout applied", chromedp.WaitReady(chromedp.CSS(`body[data-layout="1"][data-online="1"]`)))
		if got := screenEval[int](t, ctx, `window.innerWidth`); int64(got) != sz.w {
			t.Fatalf("%s: innerWidth %d", sz.name, got)
		}
		noOverflow(ctx, sz.name+" idle")

		// Idle: a message, no number, no dash, nothing in the accent colour.
		step(t, ctx, sz.name+": idle", chromedp.WaitReady(chromedp.CSS(`body[data-idle="1"] #latest.idle`)),
			chromedp.WaitVisible(chromedp.CSS("#idle-msg")), chromedp.WaitNotVisible(chromedp.CSS("#latest-n")))
		if s := text(t, ctx, "#latest"); strings.Contains(s, "—") || !strings.Contains(s, "暂无叫号") || !strings.Contains(s, "No number called yet") {
			t.Errorf("%s: idle panel says %q", sz.name, s)
		}
		if bars := screenEval[int](t, ctx, fmt.Sprintf(`Array.from(document.querySelectorAll("main *")).filter(e => e.offsetParent && getComputedStyle(e).backgroundColor === %q).length`, screenRGB(col.Accent))); bars != 0 {
			t.Errorf("%s: %d accent-coloured boxes while idle", sz.name, bars)
		}

		// Labels: Chinese first, English marked as English; no "请 Now calling".
		if s := text(t, ctx, "#calls-h"); strings.Contains(s, "请") || !strings.Contains(s, "正在叫号") {
			t.Errorf("%s: calling label %q", sz.name, s)
		}
		if s := text(t, ctx, `#calls-h [lang="en"]`); s != "Now calling" {
			t.Errorf("%s: English calling label %q", sz.name, s)
		}
		if s := text(t, ctx, "#hall-name"); s != "市民服务中心综合屏" {
			t.Errorf("%s: title %q", sz.name, s)
		}

		// The palette is the config's.
		for sel, want := range map[string]string{
			"body": screenRGB(col.Background), "header": screenRGB(col.Header), "#latest": screenRGB(col.Panel),
		} {
			if got := screenEval[string](t, ctx, fmt.Sprintf(`getComputedStyle(document.querySelector(%q)).backgroundColor`, sel)); got != want {
				t.Errorf("%s: %s background %s, want %s", sz.name, sel, got, want)
			}
		}
		if got := screenEval[string](t, ctx, `getComputedStyle(document.querySelector("#total")).color`); got != screenRGB(col.Accent) {
			t.Errorf("%s: accent %s, want %s", sz.name, got, screenRGB(col.Accent))
		}

		// Every department on some page, the pages turned through the
		// indicator.
		pageAttr := screenEval[string](t, ctx, `document.body.dataset.page`)
		var n int
		if _, err := fmt.Sscanf(pageAttr, "1/%d", &n); err != nil || n < 2 {
			t.Fatalf("%s: page %q, want 1 of several", sz.name, pageAttr)
		}
		if s := text(t, ctx, "#page"); !strings.Contains(s, fmt.Sprintf("第 1/%d 页", n)) || !strings.Contains(s, fmt.Sprintf("Page 1/%d", n)) {
			t.Errorf("%s: page indicator %q", sz.name, s)
		}
		axeClean(t, ctx, "screen idle "+sz.name)
		shot(t, ctx, "screen-idle-"+sz.name)
		seen := map[string]int{}
		for p := 1; p <= n; p++ {
			for _, d := range screenEval[[]string](t, ctx, `Array.from(document.querySelectorAll("#depts li span")).map(e => e.textContent)`) {
				seen[d]++
			}
			noOverflow(ctx, fmt.Sprintf("%s page %d", sz.name, p))
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`SHScreen.next()`)); err != nil {
				t.Fatal(err)
			}
			step(t, ctx, "turn the page", chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`body[data-page="%d/%d"]`, p%n+1, n))))
		}
		for _, name := range names {
			if seen[name] != 1 {
				t.Errorf("%s: department %s shown on %d pages, want 1 (pages: %d)", sz.name, name, seen[name], n)
			}
		}
		if len(seen) != len(names) {
			t.Errorf("%s: %d departments shown, want %d", sz.name, len(seen), len(names))
		}
	}

	// Seven calls to window 1: the screens show the newest large and the
	// five before it (6 = screen.last_calls), A001 no longer.
	clerk := h.token(t, web.RoleClerk, 1)
	for i := 0; i < 7; i++ {
		if r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"}); r.status != 201 {
			t.Fatalf("ticket: %d %s", r.status, r.body)
		}
	}
	for i := 0; i < 7; i++ {
		for _, a := range []string{"call-next", "start"} {
			if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]any{"action": a}); r.status != 200 {
				t.Fatalf("%s: %d %s", a, r.status, r.body)
			}
		}
	}
	for _, sz := range screenSizes {
		ctx := tabs[sz.name]
		step(t, ctx, sz.name+": the last calls", chromedp.WaitReady(chromedp.CSS(`body[data-latest="A007@1"][data-calls="6"][data-idle="0"]`)),
			chromedp.WaitVisible(chromedp.CSS("#latest-n")), chromedp.WaitNotVisible(chromedp.CSS("#idle-msg")))
		if got := strings.Join(screenEval[[]string](t, ctx, `Array.from(document.querySelectorAll("#calls li b")).map(e => e.textContent)`), " "); got != "A006 A005 A004 A003 A002" {
			t.Errorf("%s: recent calls %q", sz.name, got)
		}
		if s := text(t, ctx, "#latest-w"); !strings.Contains(s, "请到 1 号窗口") || !strings.Contains(s, "Please go to window 1") {
			t.Errorf("%s: latest window %q", sz.name, s)
		}
		if s := text(t, ctx, "#calls li:first-child span"); s != "1 号窗口 / Window 1" {
			t.Errorf("%s: recent call window %q", sz.name, s)
		}
		if got := screenEval[string](t, ctx, `getComputedStyle(document.querySelector("#latest-n")).color`); got != screenRGB(col.Accent) {
			t.Errorf("%s: called number colour %s, want %s", sz.name, got, screenRGB(col.Accent))
		}
		noOverflow(ctx, sz.name+" with calls")
		axeClean(t, ctx, "screen with calls "+sz.name)
		shot(t, ctx, "screen-"+sz.name)
	}
}

// A screen configured otherwise: Chinese labels only, no calls panel (the
// departments take the whole width, 5 a page), and a long notice shown a
// part at a time, each part whole within its bar.
func TestScreenConfiguredPanels(t *testing.T) {
	browser(t)
	cfg, names := signageHall(t)
	cfg.Screen.Languages = []string{"zh"}
	cfg.Screen.Panels = []string{"depts", "notice"}
	cfg.Screen.DeptsPerPage = 5
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := startHallWith(t, cfg)
	notice := strings.Repeat("本中心工作时间为周一至周五上午九时至下午五时，法定节假日休息。办理业务请携带本人有效身份证件原件，委托他人办理的还需提供授权委托书。", 2) + "如有疑问请到一楼咨询台。"
	if r := h.do(t, "PUT", "/api/v1/manager/notice", h.token(t, web.RoleManager, 0), map[string]any{"text": notice}); r.status != 200 {
		t.Fatalf("notice: %d %s", r.status, r.body)
	}
	ctx := tab(t, h.base+"/screen/", 1366, 768)
	step(t, ctx, "layout applied", chromedp.WaitReady(chromedp.CSS(`body.one-panel[data-layout="1"][data-page="1/4"]`)),
		chromedp.WaitNotVisible(chromedp.CSS("#panel-calls")), chromedp.WaitVisible(chromedp.CSS("#panel-notice")))
	if n := screenEval[int](t, ctx, `document.querySelectorAll("main [lang=en]").length`); n != 0 {
		t.Errorf("%d English labels on a Chinese-only screen", n)
	}
	if s := text(t, ctx, "#page"); s != "第 1/4 页 ●○○○" {
		t.Errorf("page indicator %q", s)
	}
	if w := screenEval[float64](t, ctx, `document.getElementById("panel-depts").getBoundingClientRect().width / innerWidth`); w < 0.9 {
		t.Errorf("departments take %.0f%% of the width alone", w*100)
	}
	parts := screenEval[int](t, ctx, `+document.body.dataset.noticeParts`)
	if parts < 2 {
		t.Fatalf("a %d-character notice in %d parts", len([]rune(notice)), parts)
	}
	t.Logf("notice in %d parts", parts)
	var shown strings.Builder
	seen := map[string]bool{}
	for p := 1; p <= 4; p++ {
		for _, d := range screenEval[[]string](t, ctx, `Array.from(document.querySelectorAll("#depts li span")).map(e => e.textContent)`) {
			seen[d] = true
		}
		if p <= parts {
			shown.WriteString(text(t, ctx, "#ticker"))
		}
		if bad := screenEval[string](t, ctx, screenOverflowJS); bad != "" {
			t.Errorf("page %d overflows:\n%s", p, bad)
		}
		if fits := screenEval[bool](t, ctx, `(() => { const p = document.getElementById("ticker"); return p.scrollHeight <= p.clientHeight + 1; })()`); !fits {
			t.Errorf("notice part %d does not fit its bar", p)
		}
		if p == 1 {
			axeClean(t, ctx, "screen, departments and notice only")
			shot(t, ctx, "screen-depts-notice-1366x768")
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`SHScreen.next()`)); err != nil {
			t.Fatal(err)
		}
		step(t, ctx, "turn the page", chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`body[data-page="%d/4"]`, p%4+1))))
	}
	if len(seen) != len(names) {
		t.Errorf("%d of %d departments shown", len(seen), len(names))
	}
	if parts <= 4 && strings.ReplaceAll(shown.String(), " ", "") != strings.ReplaceAll(notice, " ", "") {
		t.Errorf("the notice's parts read\n%q\nwant\n%q", shown.String(), notice)
	}
}

// The most calls a screen lists (screen.last_calls: 20) fit 1366×768 in
// two columns at a size still readable from the hall.
func TestScreenTwentyCalls(t *testing.T) {
	browser(t)
	cfg, _ := signageHall(t)
	cfg.Screen.LastCalls = 20
	h := startHallWith(t, cfg)
	clerk := h.token(t, web.RoleClerk, 1)
	for i := 0; i < 21; i++ {
		h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	}
	for i := 0; i < 21; i++ {
		for _, a := range []string{"call-next", "start"} {
			if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]any{"action": a}); r.status != 200 {
				t.Fatalf("%s: %d %s", a, r.status, r.body)
			}
		}
	}
	ctx := tab(t, h.base+"/screen/", 1366, 768)
	step(t, ctx, "twenty calls", chromedp.WaitReady(chromedp.CSS(`body[data-latest="A021@1"][data-calls="20"]`)))
	if n := screenEval[int](t, ctx, `document.querySelectorAll("#calls li").length`); n != 19 {
		t.Errorf("%d earlier calls listed, want 19", n)
	}
	if bad := screenEval[string](t, ctx, screenOverflowJS); bad != "" {
		t.Errorf("overflows:\n%s", bad)
	}
	if px := screenEval[float64](t, ctx, `parseFloat(getComputedStyle(document.querySelector("#calls li")).fontSize)`); px < 16 {
		t.Errorf("earlier calls in %.1fpx type", px)
	}
	axeClean(t, ctx, "screen with 20 calls")
	shot(t, ctx, "screen-20-calls-1366x768")
}
