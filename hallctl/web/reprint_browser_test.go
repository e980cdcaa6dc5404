package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/servicehall/servicehall/wire"
)

// Paper out at the kiosk: the page says in plain Chinese that the ticket
// was not printed and why, offers 重新打印, and once paper is back the
// reprint prints it and the page says so.
func TestBrowserKioskReprint(t *testing.T) {
	browser(t)
	h := startHall(t)
	kiosk := newDevice(t, h, "kiosk-1", []wire.DeviceInfo{{ID: "printer-1", Kind: wire.KindPrinter}})
	kiosk.answer(wire.AckFailed, "paper_out")

	k := tab(t, h.base+"/kiosk/?agent=kiosk-1", 1080, 1920)
	step(t, k, "kiosk online", chromedp.WaitReady(chromedp.CSS(`body[data-online="1"]`)))
	step(t, k, "take a ticket", chromedp.Click(chromedp.CSS("#go-take")), chromedp.WaitVisible(chromedp.CSS(`[data-item="HR-001"]`)),
		clickItem("HR-001"), chromedp.WaitVisible(chromedp.CSS("#take")),
		chromedp.Click(chromedp.CSS("#take")), chromedp.WaitVisible(chromedp.CSS("#t-number")))
	number := text(t, k, "#t-number")
	if p := text(t, k, "#t-printed"); !strings.Contains(p, "未能打印") || !strings.Contains(p, "缺纸") || strings.Contains(p, "已打印") {
		t.Fatalf("paper out shown as %q", p)
	}
	step(t, k, "reprint offered", chromedp.WaitVisible(chromedp.CSS("#reprint")))
	shot(t, k, "kiosk-unprinted")
	waitCmd(t, kiosk, wire.CmdPrint, `"`+number+`"`)

	kiosk.answer(wire.AckDone, "")
	step(t, k, "reprint", chromedp.Click(chromedp.CSS("#reprint")),
		chromedp.WaitReady(chromedp.CSS("#reprint.hidden")))
	if p := text(t, k, "#t-printed"); !strings.Contains(p, "已打印") {
		t.Fatalf("after the reprint: %q", p)
	}
	waitCmd(t, kiosk, wire.CmdPrint, `"`+number+`"`)
}
