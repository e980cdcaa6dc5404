package web_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/web"
	"github.com/servicehall/servicehall/wire"
)

// The kiosk of issue 11 at its real size, 1080×1920: every finding fixed
// (C key, faces, fold, window hint, "1–1", "1. 无", titles, pinyin, English,
// zoom) and the elder mode with voice on the kiosk's own speaker.

// kioskHall is the test hall with an English guide for HR-001 and an item
// without any guide (HR-003).
func kioskHall(t *testing.T) *hall {
	t.Helper()
	y := strings.Replace(testHall, `    guide: {conditions: 本市参保人员, materials: [居民身份证原件, 近期一寸照片], fee: 免费, location: 一楼东区 1-2 号窗口}
`, `    guide: {conditions: 本市参保人员, materials: [居民身份证原件, 近期一寸照片], fee: 免费, location: 一楼东区 1-2 号窗口}
    guide_en: {conditions: Insured residents of the city, materials: [ID card (original), A recent passport photo], fee: Free, location: "Ground floor, east hall"}
  - {code: HR-003, name: 社保关系转移, dept: HR, prefix: D, service_s: 300}
`, 1)
	if y == testHall {
		t.Fatal("test hall did not change")
	}
	cfg, err := config.Parse("kiosk.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return startHallWith(t, cfg)
}

const kW, kH = 1080, 1920

func kioskTab(t *testing.T, h *hall, query string) context.Context {
	t.Helper()
	k := tab(t, h.base+"/kiosk/?agent=kiosk-1"+query, kW, kH)
	step(t, k, "kiosk online", chromedp.WaitReady(chromedp.CSS(`body[data-online="1"]`)))
	return k
}

// typeKeys taps the kiosk's on-screen keys of keyboard sel.
func typeKeys(t *testing.T, ctx context.Context, sel, s string) {
	t.Helper()
	for _, ch := range s {
		step(t, ctx, "key "+string(ch), chromedp.Click(chromedp.CSS(sel+` button[data-ch="`+string(ch)+`"]`)))
	}
}

// clearField empties an input as the page's 清除 key does.
func clearField(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(() => { const e = document.getElementById("` + id + `"); e.value = ""; e.dispatchEvent(new Event("input", {bubbles: true})); })()`)
}

// clickItem clicks an item tile from inside the page: the kiosk redraws
// its item list when the hall's counts change, so a node found by the
// driver can be replaced before its click lands ("Could not find node").
func clickItem(code string) chromedp.Action[chromedp.Void] {
	return waitJS(`(() => { const e = document.querySelector('[data-item="` + code + `"]'); if (!e || e.offsetParent === null) return false; e.click(); return true; })()`)
}

func waitJS(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(10*time.Second))
}

var sameBounds = regexp.MustCompile(`(\d+)\s*[–-]\s*(\d+)`)

func noEqualRange(t *testing.T, what, s string) {
	t.Helper()
	for _, m := range sameBounds.FindAllStringSubmatch(s, -1) {
		if m[1] == m[2] {
			t.Errorf("%s shows the range %q: %q", what, m[0], s)
		}
	}
}

func TestKioskBrowserJourneyZH(t *testing.T) {
	browser(t)
	h := kioskHall(t)
	kd := newDevice(t, h, "kiosk-1", []wire.DeviceInfo{{ID: "printer-1", Kind: wire.KindPrinter}, {ID: "reader-1", Kind: wire.KindIDReader}})
	k := kioskTab(t, h, "")

	// Zoom is allowed.
	if vp := eval[string](t, k, `document.querySelector('meta[name="viewport"]').content`); strings.Contains(vp, "user-scalable") || strings.Contains(vp, "maximum-scale") {
		t.Errorf("viewport %q disables zoom", vp)
	}
	axeClean(t, k, "kiosk home")
	step(t, k, "appointment screen", chromedp.Click(chromedp.CSS("#go-appt")), chromedp.WaitVisible(chromedp.CSS("#appt-code")))
	axeClean(t, k, "kiosk appointment check-in")
	step(t, k, "unknown code", chromedp.SendKeys(chromedp.CSS("#appt-code"), "ZZ99"), chromedp.Click(chromedp.CSS("#appt-go")),
		waitJS(`document.getElementById("appt-err").textContent !== ""`))
	step(t, k, "home", chromedp.Click(chromedp.CSS("#appt .back")), chromedp.WaitVisible(chromedp.CSS("#go-take")))

	// Pinyin search, full and initials; no hit says so with a way back.
	step(t, k, "items", chromedp.Click(chromedp.CSS("#go-take")), chromedp.WaitVisible(chromedp.CSS(`[data-item="MKT-001"]`)))
	for _, q := range []string{"shebao", "sb", "shbzk"} {
		step(t, k, "search "+q, clearField("search"), chromedp.SendKeys(chromedp.CSS("#search"), q),
			chromedp.WaitVisible(chromedp.CSS(`#item-list [data-item="HR-001"]`)), chromedp.WaitNotPresent(chromedp.CSS(`#item-list [data-item="MKT-001"]`)))
	}
	shot(t, k, "kiosk-search-pinyin")
	step(t, k, "search by the on-screen letters", clearField("search"))
	typeKeys(t, k, ".keys.letters", "GTH") // 个体工商户
	step(t, k, "letters found", chromedp.WaitVisible(chromedp.CSS(`#item-list [data-item="MKT-001"]`)), chromedp.WaitNotPresent(chromedp.CSS(`#item-list [data-item="HR-001"]`)))
	step(t, k, "no hit", clearField("search"), chromedp.SendKeys(chromedp.CSS("#search"), "qqqq"),
		chromedp.WaitVisible(chromedp.CSS("#no-hit")))
	if s := text(t, k, "#no-hit"); !strings.Contains(s, "没有找到") || !strings.Contains(s, "查看全部事项") {
		t.Errorf("no-hit: %q", s)
	}
	axeClean(t, k, "kiosk search without a hit")
	shot(t, k, "kiosk-search-none")
	step(t, k, "show all", chromedp.Click(chromedp.CSS("#no-hit-all")), chromedp.WaitVisible(chromedp.CSS(`[data-item="HR-003"]`)), chromedp.WaitNotVisible(chromedp.CSS("#no-hit")))

	// An item without a guide.
	step(t, k, "no guide", clickItem("HR-003"), chromedp.WaitVisible(chromedp.CSS("#guide-none")))
	if g := text(t, k, "#guide-box"); strings.Contains(g, "无") && !strings.Contains(g, "暂无办事指南") || strings.Contains(g, "1. 无") || eval[int](t, k, `document.querySelectorAll("#guide-box li").length`) != 0 {
		t.Errorf("no-guide item shows %q", g)
	}
	axeClean(t, k, "kiosk guide without a guide")
	shot(t, k, "kiosk-guide-none")

	// HR-001: two windows may call it, so the ticket names none.
	step(t, k, "HR-001 guide", chromedp.Click(chromedp.CSS("#guide .back")), clickItem("HR-001"), chromedp.WaitVisible(chromedp.CSS("#guide-title")))
	if g := text(t, k, "#guide-box"); !strings.Contains(g, "居民身份证原件") || !strings.Contains(g, "所需材料") {
		t.Errorf("guide %q", g)
	}
	axeClean(t, k, "kiosk guide")
	step(t, k, "take A", chromedp.Click(chromedp.CSS("#take")), chromedp.WaitVisible(chromedp.CSS("#t-number")))
	waitCmd(t, kd, wire.CmdPrint, `"A001"`)
	if w := text(t, k, "#t-window"); strings.Contains(w, "号窗口") || !strings.Contains(w, "留意") {
		t.Errorf("A001 (windows 1 and 3) promises a window: %q", w)
	}
	noEqualRange(t, "ticket", text(t, k, "#ticket"))
	if e := text(t, k, "#t-eta"); !strings.Contains(e, "即将叫号") && !strings.Contains(e, "分钟") {
		t.Errorf("eta %q", e)
	}

	// C001: only window 2 serves MKT-001 — the ticket names it and the
	// call goes there.
	step(t, k, "take C", chromedp.Click(chromedp.CSS("#ticket .done")), chromedp.Click(chromedp.CSS("#go-take")),
		clickItem("MKT-001"), chromedp.Click(chromedp.CSS("#take")),
		chromedp.WaitReady(chromedp.CSS(`body[data-hint="2"]`)))
	if n, w := text(t, k, "#t-number"), text(t, k, "#t-window"); n != "C001" || w != "请到 2 号窗口办理" {
		t.Errorf("C ticket %q %q", n, w)
	}
	// More tickets, so the estimate of the next one is a real range.
	for i := 0; i < 6; i++ {
		h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "MKT-001"})
	}
	step(t, k, "take C008", chromedp.Click(chromedp.CSS("#ticket .done")), chromedp.Click(chromedp.CSS("#go-take")),
		clickItem("MKT-001"), chromedp.Click(chromedp.CSS("#take")),
		waitJS(`document.getElementById("t-number").textContent === "C008"`))
	noEqualRange(t, "ticket C008", text(t, k, "#ticket"))
	axeClean(t, k, "kiosk ticket")
	shot(t, k, "kiosk-ticket-window")

	ctx := context.Background()
	res, err := h.Controller.Act(ctx, ctl.ActRequest{Window: 2, Action: wire.KeyCallNext})
	if err != nil || res.Called == nil || res.Called.Number != "C001" || res.Called.Window != 2 {
		t.Fatalf("call at window 2: %+v %v", res.Called, err)
	}
	for _, a := range []string{wire.KeyStart, wire.KeyFinish} {
		if _, err := h.Controller.Act(ctx, ctl.ActRequest{Window: 2, Action: a}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}

	// 服务评价: its own title; C typed on the on-screen keys; the faces
	// are pictures and fully visible without scrolling.
	step(t, k, "rate tile", chromedp.Click(chromedp.CSS("#ticket .done")), chromedp.Click(chromedp.CSS("#go-rate")), chromedp.WaitVisible(chromedp.CSS("#lookup-no")))
	if ti := text(t, k, "#lookup-title"); ti != "服务评价" {
		t.Errorf("rate tile title %q", ti)
	}
	typeKeys(t, k, `.keys[data-target="lookup-no"]`, "C001")
	step(t, k, "clear key clears, C key types", chromedp.Click(chromedp.CSS(`.keys[data-target="lookup-no"] button[data-k="clear"]`)),
		waitJS(`document.getElementById("lookup-no").value === ""`))
	typeKeys(t, k, `.keys[data-target="lookup-no"]`, "CC001")
	step(t, k, "backspace", chromedp.Click(chromedp.CSS(`.keys[data-target="lookup-no"] button[data-k="backspace"]`)))
	step(t, k, "fix typo", clearField("lookup-no"))
	typeKeys(t, k, `.keys[data-target="lookup-no"]`, "C001")
	if v := eval[string](t, k, `document.getElementById("lookup-no").value`); v != "C001" {
		t.Fatalf("typed %q", v)
	}
	step(t, k, "look up", chromedp.Click(chromedp.CSS("#lookup-go")), chromedp.WaitVisible(chromedp.CSS("#rate-box")))
	typeKeys(t, k, `.keys[data-target="rate-check"]`, h.checkCode(t, "C001"))
	faces := eval[[]map[string]float64](t, k, `[...document.querySelectorAll("#rate-box [data-level]")].map(b => { const r = b.getBoundingClientRect(); const i = b.querySelector("img"); return {top: r.top, bottom: r.bottom, inner: innerHeight, img: i.complete ? i.naturalWidth : 0, w: i.getBoundingClientRect().width}; })`)
	if len(faces) != 5 {
		t.Fatalf("%d faces", len(faces))
	}
	for i, f := range faces {
		if f["img"] <= 0 || f["w"] < 60 {
			t.Errorf("face %d does not render: %v", 5-i, f)
		}
		if f["top"] < 0 || f["bottom"] > f["inner"] {
			t.Errorf("face %d is not fully visible at 1080×1920: %v", 5-i, f)
		}
	}
	axeClean(t, k, "kiosk rating")
	shot(t, k, "kiosk-rate")
	step(t, k, "rate", chromedp.Click(chromedp.CSS(`[data-level="4"]`)), chromedp.WaitVisible(chromedp.CSS("#rate-done")))
	if c, _ := h.Controller.FindTicket("C001"); !h.Controller.Rated(c.ID) {
		t.Error("the C ticket's rating was not recorded")
	}
	// 查询进度 keeps its own title.
	step(t, k, "lookup tile", chromedp.Click(chromedp.CSS("#lookup .back")), chromedp.Click(chromedp.CSS("#go-lookup")), chromedp.WaitVisible(chromedp.CSS("#lookup-no")))
	if ti := text(t, k, "#lookup-title"); ti != "查询进度" {
		t.Errorf("lookup tile title %q", ti)
	}
	typeKeys(t, k, `.keys[data-target="lookup-no"]`, "C008")
	step(t, k, "look up C008", chromedp.Click(chromedp.CSS("#lookup-go")), chromedp.WaitVisible(chromedp.CSS("#lookup-res")))
	noEqualRange(t, "lookup C008", text(t, k, "#lookup-res"))
	axeClean(t, k, "kiosk lookup")
}

