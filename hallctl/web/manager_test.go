package web_test

import (
	"math"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/report"
	"github.com/servicehall/servicehall/hallctl/web"
)

// The preview's waiting counts disagreed with the live table (3 waiting,
// the preview said 1): its 票数 column counted the tickets the simulator
// calls within the horizon — those waiting now that it reaches, plus
// forecast arrivals — not the tickets waiting now. The preview now also
// answers waiting_now from the same snapshot and definition as the live
// table (tickets in an item's line; not a called ticket, not one
// transferred to a window's own list) and splits the rest into arrivals
// and unserved, so that waiting + arrivals = called + unserved.
func TestPreviewWaitingAgreesWithLiveTable(t *testing.T) {
	h := startHall(t)
	var numbers []string
	for range 4 {
		var tk struct {
			Number string `json:"number"`
		}
		h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"}).decode(t, &tk)
		numbers = append(numbers, tk.Number)
	}
	h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-002"})
	clerk := h.token(t, web.RoleClerk, 1)
	// Called, not yet served: in neither count.
	if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]any{"action": "call-next"}); r.status != 200 {
		t.Fatalf("call: %d %s", r.status, r.body)
	}
	// The last HR-001 ticket transferred to window 2's own list.
	last, _ := h.Controller.FindTicket(numbers[3])
	mgr := h.token(t, web.RoleManager, 0)
	if r := h.do(t, "POST", "/api/v1/manager/actions", mgr, map[string]any{"actions": []ctl.ManagerAction{{Type: "move", Tickets: []int64{last.ID}, ToWindow: 2}}}); r.status != 200 {
		t.Fatalf("move: %d %s", r.status, r.body)
	}
	// Window 1 paused: within the horizon nothing HR is called (the old
	// column said 0 with 2 waiting).
	if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]any{"action": "pause", "arg": "休息"}); r.status != 200 {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	var live web.ManagerHall
	h.do(t, "GET", "/api/v1/manager/hall", mgr, nil).decode(t, &live)
	move := ctl.ManagerAction{Type: "move", Tickets: []int64{last.ID}, ToItem: "HR-002"}
	serves := ctl.ManagerAction{Type: "set_serves", Window: 2, Refs: []string{"dept:MKT", "dept:HR"}}
	var pr web.PreviewResponse
	r := h.do(t, "POST", "/api/v1/manager/preview", mgr, map[string]any{"horizon_s": 1800, "actions": []ctl.ManagerAction{serves, move}})
	if r.status != 200 {
		t.Fatalf("preview: %d %s", r.status, r.body)
	}
	r.decode(t, &pr)
	if !pr.At.After(live.At) && !pr.At.Equal(live.At) {
		t.Errorf("preview at %v before the live table at %v", pr.At, live.At)
	}
	want := map[string]int{"HR-001": 2, "HR-002": 1, "MKT-001": 0}
	for _, it := range live.Items {
		if it.Waiting != want[it.Code] || pr.WaitingNow[it.Code] != it.Waiting {
			t.Errorf("%s: live table %d, preview %d, want %d", it.Code, it.Waiting, pr.WaitingNow[it.Code], want[it.Code])
		}
	}
	if pr.TransferredNow != 1 {
		t.Errorf("transferred now %d, want 1", pr.TransferredNow)
	}
	// Nothing is lost between the counts (before the actions: no ticket
	// changes item).
	for code, b := range pr.Before.Items {
		in := float64(pr.WaitingNow[code]) + b.Arrivals
		if code == "HR-001" {
			in++ // the ticket transferred to window 2 is in the run
		}
		if math.Abs(in-(b.Tickets+b.Unserved)) > 1e-9 {
			t.Errorf("%s: waiting %d + arrivals %v ≠ called %v + unserved %v", code, pr.WaitingNow[code], b.Arrivals, b.Tickets, b.Unserved)
		}
	}
	if hr := pr.Before.Items["HR-001"]; hr.Tickets >= float64(pr.WaitingNow["HR-001"]) {
		t.Errorf("with window 1 paused the old column should have said fewer than waiting: %+v", hr)
	}
	// The actions in words, with printed numbers, no codes or ids.
	if len(pr.ActionsText) != 2 {
		t.Fatalf("actions text %+v", pr.ActionsText)
	}
	if got := pr.ActionsText[0].ZH; got != "2 号窗口增办：人力资源和社会保障局业务" {
		t.Errorf("set_serves as %q", got)
	}
	if got := pr.ActionsText[1]; got.ZH != "将 "+numbers[3]+" 转办 就业失业登记" || len(got.TicketNumbers) != 1 || got.TicketNumbers[0] != numbers[3] {
		t.Errorf("move as %+v", got)
	}
	// Applied, the audit log keeps the same words.
	if r := h.do(t, "POST", "/api/v1/manager/actions", mgr, map[string]any{"actions": []ctl.ManagerAction{serves}}); r.status != 200 {
		t.Fatalf("apply: %d %s", r.status, r.body)
	}
	var audit []ctl.AuditEntry
	h.do(t, "GET", "/api/v1/manager/audit", mgr, nil).decode(t, &audit)
	if len(audit) == 0 || audit[0].Text == nil || audit[0].Text.ZH != "2 号窗口增办：人力资源和社会保障局业务" {
		t.Errorf("audit %+v", audit)
	}
	if len(audit) < 2 || audit[1].Text == nil || !strings.Contains(audit[1].Text.ZH, numbers[3]) || !strings.Contains(audit[1].Text.ZH, "2 号窗口") {
		t.Errorf("the move in the audit log: %+v", audit[1:])
	}
}

