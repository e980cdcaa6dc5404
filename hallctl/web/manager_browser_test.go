package web_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/servicehall/servicehall/hallctl/web"
)

// The manager console at 1920×1080 (issue 11): the preview's waiting
// counts agree with the live table; Apply looks disabled until a preview
// and enabled after it; proposals read as Chinese actions with ticket
// numbers (no type codes, no internal ids); the hall notice is edited and
// reaches the hall screen; the charts draw their data under the CSP (no
// violation); a burst of events costs at most one refresh a second; axe
// finds no critical or serious violation in any of these states.
func TestBrowserManagerConsole(t *testing.T) {
	browser(t)
	h := startHall(t)
	mgr := h.token(t, web.RoleManager, 0)
	issue := func(item string) string {
		t.Helper()
		var tk struct {
			Number string `json:"number"`
		}
		r := h.do(t, "POST", "/api/v1/tickets", mgr, map[string]any{"item": item})
		if r.status != 201 {
			t.Fatalf("issue %s: %d %s", item, r.status, r.body)
		}
		r.decode(t, &tk)
		return tk.Number
	}
	for range 5 {
		issue("HR-001")
	}
	issue("HR-002")
	issue("MKT-001")
	clerk := h.token(t, web.RoleClerk, 1)
	act := func(a string) {
		t.Helper()
		if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]any{"action": a}); r.status != 200 {
			t.Fatalf("%s: %d %s", a, r.status, r.body)
		}
	}
	act("call-next") // A001
	act("start")
	act("finish")
	if r := h.do(t, "POST", "/api/v1/tickets/A001/rating", "", map[string]any{"level": 5, "check": h.checkCode(t, "A001")}); r.status != 201 {
		t.Fatalf("rate: %d %s", r.status, r.body)
	}
	act("call-next") // A002: called, not waiting — A003…A005 wait

	screen := tab(t, h.base+"/screen/", 1920, 1080)
	step(t, screen, "screen online", chromedp.WaitReady(chromedp.CSS(`body[data-online="1"]`)))

	m := signedInTab(t, h.base+"/manager/", mgr, 1920, 1080)
	// The browser in New York, the hall in Shanghai: the console shows
	// the hall's time.
	if _, err := chromedp.Call(m, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"}); err != nil {
		t.Fatal(err)
	}
	step(t, m, "reload in New York", chromedp.Reload(), chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`)))
	if z := eval[string](t, m, `Intl.DateTimeFormat().resolvedOptions().timeZone`); z != "America/New_York" {
		t.Fatalf("browser zone %q", z)
	}
	step(t, m, "charts and stream", chromedp.WaitReady(chromedp.CSS(`body[data-charts][data-online="1"]`)),
		chromedp.WaitReady(chromedp.CSS(`#items tr[data-item="HR-001"] td[data-waiting="3"]`)))
	hallNow := time.Now().In(h.Controller.Config().Loc)
	if c := text(t, m, "#clock"); !strings.HasPrefix(c, hallNow.Format("15:04")) && !strings.HasPrefix(c, hallNow.Add(time.Minute).Format("15:04")) {
		t.Errorf("clock %q, hall time %s", c, hallNow.Format("15:04:05"))
	}
	if d := eval[string](t, m, `document.getElementById("c-day").value`); d != hallNow.Format("2006-01-02") {
		t.Errorf("charts day %q, the hall's today %s", d, hallNow.Format("2006-01-02"))
	}
	axeClean(t, m, "manager: first screen")

	// Apply looks disabled before a preview.
	applyLook := func() (bool, string, string, string) {
		t.Helper()
		var v struct {
			Disabled bool   `json:"disabled"`
			Aria     string `json:"aria"`
			BG       string `json:"bg"`
			Cursor   string `json:"cursor"`
		}
		raw := eval[string](t, m, `(() => { const b = document.getElementById("apply"), s = getComputedStyle(b);
			return JSON.stringify({disabled: b.disabled, aria: b.getAttribute("aria-disabled"), bg: s.backgroundColor, cursor: s.cursor}); })()`)
		if err := jsonUnmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		return v.Disabled, v.Aria, v.BG, v.Cursor
	}
	if d, aria, bg, cur := applyLook(); !d || aria != "true" || bg != "rgb(236, 239, 241)" || cur != "not-allowed" {
		t.Errorf("Apply before a preview: disabled %v aria %q background %s cursor %s", d, aria, bg, cur)
	}

	// Propose: window 2 also serves HR; A004 moves to window 2.
	step(t, m, "propose",
		chromedp.SetValue(chromedp.CSS("#a-type"), "set_serves"), chromedp.SetValue(chromedp.CSS("#a-window"), "2"),
		chromedp.Evaluate[chromedp.Void](`[...document.getElementById("a-refs").options].forEach(o => o.selected = o.value === "dept:HR" || o.value === "dept:MKT")`),
		chromedp.Click(chromedp.CSS("#a-add")), chromedp.WaitReady(chromedp.CSS("#proposed li:nth-child(1)")),
		chromedp.SetValue(chromedp.CSS("#a-type"), "move"), chromedp.Evaluate[chromedp.Void](`document.getElementById("a-type").dispatchEvent(new Event("change"))`),
		chromedp.SetValue(chromedp.CSS("#a-tickets"), "a004"), chromedp.SetValue(chromedp.CSS("#a-to-window"), "2"),
		chromedp.Click(chromedp.CSS("#a-add")), chromedp.WaitReady(chromedp.CSS("#proposed li:nth-child(2)")))
	a4, _ := h.Controller.FindTicket("A004")
	checkWords := func(what, s string, ids bool) {
		t.Helper()
		for _, bad := range []string{"set_serves", "set_backup", "set_notice", "dept:", "undefined", "null", "NaN"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s shows %q: %q", what, bad, s)
			}
		}
		if !ids {
			return
		}
		if regexp.MustCompile(fmt.Sprintf(`(^|[^A-Z0-9])%d([^0-9]|$)`, a4.ID)).MatchString(strings.ReplaceAll(s, "2 号窗口", "")) {
			t.Errorf("%s shows the internal id %d: %q", what, a4.ID, s)
		}
	}
	proposedText := text(t, m, "#proposed")
	if !strings.Contains(proposedText, "2 号窗口增办：人力资源和社会保障局业务") || !strings.Contains(proposedText, "将 A004 到 2 号窗口办理") {
		t.Errorf("proposed: %q", proposedText)
	}
	checkWords("proposed changes", proposedText, true)
	if d, aria, _, _ := applyLook(); !d || aria != "true" {
		t.Errorf("Apply enabled before the preview")
	}
	axeClean(t, m, "manager: proposed changes")

	// Preview: its waiting counts are the live table's.
	step(t, m, "preview", chromedp.Click(chromedp.CSS("#preview")), chromedp.WaitVisible(chromedp.CSS("#preview-table")))
	agree := eval[string](t, m, `[...document.querySelectorAll("#items tbody tr")].map(tr => {
		const p = document.querySelector('#preview-table tbody tr[data-item="' + tr.dataset.item + '"] td[data-waiting]');
		return tr.dataset.item + ":" + tr.querySelector("td[data-waiting]").dataset.waiting + "=" + (p ? p.dataset.waiting : "missing"); }).join(" ")`)
	if agree != "HR-001:3=3 HR-002:1=1 MKT-001:1=1" {
		t.Errorf("live table vs preview: %s", agree)
	}
	if d, aria, bg, cur := applyLook(); d || aria != "false" || bg == "rgb(236, 239, 241)" || cur == "not-allowed" {
		t.Errorf("Apply after the preview: disabled %v aria %q background %s cursor %s", d, aria, bg, cur)
	}
	if vis := eval[bool](t, m, `!document.getElementById("preview-stale").classList.contains("hidden")`); vis {
		t.Errorf("preview marked stale: %s", text(t, m, "#preview-stale"))
	}
	checkWords("proposed changes after the preview", text(t, m, "#proposed"), true)
	if c := text(t, m, "#preview-caption"); !strings.Contains(c, "大厅时间 "+hallNow.Format("15:")) && !strings.Contains(c, "大厅时间 "+hallNow.Add(time.Hour).Format("15:")) {
		t.Errorf("preview caption not in hall time: %q", c)
	}
	checkWords("preview", text(t, m, "#rebalance"), false)
	axeClean(t, m, "manager: preview")
	shot(t, m, "manager-preview")

	// A ticket after the preview: the console says the preview is stale.
	issue("HR-002")
	step(t, m, "preview stale", chromedp.WaitReady(chromedp.CSS(`body[data-preview-stale="1"]`)), chromedp.WaitVisible(chromedp.CSS("#preview-stale")))
	if st := text(t, m, "#preview-stale"); !strings.Contains(st, "就业失业登记 现在 2 人，预览时 1 人") {
		t.Errorf("stale note %q", st)
	}

	// A notice set elsewhere reaches the console by the stream.
	if r := h.do(t, "PUT", "/api/v1/manager/notice", mgr, map[string]any{"text": "系统维护通知"}); r.status != 200 {
		t.Fatalf("notice: %d %s", r.status, r.body)
	}
	step(t, m, "notice by the stream", chromedp.WaitReady(chromedp.CSS(`body[data-notice="系统维护通知"]`)))

	// The notice: edited here, on the hall screen and the API.
	notice := "今日 12:00–13:00 人社窗口午间轮岗，请耐心等候。"
	step(t, m, "edit the notice", chromedp.SendKeys(chromedp.CSS("#notice-text"), notice), chromedp.Click(chromedp.CSS("#notice-save")),
		chromedp.Poll[chromedp.Void](`document.getElementById("notice-now").textContent === `+jsString(notice), chromedp.WithPollingTimeout(10*time.Second)))
	var sc web.Screen
	h.do(t, "GET", "/api/v1/screen", "", nil).decode(t, &sc)
	if sc.Notice != notice {
		t.Errorf("screen API notice %q", sc.Notice)
	}
	step(t, screen, "notice on the hall screen", chromedp.Poll[chromedp.Void](`document.body.innerText.includes(`+jsString(notice)+`)`, chromedp.WithPollingTimeout(10*time.Second)))
	step(t, m, "notice in the audit log", chromedp.Poll[chromedp.Void](`document.getElementById("audit").innerText.includes("修改大厅公告")`, chromedp.WithPollingTimeout(10*time.Second)))
	axeClean(t, m, "manager: notice published")

	// Charts: drawn as SVG with their data, a text alternative and a data
	// table each; a tooltip shown; no CSP violation.
	var pts map[string]int
	if err := jsonUnmarshal(eval[string](t, m, `JSON.stringify(SHCharts.points())`), &pts); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ch-waiting", "ch-wait", "ch-util", "ch-arrivals", "ch-sat"} {
		if pts[id] == 0 {
			t.Errorf("chart %s draws no data: %v", id, pts)
		}
		if n := eval[int](t, m, `document.querySelectorAll("#`+id+` .chart svg path").length`); n < 3 {
			t.Errorf("chart %s: %d SVG paths", id, n)
		}
		if l := eval[string](t, m, `document.querySelector("#`+id+` .chart").getAttribute("aria-label") || ""`); len(l) < 10 || strings.Contains(l, "undefined") {
			t.Errorf("chart %s text alternative %q", id, l)
		}
	}
	step(t, m, "data table", chromedp.ScrollIntoView(chromedp.CSS("#ch-util .toggle")), chromedp.Click(chromedp.CSS("#ch-util .toggle")),
		chromedp.WaitVisible(chromedp.CSS("#ch-util-table")))
	if e := eval[string](t, m, `document.querySelector("#ch-util .toggle").getAttribute("aria-expanded")`); e != "true" {
		t.Errorf("toggle aria-expanded %q", e)
	}
	if tb := text(t, m, "#ch-util-table"); !strings.Contains(tb, "1 号窗口") || !strings.Contains(tb, "%") {
		t.Errorf("utilisation table: %q", tb)
	}
	eval[bool](t, m, `SHCharts.instances["ch-waiting"].dispatchAction({type: "showTip", seriesIndex: 0, dataIndex: new Date().getHours() % 24}) || true`)
	noViolations(t, m, "manager charts")
	axeClean(t, m, "manager: charts with a data table")
	step(t, m, "to the charts", chromedp.Click(chromedp.CSS("#ch-util .toggle")), chromedp.WaitNotVisible(chromedp.CSS("#ch-util-table")),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("h-charts").scrollIntoView({block: "start"})`))
	shot(t, m, "manager-charts")

	// A burst of events: refreshes stay at most one a second.
	eval[bool](t, m, `(() => { window.__gets = []; const f = window.fetch;
		window.fetch = (u, o) => { if (!o || !o.method || o.method === "GET") window.__gets.push([Date.now(), String(u)]); return f(u, o); }; return true; })()`)
	start := time.Now()
	for range 30 {
		issue("MKT-001")
	}
	step(t, m, "burst shown", chromedp.WaitReady(chromedp.CSS(`#items tr[data-item="MKT-001"] td[data-waiting="31"]`)))
	elapsed := time.Since(start)
	var gets [][2]any
	if err := jsonUnmarshal(eval[string](t, m, `JSON.stringify(window.__gets)`), &gets); err != nil {
		t.Fatal(err)
	}
	var halls []float64
	for _, g := range gets {
		if strings.Contains(g[1].(string), "/manager/hall") {
			halls = append(halls, g[0].(float64))
		}
	}
	if max := int(elapsed.Seconds()) + 2; len(gets) > max || len(halls) == 0 {
		t.Errorf("30 events in %v cost %d GETs (%d of /manager/hall), want 1…%d: %v", elapsed, len(gets), len(halls), max, gets)
	}
	for i := 1; i < len(halls); i++ {
		if d := halls[i] - halls[i-1]; d < 950 {
			t.Errorf("two refreshes %.0f ms apart", d)
		}
	}
	t.Logf("burst of 30 events over %v: %d GETs", elapsed.Round(time.Millisecond), len(gets))

	// Apply: the audit log keeps the same words.
	step(t, m, "apply", chromedp.ScrollIntoView(chromedp.CSS("#apply")), chromedp.Click(chromedp.CSS("#apply")),
		chromedp.Poll[chromedp.Void](`document.getElementById("audit").innerText.includes("2 号窗口增办")`, chromedp.WithPollingTimeout(10*time.Second)))
	au := text(t, m, "#audit")
	if !strings.Contains(au, "将 A004 到 2 号窗口办理") {
		t.Errorf("audit: %q", au)
	}
	checkWords("audit log", eval[string](t, m, `[...document.querySelectorAll("#audit tbody td:nth-child(3)")].map(td => td.innerText).join("\n")`), true)
	if d, aria, _, _ := applyLook(); !d || aria != "true" {
		t.Errorf("Apply still enabled after applying")
	}
	axeClean(t, m, "manager: applied")
	noViolations(t, m, "manager console")
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
