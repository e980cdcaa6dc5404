package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/servicehall/servicehall/hallctl/web"
)

// axeCleanIn is axeClean for the part of the page under css (the part
// this test owns: the rest of the console is other tests' business).
func axeCleanIn(t *testing.T, ctx context.Context, css, what string) {
	t.Helper()
	axeRun(t, ctx) // injects axe
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	raw, err := chromedp.Run(sctx, chromedp.Evaluate[string](`axe.run({include: [[`+fmt.Sprintf("%q", css)+`]]}, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe.run: %v", err)
	}
	var vs []AxeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		line := fmt.Sprintf("%s [%s] %s: %d nodes", v.ID, v.Impact, v.Help, len(v.Nodes))
		if v.Impact == "critical" || v.Impact == "serious" {
			t.Errorf("axe on %s: %s", what, line)
		} else {
			t.Logf("axe (%s, not failing): %s", what, line)
		}
	}
}

// An overloaded 人社: the console recommends opening the closed 人社
// window 3, previews it (one click), applies it (a second click), and the
// live table then shows window 3 open serving 人社; the clerk there calls
// a waiting 人社 ticket.
func TestBrowserRecommendation(t *testing.T) {
	h := startHall(t)
	for i := range 16 {
		item := []string{"HR-001", "HR-002"}[i%2]
		if r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": item}); r.status != 201 {
			t.Fatalf("issue: %d %s", r.status, r.body)
		}
	}
	var api web.RecommendResponse
	h.do(t, "GET", "/api/v1/manager/recommendations", h.token(t, web.RoleManager, 0), nil).decode(t, &api)
	if len(api.Recommendations) == 0 || api.Recommendations[0].Title != "开启 3 号窗口办理人力资源和社会保障局业务" {
		t.Fatalf("recommendations %+v", api)
	}
	if r := h.do(t, "GET", "/api/v1/manager/recommendations", h.token(t, web.RoleClerk, 1), nil); r.status != 403 {
		t.Errorf("a clerk read the recommendations: %d", r.status)
	}

	m := signedInTab(t, h.base+"/manager/", h.token(t, web.RoleManager, 0), 1920, 1080)
	step(t, m, "recommendations shown", chromedp.WaitVisible(chromedp.CSS(`#recommendations li[data-rank="1"] .rec-preview`)))
	first := text(t, m, `#recommendations li[data-rank="1"]`)
	for _, want := range []string{"开启 3 号窗口办理人力资源和社会保障局业务", "预计 P90 等候", "A001", "B002", "正在等候 16 人"} {
		if !strings.Contains(first, want) {
			t.Errorf("first recommendation %q lacks %q", first, want)
		}
	}
	if eval[bool](t, m, `!document.querySelector('#recommendations li[data-rank="1"] .rec-apply').classList.contains("hidden")`) {
		t.Error("apply is offered before the preview")
	}
	axeCleanIn(t, m, "#recommendations", "recommendations")
	shot(t, m, "manager-recommendations")

	step(t, m, "preview", chromedp.Click(chromedp.CSS(`#recommendations li[data-rank="1"] .rec-preview`)),
		chromedp.WaitVisible(chromedp.CSS(`#recommendations li[data-rank="1"] .rec-apply`)))
	if out := text(t, m, `#recommendations li[data-rank="1"] .rec-out`); !strings.Contains(out, "预览：全厅 P90 等候") {
		t.Errorf("preview shows %q", out)
	}
	axeCleanIn(t, m, "#recommendations", "recommendation previewed")
	shot(t, m, "manager-recommendation-preview")

	step(t, m, "apply", chromedp.Click(chromedp.CSS(`#recommendations li[data-rank="1"] .rec-apply`)),
		chromedp.WaitVisible(chromedp.CSS(`#recommendations li[data-rank="1"][data-applied="1"]`)))
	if out := text(t, m, `#recommendations li[data-rank="1"] .rec-out`); !strings.Contains(out, "已应用 1 项") {
		t.Errorf("apply shows %q", out)
	}
	// The live table (manager.js, refreshed by the stream) shows window 3
	// open, serving 人社 (by its department's name).
	step(t, m, "window 3 open in the live table", chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#windows tbody tr")].some(tr => tr.dataset.window === "3" && tr.querySelector(".pill.open") && tr.cells[5].textContent.includes("人力资源和社会保障局"))`, chromedp.WithPollingTimeout(10*time.Second)))
	// The clerk at window 3 calls the next: a waiting 人社 ticket.
	var called struct {
		Ticket struct {
			Number string `json:"number"`
			Item   string `json:"item"`
		} `json:"called"`
	}
	r := h.do(t, "POST", "/api/v1/windows/3/actions", h.token(t, web.RoleClerk, 3), map[string]any{"action": "call-next"})
	if r.status != 200 {
		t.Fatalf("call at window 3: %d %s", r.status, r.body)
	}
	r.decode(t, &called)
	if !strings.HasPrefix(called.Ticket.Item, "HR-") {
		t.Errorf("window 3 called %+v, not a 人社 ticket", called)
	}
	step(t, m, "window 3 serves the ticket in the live table", chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#windows tbody tr")].some(tr => tr.cells[0].textContent.startsWith("3") && tr.cells[2].textContent.includes(`+fmt.Sprintf("%q", called.Ticket.Number)+`))`, chromedp.WithPollingTimeout(10*time.Second)))
	axeCleanIn(t, m, "#recommendations", "recommendation applied")
	shot(t, m, "manager-recommendation-applied")
}