// hanLeft is the page's visible text in English mode without the names
// of the hall, its items and departments (proper names), the masked card
// holder and the 中文 switch: it must hold no Chinese.
const hanLeft = `(() => {
  const names = [document.getElementById("hall-name").textContent];
  document.querySelectorAll("[data-item] b, #guide-title, #t-item, #depts button").forEach(e => names.push(e.textContent));
  let s = document.body.innerText;
  s = s.split(document.getElementById("lang").textContent).join(" ");
  names.sort((a, b) => b.length - a.length).forEach(n => { if (n) s = s.split(n).join(" "); });
  document.querySelectorAll("[data-item] small").forEach(e => e.textContent.split(" · ").forEach(p => { s = s.split(p).join(" "); }));
  return (s.match(/[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]+/g) || []).join(" | ");
})()`

func noChinese(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	if left := eval[string](t, ctx, hanLeft); left != "" {
		t.Errorf("English %s has Chinese: %s", what, left)
	}
}

func TestKioskBrowserJourneyEN(t *testing.T) {
	browser(t)
	h := kioskHall(t)
	newDevice(t, h, "kiosk-1", []wire.DeviceInfo{{ID: "printer-1", Kind: wire.KindPrinter}})
	k := kioskTab(t, h, "")
	step(t, k, "English", chromedp.Click(chromedp.CSS("#lang")), waitJS(`document.documentElement.lang === "en"`))
	noChinese(t, k, "home")
	axeClean(t, k, "kiosk home (English)")
	shot(t, k, "kiosk-home-en")
	step(t, k, "items", chromedp.Click(chromedp.CSS("#go-take")), chromedp.WaitVisible(chromedp.CSS(`[data-item="HR-001"]`)))
	noChinese(t, k, "items")
	step(t, k, "no hit", chromedp.SendKeys(chromedp.CSS("#search"), "xyzxyz"), chromedp.WaitVisible(chromedp.CSS("#no-hit")))
	noChinese(t, k, "no hit")
	step(t, k, "all", chromedp.Click(chromedp.CSS("#no-hit-all")), clickItem("HR-001"), chromedp.WaitVisible(chromedp.CSS("#guide-title")))
	if g := text(t, k, "#guide-box"); !strings.Contains(g, "What to bring") || !strings.Contains(g, "ID card (original)") {
		t.Errorf("English guide %q", g)
	}
	noChinese(t, k, "guide")
	axeClean(t, k, "kiosk guide (English)")
	shot(t, k, "kiosk-guide-en")
	step(t, k, "take", chromedp.Click(chromedp.CSS("#take")), chromedp.WaitVisible(chromedp.CSS("#t-number")))
	noChinese(t, k, "ticket")
	step(t, k, "take C", chromedp.Click(chromedp.CSS("#ticket .done")), waitJS(`document.documentElement.lang === "zh-CN"`),
		chromedp.Click(chromedp.CSS("#lang")), chromedp.Click(chromedp.CSS("#go-take")),
		clickItem("MKT-001"), chromedp.Click(chromedp.CSS("#take")), chromedp.WaitReady(chromedp.CSS(`body[data-hint="2"]`)))
	if w := text(t, k, "#t-window"); w != "Go to window 2" {
		t.Errorf("English window hint %q", w)
	}
	noChinese(t, k, "ticket with a window")
	axeClean(t, k, "kiosk ticket (English)")
	shot(t, k, "kiosk-ticket-en")
	// A guide published in Chinese only says so.
	step(t, k, "Chinese-only guide", chromedp.Click(chromedp.CSS("#ticket .done")), chromedp.Click(chromedp.CSS("#lang")), chromedp.Click(chromedp.CSS("#go-take")),
		clickItem("HR-002"), chromedp.WaitVisible(chromedp.CSS("#guide-zh-only")))
	if l := eval[string](t, k, `document.querySelector("#guide-box [lang]").lang`); l != "zh-CN" {
		t.Errorf("the Chinese guide is marked %q", l)
	}
	step(t, k, "rate tile", chromedp.Click(chromedp.CSS("#guide .back")), chromedp.Click(chromedp.CSS("#items .back")),
		chromedp.Click(chromedp.CSS("#go-rate")), chromedp.WaitVisible(chromedp.CSS("#lookup-no")))
	if ti := text(t, k, "#lookup-title"); ti != "Rate a service" {
		t.Errorf("English rate title %q", ti)
	}
	noChinese(t, k, "rate")
	axeClean(t, k, "kiosk rate (English)")
	step(t, k, "appointment (English)", chromedp.Click(chromedp.CSS("#lookup .back")), chromedp.Click(chromedp.CSS("#go-appt")),
		chromedp.SendKeys(chromedp.CSS("#appt-code"), "ZZ99"), chromedp.Click(chromedp.CSS("#appt-go")),
		waitJS(`document.getElementById("appt-err").textContent !== ""`))
	noChinese(t, k, "appointment error")
}

