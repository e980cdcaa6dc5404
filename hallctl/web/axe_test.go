package web_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/servicehall/servicehall/hallctl/web"
)

// axe-core (testdata/axe, from the npm registry) checks a page in the
// test's own Chromium: issue 11 asks for 0 critical and 0 serious
// violations on every app and state tested.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// AxeViolation is one rule axe found broken, with the nodes it names.
type AxeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axeRun injects axe into the tab (once) and returns the violations of
// the WCAG 2.x A and AA rules on the page as it is now.
func axeRun(t *testing.T, ctx context.Context) []AxeViolation {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Evaluated through DevTools, which the page's CSP does not govern.
	if _, err := chromedp.Run(sctx, chromedp.Evaluate[bool](`typeof axe !== "undefined"`)); err != nil {
		t.Fatalf("axe probe: %v", err)
	}
	if _, err := chromedp.Run(sctx, chromedp.Evaluate[chromedp.Void](`if (typeof axe === "undefined") {`+axeSource+`
}`)); err != nil {
		t.Fatalf("inject axe: %v", err)
	}
	raw, err := chromedp.Run(sctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe.run: %v", err)
	}
	var vs []AxeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		t.Fatalf("axe result: %v", err)
	}
	return vs
}

// axeClean fails the test when axe reports a critical or serious
// violation on the page (what names the app and state, for the message);
// moderate and minor ones are logged.
func axeClean(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	var bad []string
	for _, v := range axeRun(t, ctx) {
		var nodes []string
		for i, n := range v.Nodes {
			if i == 3 {
				nodes = append(nodes, fmt.Sprintf("… %d more", len(v.Nodes)-3))
				break
			}
			nodes = append(nodes, fmt.Sprint(n.Target))
		}
		line := fmt.Sprintf("%s [%s] %s: %s", v.ID, v.Impact, v.Help, strings.Join(nodes, ", "))
		if v.Impact == "critical" || v.Impact == "serious" {
			bad = append(bad, line)
		} else {
			t.Logf("axe (%s, not failing): %s", what, line)
		}
	}
	if len(bad) > 0 {
		t.Errorf("axe on %s: %d critical/serious violations:\n  %s", what, len(bad), strings.Join(bad, "\n  "))
	}
}

// TestAxeAppsReport runs axe on each app's first screen: no critical or
// serious violation (issue 11; AXE_REPORT=1 only lists them instead). The
// app tests call axeClean on their own states.
func TestAxeAppsReport(t *testing.T) {
	browser(t)
	h := startHall(t)
	newDevice(t, h, "kiosk-1", nil)
	pages := []struct {
		name string
		ctx  func() context.Context
	}{
		{"kiosk", func() context.Context { return tab(t, h.base+"/kiosk/?agent=kiosk-1", 1080, 1920) }},
		{"screen", func() context.Context { return tab(t, h.base+"/screen/", 1920, 1080) }},
		{"clerk", func() context.Context {
			return signedInTab(t, h.base+"/clerk/", h.token(t, web.RoleClerk, 1), 1920, 1080)
		}},
		{"manager", func() context.Context {
			return signedInTab(t, h.base+"/manager/", h.token(t, web.RoleManager, 0), 1920, 1080)
		}},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			ctx := p.ctx()
			if os.Getenv("AXE_REPORT") != "1" {
				axeClean(t, ctx, p.name)
				return
			}
			for _, v := range axeRun(t, ctx) {
				t.Logf("axe %s: %s [%s] %s (%d nodes)", p.name, v.ID, v.Impact, v.Help, len(v.Nodes))
			}
		})
	}
}
