package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/report"
)

// The case system's routes (docs/casesys.md, docs/reports.md): the public
// case look-up GET /api/v1/cases/{serial}?k=… and the receipt QR page
// /c/{serial}?k=… (serial and check code, rate-limited per client, status
// and dates only: ctl.CaseLookup), the signed status push from the case
// system, and the manager's supervision alerts, follow-ups, cases (with
// notes), case statuses and reports.

type apiFunc func(method, path, role string, h func(w http.ResponseWriter, r *http.Request, cl Claims))

func (s *server) mountCases(mux *http.ServeMux, api apiFunc) {
	var caseAPI http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, "cases_off", "")
	})
	if h := s.c.CaseAPI(); h != nil {
		caseAPI = h
	}
	s.routes = append(s.routes, Route{"POST", "/api/v1/cases/{serial}/status", ""})
	mux.Handle("POST /api/v1/cases/{serial}/status", caseAPI)
	s.routes = append(s.routes, Route{"GET", "/api/v1/cases/{serial}", ""})
	mux.Handle("GET /api/v1/cases/{serial}", s.publicLimited("", "GET /api/v1/cases/{serial}", http.HandlerFunc(s.getCaseLookup)))
	mux.Handle("GET /c/{serial}", s.publicLimited("", "GET /c/{serial}", http.HandlerFunc(s.casePage)))
	api("GET", "/api/v1/manager/cases/{serial}", RoleManager, s.getManagerCase)
	api("GET", "/api/v1/manager/alerts", RoleManager, s.getAlerts)
	api("GET", "/api/v1/manager/followups", RoleManager, s.getFollowUps)
	api("POST", "/api/v1/manager/followups/{ticket}/close", RoleManager, s.postCloseFollowUp)
	s.mountFollowUps(api) // issue 14: the follow-up workflow (followups.go)
	api("POST", "/api/v1/manager/cases/{serial}/status", RoleManager, s.postCaseStatus)
	api("GET", "/api/v1/manager/reports", RoleManager, s.getReport)
}

// caseAlerts are the supervision alerts and open low-rating follow-ups as
// manager alerts.
func (s *server) caseAlerts(ctx context.Context) []Alert {
	var out []Alert
	// Long waits are per ticket in the log; the console shows one line per
	// item (the longest wait, and how many are past the limit).
	var sup []casesys.Alert
	worst, count := map[string]int{}, map[string]int{}
	for _, a := range s.c.Supervision(ctx) {
		if a.Kind != casesys.AlertLongWait {
			sup = append(sup, a)
			continue
		}
		count[a.Item]++
		if i, ok := worst[a.Item]; !ok || a.Value > sup[i].Value {
			if !ok {
				worst[a.Item] = len(sup)
				sup = append(sup, a)
			} else {
				sup[i] = a
			}
		}
	}
	for _, a := range sup {
		lvl := "warn"
		if a.Severity == "critical" {
			lvl = "alarm"
		}
		al := Alert{Kind: a.Kind, Level: lvl, ZH: a.Message}
		switch a.Kind {
		case casesys.AlertLongWait:
			al.Subject = a.Item
			n := count[a.Item]
			al.ZH = fmt.Sprintf("%s：%d 人等候超过 %.0f 分钟，最长 %s 已等 %.0f 分钟", a.Item, n, a.Threshold, a.Number, a.Value)
			al.EN = fmt.Sprintf("%s: %d waiting past %.0f min; %s has waited %.0f min", a.Item, n, a.Threshold, a.Number, a.Value)
		case casesys.AlertPaused:
			al.Subject = strconv.Itoa(a.Window)
			al.EN = fmt.Sprintf("window %d paused for %.0f min (limit %.0f)", a.Window, a.Value, a.Threshold)
		case casesys.AlertDueSoon:
			al.Subject = a.Serial
			al.EN = fmt.Sprintf("promised case %s is due within %.0f working days", a.Serial, a.Value)
		case casesys.AlertOverdue:
			al.Subject = a.Serial
			al.EN = fmt.Sprintf("promised case %s is past its due date", a.Serial)
		case casesys.AlertNoShowRate:
			al.Subject = a.Clerk
			al.EN = fmt.Sprintf("%s: no-show rate %.0f%% today", a.Clerk, a.Value*100)
		case ctl.AlertCalendar:
			al.EN = fmt.Sprintf("the holiday calendar has no schedule for %.0f month(s) (this or next): due dates would count their public holidays as working days; upgrade hallctl or list the dates under holidays:", a.Value)
		case "dead_letter":
			if a.Outbox == ctl.OutboxSupervision {
				al.EN = fmt.Sprintf("%.0f supervision event(s) could not be delivered to the 电子监察 platform, and the later ones wait behind them: replay or discard them (hallctl cases dead-letters --outbox supervision)", a.Value)
				break
			}
			al.EN = fmt.Sprintf("%.0f case event(s) could not be delivered to the case system, and their cases' later events wait behind them: replay or discard them (dead letters, hallctl cases dead-letters)", a.Value)
		default:
			al.EN = a.Message
		}
		out = append(out, al)
	}
	for _, f := range s.c.FollowUps(ctx) {
		if f.Closed || f.State == casesys.FollowUpAppealAccepted {
			continue
		}
		lvl, zh, en := "warn", "", ""
		if f.Overdue {
			lvl, zh, en = "alarm", "（已超期）", " (overdue)"
		}
		if f.StepDeadline != "" { // issue 14: the current step's deadline
			zh = fmt.Sprintf("（%s，本步限 %s）%s", followUpStateZH[f.State], f.StepDeadline, zh)
			en = fmt.Sprintf(" (%s; this step by %s)%s", f.State, f.StepDeadline, en)
		} else if f.State == casesys.FollowUpAppealed {
			zh, en = "（申诉待定）"+zh, " (appeal to decide)"+en
		}
		out = append(out, Alert{Kind: "rating", Level: lvl, Subject: f.Number,
			ZH: fmt.Sprintf("差评：%s 号在 %d 号窗口（%s）评价 %d 分，请于 %s 前回访%s", f.Number, f.Window, f.Clerk, f.Level, f.Deadline, zh),
			EN: fmt.Sprintf("bad rating: %s at window %d (%s) rated %d; follow up by %s%s", f.Number, f.Window, f.Clerk, f.Level, f.Deadline, en)})
	}
	return out
}

