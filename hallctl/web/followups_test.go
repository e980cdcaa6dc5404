package web_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/web"
	"github.com/servicehall/servicehall/wire"
)

// 差评 reasons over HTTP, and the follow-up workflow's routes: the
// manager's steps, the clerk's appeal (own window only), the problems.
func TestFollowUpRoutes(t *testing.T) {
	h := startHall(t)
	var hi web.HallInfo
	h.do(t, "GET", "/api/v1/hall", "", nil).decode(t, &hi)
	if len(hi.RatingReasons) != 6 || hi.RatingReasons[0].ZH != "等候时间长" {
		t.Fatalf("rating reasons %+v", hi.RatingReasons)
	}
	clerk := h.token(t, web.RoleClerk, 1)
	if r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"}); r.status != 201 {
		t.Fatalf("issue %d %s", r.status, r.body)
	}
	for _, a := range []string{"call-next", "start", "finish"} {
		if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]any{"action": a}); r.status != 200 {
			t.Fatalf("%s: %d %s", a, r.status, r.body)
		}
	}
	code := h.checkCode(t, "A001")
	if p := h.do(t, "POST", "/api/v1/tickets/A001/rating", "", map[string]any{"level": 4, "check": code, "reasons": []string{"slow"}}).problem(t); p.Code != "bad_reason" || p.Status != 400 {
		t.Fatalf("reasons on a 4: %+v", p)
	}
	r := h.do(t, "POST", "/api/v1/tickets/A001/rating", "", map[string]any{"level": 2, "check": code, "reasons": []string{"slow", "long_wait"}})
	if r.status != 201 || !strings.Contains(string(r.body), `"reasons":["slow","long_wait"]`) {
		t.Fatalf("rate %d %s", r.status, r.body)
	}
	var fus []casesys.FollowUp
	mgr := h.token(t, web.RoleManager, 0)
	h.do(t, "GET", "/api/v1/manager/followups", mgr, nil).decode(t, &fus)
	if len(fus) != 1 || fus[0].State != casesys.FollowUpPending || len(fus[0].Reasons) != 2 {
		t.Fatalf("follow-ups %+v", fus)
	}
	tk := fus[0].Ticket
	path := func(a string) string { return "/api/v1/manager/followups/" + itoa(tk) + "/" + a }
	if p := h.do(t, "POST", path("feedback"), mgr, map[string]string{"note": "x"}).problem(t); p.Code != "followup_bad_state" || p.Status != 409 {
		t.Fatalf("feedback first: %+v", p)
	}
	var f casesys.FollowUp
	if r := h.do(t, "POST", path("verify"), mgr, map[string]string{"note": "已调取录像核实"}); r.status != 200 {
		t.Fatalf("verify %d %s", r.status, r.body)
	} else if r.decode(t, &f); f.State != casesys.FollowUpVerified {
		t.Fatalf("verified %+v", f)
	}
	other := h.token(t, web.RoleClerk, 2)
	if p := h.do(t, "POST", "/api/v1/windows/2/followups/"+itoa(tk)+"/appeal", other, map[string]string{"reason": "x"}).problem(t); p.Code != "not_your_followup" {
		t.Fatalf("appeal from window 2: %+v", p)
	}
	if p := h.do(t, "POST", "/api/v1/windows/1/followups/"+itoa(tk)+"/appeal", other, map[string]string{"reason": "x"}).problem(t); p.Code != "wrong_window" {
		t.Fatalf("appeal with another window's token: %+v", p)
	}
	if p := h.do(t, "POST", "/api/v1/windows/1/followups/"+itoa(tk)+"/appeal", clerk, map[string]string{}).problem(t); p.Code != "reason_required" {
		t.Fatalf("appeal without reason: %+v", p)
	}
	var ws web.WindowState
	h.do(t, "GET", "/api/v1/windows/1", clerk, nil).decode(t, &ws)
	if len(ws.FollowUps) != 1 || !ws.FollowUps[0].CanAppeal || ws.FollowUps[0].State != casesys.FollowUpVerified {
		t.Fatalf("the clerk's follow-ups %+v", ws.FollowUps)
	}
	if r := h.do(t, "POST", "/api/v1/windows/1/followups/"+itoa(tk)+"/appeal", clerk, map[string]string{"reason": "申请人未带材料"}); r.status != 200 {
		t.Fatalf("appeal %d %s", r.status, r.body)
	}
	if r := h.do(t, "POST", path("accept-appeal"), mgr, map[string]string{"note": "属实"}); r.status != 200 {
		t.Fatalf("accept-appeal %d %s", r.status, r.body)
	} else if r.decode(t, &f); f.State != casesys.FollowUpAppealAccepted || len(f.Log) != 3 {
		t.Fatalf("appeal accepted %+v", f)
	}
	if p := h.do(t, "POST", path("close"), mgr, map[string]string{"note": "x"}).problem(t); p.Code != "followup_bad_state" {
		t.Fatalf("close after an accepted appeal: %+v", p)
	}
	if p := h.do(t, "POST", path("verify"), clerk, map[string]string{"note": "x"}).problem(t); p.Status != 403 {
		t.Fatalf("a clerk took a manager's step: %+v", p)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The phone page offers the reasons while the rating is open and takes
// reasons and a comment with a 差评; the comment is kept for the manager's
// follow-up and is not in the answer.
func TestTicketPageReasonsAndComment(t *testing.T) {
	h := startHall(t)
	kiosk := newDevice(t, h, "kiosk-1", []wire.DeviceInfo{{ID: "printer-1", Kind: wire.KindPrinter}})
	number, link := printedLink(t, h, kiosk)
	d := link.Query().Get("d")
	apiPath := "/api/v1/t/" + number
	clerk := h.token(t, "clerk", 1)
	for _, a := range []string{"call-next", "start", "finish"} {
		if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]string{"action": a}); r.status != 200 {
			t.Fatalf("%s: %d %s", a, r.status, r.body)
		}
	}
	if r := h.do(t, "GET", apiPath+"?d="+d, "", nil); !strings.Contains(string(r.body), `"rating_reasons":[{"code":"long_wait","zh":"等候时间长"`) {
		t.Fatalf("page without reasons: %s", r.body)
	}
	long := strings.Repeat("慢", 201)
	if p := h.do(t, "POST", apiPath+"/rating?d="+d, "", map[string]any{"level": 1, "comment": long}).problem(t); p.Code != "bad_reason" {
		t.Fatalf("a 201-character comment: %+v", p)
	}
	const comment = "排队一小时，窗口只开一个"
	r := h.do(t, "POST", apiPath+"/rating?d="+d, "", map[string]any{"level": 1, "reasons": []string{"long_wait"}, "comment": comment})
	if r.status != 201 || strings.Contains(string(r.body), comment) || !strings.Contains(string(r.body), `"channel":"qr"`) {
		t.Fatalf("rating: %d %s", r.status, r.body)
	}
	var fus []casesys.FollowUp
	h.do(t, "GET", "/api/v1/manager/followups", h.token(t, web.RoleManager, 0), nil).decode(t, &fus)
	if len(fus) != 1 || fus[0].Comment != comment || fus[0].Reasons[0] != "long_wait" {
		t.Fatalf("follow-ups %+v", fus)
	}
	var mh web.ManagerHall
	mr := h.do(t, "GET", "/api/v1/manager/hall", h.token(t, web.RoleManager, 0), nil)
	mr.decode(t, &mh)
	if strings.Contains(string(mr.body), comment) {
		t.Fatalf("the comment is in the hall view: %s", mr.body)
	}
}
