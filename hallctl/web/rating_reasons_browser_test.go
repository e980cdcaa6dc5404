package web_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/wire"
)

// The kiosk's 差评 screen (issue 14): a rating of 1 or 2 asks why — the
// hall's reasons as toggle buttons — and sends the chosen codes with the
// rating; the manager's follow-up has them.
func TestBrowserKioskRatingReasons(t *testing.T) {
	h := kioskHall(t)
	ctx := context.Background()
	tk, err := h.Controller.Issue(ctx, ctl.IssueRequest{Item: "HR-001"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{wire.KeyCallNext, wire.KeyStart, wire.KeyFinish} {
		if _, err := h.Controller.Act(ctx, ctl.ActRequest{Window: 1, Action: a}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	k := kioskTab(t, h, "")
	step(t, k, "rate tile", chromedp.Click(chromedp.CSS("#go-rate")), chromedp.WaitVisible(chromedp.CSS("#lookup-no")))
	typeKeys(t, k, `.keys[data-target="lookup-no"]`, tk.Number)
	step(t, k, "look up", chromedp.Click(chromedp.CSS("#lookup-go")), chromedp.WaitVisible(chromedp.CSS("#rate-box")))
	typeKeys(t, k, `.keys[data-target="rate-check"]`, h.checkCode(t, tk.Number))
	step(t, k, "a 差评 asks why", chromedp.Click(chromedp.CSS(`[data-level="2"]`)), chromedp.WaitVisible(chromedp.CSS("#rate-reasons")))
	if n := eval[int](t, k, `document.querySelectorAll("#rate-reason-list .reason").length`); n != 6 {
		t.Fatalf("%d reasons shown", n)
	}
	if h.Controller.Rated(tk.ID) {
		t.Fatal("rated before the reasons were sent")
	}
	axeClean(t, k, "kiosk rating reasons")
	shot(t, k, "kiosk-rate-reasons")
	step(t, k, "choose two", chromedp.Click(chromedp.CSS(`#rate-reason-list [data-code="long_wait"]`)),
		chromedp.Click(chromedp.CSS(`#rate-reason-list [data-code="slow"]`)),
		chromedp.Click(chromedp.CSS(`#rate-reason-list [data-code="attitude"]`)),
		chromedp.Click(chromedp.CSS(`#rate-reason-list [data-code="attitude"]`))) // toggled off again
	step(t, k, "send", chromedp.Click(chromedp.CSS("#rate-reasons-send")), chromedp.WaitVisible(chromedp.CSS("#rate-done")))
	fus := h.Controller.FollowUps(ctx)
	if len(fus) != 1 || fus[0].Level != 2 || !reflect.DeepEqual(fus[0].Reasons, []string{"long_wait", "slow"}) || fus[0].Channel != "kiosk" {
		t.Fatalf("follow-ups %+v", fus)
	}
}

// The phone page's 差评: reasons and a comment, sent with the rating; the
// comment reaches the manager's follow-up only.
func TestBrowserTicketPageRatingReasons(t *testing.T) {
	browser(t)
	h := startHall(t)
	kiosk := newDevice(t, h, "kiosk-1", []wire.DeviceInfo{{ID: "printer-1", Kind: wire.KindPrinter}})
	_, link := printedLink(t, h, kiosk)
	clerk := h.token(t, "clerk", 1)
	for _, a := range []string{"call-next", "start", "finish"} {
		if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]string{"action": a}); r.status != 200 {
			t.Fatalf("%s: %d %s", a, r.status, r.body)
		}
	}
	p := tab(t, link.String(), 390, 844)
	step(t, p, "rate shown", chromedp.WaitVisible(chromedp.CSS("#rate")))
	step(t, p, "a 差评 asks why", chromedp.Click(chromedp.CSS(`#rate button[data-level="1"]`)), chromedp.WaitVisible(chromedp.CSS("#reasons")))
	const comment = "等了很久也没人解释"
	step(t, p, "choose and write", chromedp.Click(chromedp.CSS(`#reason-list [data-code="long_wait"]`)),
		chromedp.SendKeys(chromedp.CSS("#comment"), comment))
	axeClean(t, p, "ticket page rating reasons")
	shot(t, p, "ticket-page-rate-reasons")
	step(t, p, "send", chromedp.Click(chromedp.CSS("#reasons-send")), chromedp.WaitVisible(chromedp.CSS("#thanks")))
	fus := h.Controller.FollowUps(context.Background())
	if len(fus) != 1 || fus[0].Level != 1 || fus[0].Comment != comment || !reflect.DeepEqual(fus[0].Reasons, []string{"long_wait"}) || fus[0].Channel != "qr" {
		t.Fatalf("follow-ups %+v", fus)
	}
}