// followUpStateZH names the follow-up states in the alerts.
var followUpStateZH = map[string]string{
	casesys.FollowUpPending: "待核实", casesys.FollowUpVerified: "已核实待整改", casesys.FollowUpRectifying: "整改中待反馈",
	casesys.FollowUpFeedback: "已反馈待办结",
}

func (s *server) getAlerts(w http.ResponseWriter, r *http.Request, _ Claims) {
	h := s.managerHall()
	writeJSON(w, 200, map[string]any{"at": h.At, "alerts": h.Alerts, "supervision": nonNil(s.c.Supervision(r.Context()))})
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

func (s *server) getFollowUps(w http.ResponseWriter, r *http.Request, _ Claims) {
	writeJSON(w, 200, nonNil(s.c.FollowUps(r.Context())))
}

// CloseFollowUpRequest closes a low-rating follow-up.
type CloseFollowUpRequest struct {
	Note string `json:"note"`
}

func (s *server) postCloseFollowUp(w http.ResponseWriter, r *http.Request, cl Claims) {
	ticket, err := strconv.ParseInt(r.PathValue("ticket"), 10, 64)
	if err != nil || ticket <= 0 {
		writeProblem(w, "bad_request", "ticket must be a ticket id")
		return
	}
	var req CloseFollowUpRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len([]rune(req.Note)) > 500 {
		writeProblem(w, "bad_request", "note is longer than 500 characters")
		return
	}
	f, err := s.c.CloseFollowUp(r.Context(), ticket, req.Note, actor(cl))
	switch {
	case errors.Is(err, ctl.ErrUnknownFollowUp):
		writeProblem(w, "unknown_followup", strconv.FormatInt(ticket, 10))
	case errors.Is(err, ctl.ErrFollowUpClosed):
		writeProblem(w, "followup_closed", strconv.FormatInt(ticket, 10))
	case err != nil:
		writeErr(w, err)
	default:
		writeJSON(w, 200, f)
	}
}

// CaseStatusRequest sets a case's status from the manager console.
type CaseStatusRequest struct {
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
}

func (s *server) postCaseStatus(w http.ResponseWriter, r *http.Request, cl Claims) {
	var req CaseStatusRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len([]rune(req.Note)) > 500 {
		writeProblem(w, "bad_request", "note is longer than 500 characters")
		return
	}
	p, err := s.c.SetCaseStatus(r.Context(), casesys.StatusChange{Serial: r.PathValue("serial"),
		Status: casesys.Status(req.Status), Note: req.Note, By: "manager:" + actor(cl)})
	if err != nil {
		writeCaseErr(w, err)
		return
	}
	writeJSON(w, 200, p)
}

// getCaseLookup is the public look-up: 404 unknown_case for an unknown
// serial and a wrong or missing check code alike, 429 with Retry-After
// over limits.lookups_per_min.
func (s *server) getCaseLookup(w http.ResponseWriter, r *http.Request) {
	p, err := s.c.CaseLookup(r.Context(), r.PathValue("serial"), r.URL.Query().Get("k"), clientIP(r))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err != nil {
		writeLookupErr(w, err)
		return
	}
	writeJSON(w, 200, p)
}

func writeLookupErr(w http.ResponseWriter, err error) {
	var re *ctl.RetryError
	switch {
	case errors.As(err, &re) && errors.Is(err, ctl.ErrLookupLimited):
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((re.After+time.Second-1)/time.Second))))
		writeProblem(w, "rate_limited", "")
	case errors.Is(err, ctl.ErrCaseNotFound):
		writeProblem(w, "unknown_case", "")
	default:
		writeCaseErr(w, err)
	}
}