func TestKioskBrowserElderMode(t *testing.T) {
	browser(t)
	h := kioskHall(t)
	kd := newDevice(t, h, "kiosk-1", []wire.DeviceInfo{{ID: "printer-1", Kind: wire.KindPrinter}, {ID: "reader-1", Kind: wire.KindIDReader},
		{ID: "voice-1", Kind: wire.KindSpeaker}})

	// Without the kiosk's sign-in, elder mode promises no voice.
	plain := tab(t, h.base+"/kiosk/?agent=fz-kiosk", kW, kH) // another kiosk: kiosk-1's card session stays free
	step(t, plain, "elder without voice", chromedp.Click(chromedp.CSS("#elder")), chromedp.WaitVisible(chromedp.CSS("#swipe")))
	if v := text(t, plain, "#voice-text"); !strings.Contains(v, "未开通语音播报") {
		t.Errorf("voice line without sign-in: %q", v)
	}

	// Staff sign the kiosk in once with its kiosk token.
	k := isolatedTab(t, h.base+"/kiosk/?agent=kiosk-1&setup=1", kW, kH)
	tok, err := h.keys.Sign(web.Claims{Role: web.RoleKiosk, Subject: "kiosk-1", Issued: time.Now().Unix(), Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	step(t, k, "kiosk sign-in", chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`)), chromedp.SetValue(chromedp.CSS("#setup-token"), tok),
		chromedp.Click(chromedp.CSS("#setup-go")), chromedp.WaitReady(chromedp.CSS(`body[data-setup="1"][data-voice="1"]`)))
	step(t, k, "setup panel gone", chromedp.WaitNotVisible(chromedp.CSS("#setup")))
	if u := eval[string](t, k, `location.search`); u != "?agent=kiosk-1" {
		t.Errorf("address after setup: %q", u)
	}
	size := func(sel string) float64 {
		return eval[float64](t, k, `parseFloat(getComputedStyle(document.querySelector(`+"`"+sel+"`"+`)).fontSize)`)
	}
	before := size("#go-take small")

	// One tap: large type, high contrast, the ID card first, few choices.
	step(t, k, "elder on", chromedp.Click(chromedp.CSS("#elder")), chromedp.WaitReady(chromedp.CSS(`body.elder[data-elder="1"]`)), chromedp.WaitVisible(chromedp.CSS("#swipe")))
	waitCmd(t, kd, wire.CmdSpeak, "长辈模式")
	if p := eval[string](t, k, `document.getElementById("elder").getAttribute("aria-pressed")`); p != "true" {
		t.Errorf("elder button aria-pressed %q", p)
	}
	// 18pt = 24px is the guidance's floor for body text; the kiosk is read
	// from arm's length, so elder mode goes well past it.
	for _, sel := range []string{"body", "#swipe p:not(.swipe-h)", "#common button small", "#voice-text", "#elder-more"} {
		if px := size(sel); px < 32 {
			t.Errorf("elder mode: %s is %.0fpx", sel, px)
		}
	}
	if px := size(".swipe-h"); px < 64 {
		t.Errorf("请刷身份证 is %.0fpx", px)
	}
	if px := size("body"); px <= before {
		t.Errorf("elder body %.0fpx, not larger than the normal tiles' %.0fpx", px, before)
	}
	// Big targets: every button on the screen at least 96 px high.
	if small := eval[string](t, k, `[...document.querySelectorAll("button")].filter(b => b.offsetParent && b.getBoundingClientRect().height < 96).map(b => b.id || b.textContent).join(", ")`); small != "" {
		t.Errorf("elder mode: small targets: %s", small)
	}
	if n := eval[int](t, k, `document.querySelectorAll("#common button").length`); n != 4 {
		t.Errorf("%d common items", n)
	}
	if vis := eval[bool](t, k, `!!document.getElementById("search").offsetParent || !!document.getElementById("go-appt").offsetParent`); vis {
		t.Error("elder home shows the search or the normal tiles")
	}
	if s := eval[string](t, k, `document.body.dataset.idleS`); s != "300" {
		t.Errorf("elder idle %q s, want 300 with a 继续 prompt", s)
	}
	if v := text(t, k, "#voice-text"); v != "语音提示已开启" {
		t.Errorf("voice line %q", v)
	}
	axeClean(t, k, "kiosk elder home")
	enhancedContrast(t, k, "kiosk elder home")
	shot(t, k, "kiosk-elder-home")

	// The ID card is the main path: a read, a big tile, the ticket, spoken.
	h.Controller.OnCard("kiosk-1", "reader-1", wire.Card{IDHash: "elder-hash", MaskedID: "110105********002X", MaskedName: "李*华", BirthYear: 1946})
	step(t, k, "card read", chromedp.WaitVisible(chromedp.CSS("#card-banner")))
	waitCmd(t, kd, wire.CmdSpeak, "已读取身份证")
	step(t, k, "common item", chromedp.Click(chromedp.CSS(`#common [data-common="HR-002"]`)), chromedp.WaitVisible(chromedp.CSS("#take")))
	axeClean(t, k, "kiosk elder guide")
	enhancedContrast(t, k, "kiosk elder guide")
	step(t, k, "take", chromedp.Click(chromedp.CSS("#take")), chromedp.WaitVisible(chromedp.CSS("#t-number")))
	n := text(t, k, "#t-number")
	waitCmd(t, kd, wire.CmdSpeak, "您的号码是"+n)
	if it := text(t, k, "#t-item"); !strings.Contains(it, "老年人优先") {
		t.Errorf("elder ticket %q", it)
	}
	axeClean(t, k, "kiosk elder ticket")
	enhancedContrast(t, k, "kiosk elder ticket")
	shot(t, k, "kiosk-elder-ticket")

	// Search is one button away.
	step(t, k, "more", chromedp.Click(chromedp.CSS("#ticket .done")), chromedp.Click(chromedp.CSS("#elder-more")), chromedp.WaitVisible(chromedp.CSS("#search")))
	if px := size(`#items .keys button`); px < 40 {
		t.Errorf("elder keys %.0fpx", px)
	}
	axeClean(t, k, "kiosk elder search")

	// English elder mode speaks English.
	step(t, k, "elder off and on in English", chromedp.Click(chromedp.CSS("#elder")), chromedp.WaitReady(chromedp.CSS(`body[data-elder="0"]`)),
		chromedp.Click(chromedp.CSS("#lang")), chromedp.Click(chromedp.CSS("#elder")), chromedp.WaitReady(chromedp.CSS(`body[data-elder="1"]`)))
	waitCmd(t, kd, wire.CmdSpeak, "Senior mode is on")
	noChinese(t, k, "elder home")
}

// The speak route: a kiosk token bound to its agent, prompt ids only.
func TestKioskSpeakRoute(t *testing.T) {
	h := kioskHall(t)
	kd := newDevice(t, h, "kiosk-1", []wire.DeviceInfo{{ID: "voice-1", Kind: wire.KindSpeaker}})
	sign := func(role, subject string) string {
		tok, err := h.keys.Sign(web.Claims{Role: role, Subject: subject, Issued: time.Now().Unix(), Expires: time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	own, other := sign(web.RoleKiosk, "kiosk-1"), sign(web.RoleKiosk, "fz-kiosk")
	if r := h.do(t, "POST", "/api/v1/kiosk/speak", "", map[string]any{"agent": "kiosk-1", "prompt": "swipe_card"}); r.status != 401 {
		t.Errorf("no token: %d", r.status)
	}
	if p := h.do(t, "POST", "/api/v1/kiosk/speak", other, map[string]any{"agent": "kiosk-1", "prompt": "swipe_card"}).problem(t); p.Code != "wrong_kiosk" {
		t.Errorf("another kiosk's token: %s", p.Code)
	}
	if p := h.do(t, "POST", "/api/v1/kiosk/speak", own, map[string]any{"agent": "kiosk-1", "prompt": "say anything"}).problem(t); p.Code != "unknown_prompt" {
		t.Errorf("free text: %s", p.Code)
	}
	if r := h.do(t, "POST", "/api/v1/kiosk/speak", own, map[string]any{"agent": "kiosk-1", "prompt": "swipe_card", "text": "hi"}); r.status != 400 {
		t.Errorf("extra text field: %d", r.status)
	}
	if p := h.do(t, "POST", "/api/v1/kiosk/speak", own, map[string]any{"agent": "kiosk-1", "prompt": "your_number", "number": "Z999"}).problem(t); p.Code != "unknown_ticket" {
		t.Errorf("unknown number: %s", p.Code)
	}
	var v web.KioskVoice
	h.do(t, "GET", "/api/v1/kiosk/voice?agent=kiosk-1", own, nil).decode(t, &v)
	if !v.Speaker || len(v.Prompts) == 0 {
		t.Errorf("voice %+v", v)
	}
	if r := h.do(t, "POST", "/api/v1/kiosk/speak", own, map[string]any{"agent": "kiosk-1", "prompt": "swipe_card"}); r.status != 202 {
		t.Fatalf("speak: %d %s", r.status, r.body)
	}
	waitCmd(t, kd, wire.CmdSpeak, "请将身份证放在下方读卡区")
	// A kiosk without a speaker says so.
	newDevice(t, h, "fz-kiosk", []wire.DeviceInfo{{ID: "printer-9", Kind: wire.KindPrinter}})
	h.do(t, "GET", "/api/v1/kiosk/voice?agent=fz-kiosk", other, nil).decode(t, &v)
	if v.Speaker {
		t.Error("fz-kiosk has no speaker")
	}
	if p := h.do(t, "POST", "/api/v1/kiosk/speak", other, map[string]any{"agent": "fz-kiosk", "prompt": "swipe_card"}).problem(t); p.Code != "no_speaker" {
		t.Errorf("no speaker: %s", p.Code)
	}
}

// The phone ticket page of a kiosk ticket: axe-clean while waiting, when
// called and at the rating, which has the same faces as the kiosk.
func TestKioskBrowserTicketPage(t *testing.T) {
	browser(t)
	h := kioskHall(t)
	for i := 0; i < 3; i++ {
		h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "MKT-001"})
	}
	tk, ok := h.Controller.FindTicket("C003")
	if !ok {
		t.Fatal("no C003")
	}
	p := tab(t, h.Controller.TicketURL(tk.ID, tk.Number, tk.IssuedAt), 390, 844)
	step(t, p, "waiting", chromedp.WaitReady(chromedp.CSS(`body[data-state="waiting"]`)))
	noEqualRange(t, "ticket page", text(t, p, "#status"))
	axeClean(t, p, "ticket page waiting")
	ctx := context.Background()
	for _, a := range []string{wire.KeyCallNext, wire.KeyStart, wire.KeyFinish, wire.KeyCallNext, wire.KeyStart, wire.KeyFinish, wire.KeyCallNext} {
		if _, err := h.Controller.Act(ctx, ctl.ActRequest{Window: 2, Action: a}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	step(t, p, "called", chromedp.WaitReady(chromedp.CSS(`body[data-state="called"]`)))
	if w := text(t, p, "#window"); w != "请到2号窗口" {
		t.Errorf("called to %q", w)
	}
	axeClean(t, p, "ticket page called")
	for _, a := range []string{wire.KeyStart, wire.KeyFinish} {
		if _, err := h.Controller.Act(ctx, ctl.ActRequest{Window: 2, Action: a}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	step(t, p, "rate", chromedp.WaitVisible(chromedp.CSS("#rate")))
	if n := eval[int](t, p, `[...document.querySelectorAll("#rate img")].filter(i => i.complete && i.naturalWidth > 0).length`); n != 5 {
		t.Errorf("%d faces render on the ticket page", n)
	}
	axeClean(t, p, "ticket page rating")
	shot(t, p, "ticket-page-rate-faces")
}

// Idle: the kiosk asks "still there?" with a big 继续 button before it
// goes home, and 继续 keeps the applicant where they were.
func TestKioskBrowserStillThere(t *testing.T) {
	browser(t)
	h := kioskHall(t)
	k := tab(t, h.base+"/kiosk/?idle=20", kW, kH)
	step(t, k, "guide", chromedp.Click(chromedp.CSS("#go-take")), clickItem("HR-001"), chromedp.WaitVisible(chromedp.CSS("#take")))
	wctx, cancel := context.WithTimeout(k, 40*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS("#still-go"))); err != nil {
		t.Fatalf("no 继续 prompt after the idle time: %v", err)
	}
	if s := text(t, k, "#still"); !strings.Contains(s, "您还在使用吗") || !strings.Contains(s, "继续使用") {
		t.Errorf("prompt %q", s)
	}
	if sc := eval[string](t, k, `document.body.dataset.screen`); sc != "guide" {
		t.Errorf("the prompt left the guide: %s", sc)
	}
	axeClean(t, k, "kiosk still-there prompt")
	shot(t, k, "kiosk-still-there")
	step(t, k, "continue", chromedp.Click(chromedp.CSS("#still-go")), chromedp.WaitNotVisible(chromedp.CSS("#still")))
	if sc := eval[string](t, k, `document.body.dataset.screen`); sc != "guide" {
		t.Errorf("继续 went to %s", sc)
	}
}

// enhancedContrast fails on any text under WCAG's enhanced contrast
// (7:1, large text 4.5:1; axe-core's color-contrast-enhanced rule): the
// 适老化 guidance asks for it where feasible, and elder mode meets it.
func enhancedContrast(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	axeRun(t, ctx) // injects axe
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	raw, err := chromedp.Run(sctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "rule", values: ["color-contrast-enhanced"]}, resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.flatMap(v => v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary.split("\n").slice(1).join(" ")))))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe color-contrast-enhanced: %v", err)
	}
	if raw != "[]" {
		t.Errorf("%s: text under 7:1 contrast: %s", what, raw)
	}
}

// 服务评价 by ID swipe: the applicant who took a ticket with an ID card
// rates it by swiping the same card instead of typing the check code; the
// swipe on the rating screen keeps the page there.
func TestKioskBrowserRateBySwipe(t *testing.T) {
	browser(t)
	h := kioskHall(t)
	newDevice(t, h, "kiosk-1", []wire.DeviceInfo{{ID: "printer-1", Kind: wire.KindPrinter}, {ID: "reader-1", Kind: wire.KindIDReader}})
	k := tab(t, h.base+"/kiosk/?agent=kiosk-1", kW, kH)
	step(t, k, "ready", chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`)))
	card := wire.Card{IDHash: "swipe-holder-hash", MaskedID: "110105********0031", MaskedName: "王*", BirthYear: 1985}
	// The card session opens in the background: once its socket has said
	// hello, a read reaches the page.
	step(t, k, "card session", chromedp.WaitReady(chromedp.CSS(`body[data-card-ready="1"]`)))
	h.Controller.OnCard("kiosk-1", "reader-1", card)
	step(t, k, "card shown", chromedp.WaitVisible(chromedp.CSS("#card-banner")))
	step(t, k, "take by card", clickItem("MKT-001"), chromedp.Click(chromedp.CSS("#take")),
		chromedp.WaitVisible(chromedp.CSS("#t-number")))
	n := text(t, k, "#t-number")
	ctx := context.Background()
	for _, a := range []string{wire.KeyCallNext, wire.KeyStart, wire.KeyFinish} {
		if _, err := h.Controller.Act(ctx, ctl.ActRequest{Window: 2, Action: a}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	step(t, k, "rate tile", chromedp.Click(chromedp.CSS("#ticket .done")), chromedp.Click(chromedp.CSS("#go-rate")), chromedp.WaitVisible(chromedp.CSS("#lookup-no")))
	typeKeys(t, k, `.keys[data-target="lookup-no"]`, n)
	step(t, k, "look up", chromedp.Click(chromedp.CSS("#lookup-go")), chromedp.WaitVisible(chromedp.CSS("#rate-box")))
	h.Controller.OnCard("kiosk-1", "reader-1", card)
	step(t, k, "swipe keeps the rating screen", chromedp.WaitVisible(chromedp.CSS("#card-banner")), chromedp.WaitVisible(chromedp.CSS("#rate-box")))
	step(t, k, "rate", chromedp.Click(chromedp.CSS(`[data-level="5"]`)), chromedp.WaitVisible(chromedp.CSS("#rate-done")))
	if c, _ := h.Controller.FindTicket(n); !h.Controller.Rated(c.ID) {
		t.Errorf("%s: the swipe's rating was not recorded", n)
	}
}