// The charts' series: manager only, today by default in the hall's zone,
// the live tickets counted as the live table counts them.
func TestManagerSeriesRoute(t *testing.T) {
	h := startHall(t)
	for range 3 {
		h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	}
	if r := h.do(t, "GET", "/api/v1/manager/reports/series", "", nil); r.status != 401 {
		t.Errorf("anonymous: %d", r.status)
	}
	if r := h.do(t, "GET", "/api/v1/manager/reports/series", h.token(t, web.RoleClerk, 1), nil); r.status != 403 {
		t.Errorf("clerk: %d", r.status)
	}
	mgr := h.token(t, web.RoleManager, 0)
	if r := h.do(t, "GET", "/api/v1/manager/reports/series?day=2026-13-01", mgr, nil); r.status != 400 || r.problem(t).Code != "bad_report" {
		t.Errorf("bad day: %d %s", r.status, r.body)
	}
	var s report.Series
	r := h.do(t, "GET", "/api/v1/manager/reports/series", mgr, nil)
	if r.status != 200 {
		t.Fatalf("series: %d %s", r.status, r.body)
	}
	r.decode(t, &s)
	cfg := h.Controller.Config()
	now := h.Controller.Now().In(cfg.Loc)
	if s.Day != now.Format("2006-01-02") || s.Zone != cfg.Loc.String() || len(s.Trend) != 14 || len(s.Hours) != 24 {
		t.Fatalf("series %s %s trend %d hours %v", s.Day, s.Zone, len(s.Trend), s.Hours)
	}
	k := now.Hour() - s.Hours[0]
	if a := s.Arrivals[k]; a == nil || *a != 3 {
		t.Errorf("arrivals this hour %v", a)
	}
	if len(s.Depts) != 2 || s.Depts[0].Waiting[k] == nil || *s.Depts[0].Waiting[k] <= 0 {
		t.Errorf("HR waiting this hour: %+v", s.Depts)
	}
	// The running hour's forecast is the what-if preview's rate now.
	var rate float64
	h.Controller.View(func(e *queue.Engine) {
		for _, r := range ctl.ObservedRates(cfg, e, h.Controller.Now()) {
			rate += r
		}
	})
	if f := s.Forecast[k]; f == nil || math.Abs(*f-rate) > 1e-3*rate {
		t.Errorf("forecast this hour %v, ObservedRates %v", f, rate)
	}
	if k+1 < len(s.Hours) && s.Arrivals[k+1] != nil {
		t.Errorf("an hour after now has arrivals %v", *s.Arrivals[k+1])
	}
}

// The cause of "3 waiting, the preview says 1": the engine keeps whole
// microseconds, so the tickets that idle windows call at the first
// instant of the simulated run were called "before now" and dropped from
// the preview's counts and waits.
func TestPreviewCountsTicketsCalledAtOnce(t *testing.T) {
	h := startHall(t)
	mgr := h.token(t, web.RoleManager, 0)
	for _, item := range []string{"HR-001", "HR-001", "HR-001", "MKT-001"} {
		h.do(t, "POST", "/api/v1/tickets", mgr, map[string]any{"item": item})
	}
	var pr web.PreviewResponse
	r := h.do(t, "POST", "/api/v1/manager/preview", mgr, map[string]any{"horizon_s": 7200, "replications": 1})
	if r.status != 200 {
		t.Fatalf("preview: %d %s", r.status, r.body)
	}
	r.decode(t, &pr)
	for code, want := range map[string]int{"HR-001": 3, "MKT-001": 1} {
		it := pr.Before.Items[code]
		if pr.WaitingNow[code] != want || it.Tickets < float64(want) || it.Unserved != 0 {
			t.Errorf("%s: %d waiting now; preview called %v, unserved %v", code, pr.WaitingNow[code], it.Tickets, it.Unserved)
		}
	}
}