// getManagerCase is a case's whole progress, notes included, for managers.
func (s *server) getManagerCase(w http.ResponseWriter, r *http.Request, _ Claims) {
	p, err := s.c.CaseProgress(r.Context(), r.PathValue("serial"))
	if err != nil {
		writeCaseErr(w, err)
		return
	}
	writeJSON(w, 200, p)
}

func writeCaseErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ctl.ErrCasesOff):
		writeProblem(w, "cases_off", "")
	case errors.Is(err, casesys.ErrUnknownCase):
		writeProblem(w, "unknown_case", err.Error())
	case errors.Is(err, casesys.ErrBadSerial), errors.Is(err, casesys.ErrBadStatus):
		writeProblem(w, "bad_request", err.Error())
	case errors.Is(err, casesys.ErrStale):
		writeProblem(w, "stale_status", err.Error())
	default:
		writeErr(w, err)
	}
}

func (s *server) getReport(w http.ResponseWriter, r *http.Request, _ Claims) {
	q := r.URL.Query()
	get := func(k, def string) string {
		if v := q.Get(k); v != "" {
			return v
		}
		return def
	}
	today := s.c.Now().In(s.c.Config().Loc).Format(casesys.DateLayout)
	o := report.Opts{From: get("from", today), By: get("by", "item"), Period: get("period", "day")}
	o.To = get("to", o.From)
	format := get("format", "json")
	if format != "json" && format != "csv" && format != "xlsx" {
		writeProblem(w, "bad_report", "format must be json, csv or xlsx")
		return
	}
	// headers=zh (default): the report for people (Chinese headers,
	// minutes, percentages, totals, BOM, charts); headers=keys: the
	// machine-readable columns of docs/reports.md.
	headers := get("headers", "zh")
	if headers != "zh" && headers != "keys" {
		writeProblem(w, "bad_report", "headers must be zh or keys")
		return
	}
	rows, err := s.c.Report(r.Context(), o)
	if err != nil {
		if errors.Is(err, report.ErrBadOpts) {
			writeProblem(w, "bad_report", err.Error())
			return
		}
		writeErr(w, err)
		return
	}
	name := fmt.Sprintf("report-%s-%s-%s-%s", o.From, o.To, o.By, o.Period)
	var buf bytes.Buffer
	switch format {
	case "csv":
		if headers == "keys" {
			err = report.WriteCSV(&buf, rows)
		} else {
			err = report.WriteCSVZh(&buf, rows, o.By)
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	case "xlsx":
		if headers == "keys" {
			err = report.WriteXLSX(&buf, rows)
		} else {
			err = report.WriteXLSXZh(&buf, rows, o.By)
		}
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	default:
		writeJSON(w, 200, reportJSON(rows))
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+"."+format+`"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// ReportRow is a report line as JSON (null for "no data").
type ReportRow struct {
	Period       string   `json:"period"`
	Group        string   `json:"group"`
	Name         string   `json:"name"`
	Tickets      int      `json:"tickets"`
	Served       int      `json:"served"`
	NoShows      int      `json:"no_shows"`
	MeanWaitS    *float64 `json:"mean_wait_s"`
	P90WaitS     *float64 `json:"p90_wait_s"`
	MeanSvcS     *float64 `json:"mean_service_s"`
	Completed    int      `json:"completed"`
	OnTimeRate   *float64 `json:"on_time_rate"`
	EarlyRate    *float64 `json:"early_rate"`
	Ratings      [5]int   `json:"ratings"`
	Satisfaction *float64 `json:"satisfaction"`
	// issue 14 (docs/reports.md): 好评率, 差评率, 差评整改率, 实名差评回访整改率,
	// promised cases due in the range and 按期办结率 over them, 平均评价.
	GoodRate         *float64 `json:"good_rate"`
	BadRate          *float64 `json:"bad_rate"`
	RectifyRate      *float64 `json:"rectify_rate"`
	NamedRectifyRate *float64 `json:"named_rectify_rate"`
	Due              int      `json:"due"`
	DueOnTimeRate    *float64 `json:"due_on_time_rate"`
	MeanRating       *float64 `json:"mean_rating"`
	AppealsAccepted  int      `json:"appeals_accepted"`
}

func reportJSON(rows []report.Row) []ReportRow {
	f := func(x float64) *float64 {
		if x != x {
			return nil
		}
		return &x
	}
	out := make([]ReportRow, len(rows))
	for i, r := range rows {
		out[i] = ReportRow{Period: r.Period, Group: r.Group, Name: r.GroupName, Tickets: r.Tickets, Served: r.Served,
			NoShows: r.NoShows, MeanWaitS: f(r.MeanWaitS), P90WaitS: f(r.P90WaitS), MeanSvcS: f(r.MeanSvcS),
			Completed: r.Completed, OnTimeRate: f(r.OnTimeRate()), EarlyRate: f(r.EarlyRate()), Ratings: r.Ratings,
			Satisfaction: f(r.Satisfaction()), GoodRate: f(r.GoodRate()), BadRate: f(r.BadRate()), RectifyRate: f(r.RectifyRate()),
			NamedRectifyRate: f(r.NamedRectifyRate()), Due: r.Due, DueOnTimeRate: f(r.DueOnTimeRate()), MeanRating: f(r.MeanRating()),
			AppealsAccepted: r.AppealsAccepted}
	}
	return out
}

var statusZH = map[casesys.Status]string{
	casesys.StatusAccepted: "已受理", casesys.StatusInReview: "审查中", casesys.StatusApproved: "已办结（准予）",
	casesys.StatusRejected: "已办结（不予）", casesys.StatusReadyForPickup: "待领取",
}

var casePageT = template.Must(template.New("case").Funcs(template.FuncMap{
	"zh":   func(s casesys.Status) string { return statusZH[s] },
	"time": func(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02 15:04") },
}).Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>办件进度 {{.P.Serial}}</title>
<link rel="stylesheet" href="/assets/case.css"></head>
<body><h1>{{.Hall}} · 办件进度 Case progress</h1>
{{if .Err}}<p id="error">{{.Err}}</p>{{else}}
<p>流水号 Serial: <b id="serial">{{.P.Serial}}</b></p>
<p>事项 Item: {{.P.ItemName}} ({{.P.Item}})</p>
<p>受理时间 Accepted: {{time .P.AcceptedAt .Loc}}{{if .P.Due}} · 承诺办结 Due: {{.P.Due}}{{end}}</p>
<p class="st" id="status" data-status="{{.P.Status}}">{{zh .P.Status}} {{.P.Status}}</p>
<table><tr><th>时间 Time</th><th>状态 Status</th></tr>
{{range .P.History}}<tr><td>{{time .At $.Loc}}</td><td>{{zh .Status}} {{.Status}}</td></tr>{{end}}</table>
{{end}}</body></html>`))

// casePage is the receipt QR code's target (/c/{serial}?k=…): the case's
// status and dates, no notes and no personal data, readable on any phone
// without JavaScript; the same look-up, check code and rate limit as the
// public API.
func (s *server) casePage(w http.ResponseWriter, r *http.Request) {
	p, err := s.c.CaseLookup(r.Context(), r.PathValue("serial"), r.URL.Query().Get("k"), clientIP(r))
	cfg := s.c.Config()
	data := map[string]any{"P": p, "Hall": cfg.Hall.Name, "Loc": cfg.Loc}
	status := http.StatusOK
	var re *ctl.RetryError
	switch {
	case err == nil:
	case errors.Is(err, ctl.ErrCaseNotFound):
		status, data["Err"] = http.StatusNotFound, "没有这个办件，请核对流水号和查询码 No such case: check the serial and the check code"
	case errors.As(err, &re) && errors.Is(err, ctl.ErrLookupLimited):
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((re.After+time.Second-1)/time.Second))))
		status, data["Err"] = http.StatusTooManyRequests, "查询次数过多，请稍后再试 Too many look-ups: try again later"
	default:
		status, data["Err"] = http.StatusServiceUnavailable, "暂时无法查询 Not available"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = casePageT.Execute(w, data)
}
