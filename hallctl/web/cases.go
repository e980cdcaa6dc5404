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

// The case system's routes (docs/casesys.md, docs/reports.md): the inbound
// case API (public GET for kiosks, HMAC-signed POST from the case system),
// the receipt QR page /c/{serial}, and the manager's supervision alerts,
// follow-ups, case statuses and reports.

type apiFunc func(method, path, role string, h func(w http.ResponseWriter, r *http.Request, cl Claims))

func (s *server) mountCases(mux *http.ServeMux, api apiFunc) {
	var caseAPI http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, "cases_off", "")
	})
	if h := s.c.CaseAPI(); h != nil {
		caseAPI = h
	}
	for _, rt := range []Route{{"GET", "/api/v1/cases/{serial}", ""}, {"POST", "/api/v1/cases/{serial}/status", ""}} {
		s.routes = append(s.routes, rt)
		mux.Handle(rt.Method+" "+rt.Path, caseAPI)
	}
	mux.HandleFunc("GET /c/{serial}", s.casePage)
	api("GET", "/api/v1/manager/alerts", RoleManager, s.getAlerts)
	api("GET", "/api/v1/manager/followups", RoleManager, s.getFollowUps)
	api("POST", "/api/v1/manager/followups/{ticket}/close", RoleManager, s.postCloseFollowUp)
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
		default:
			al.EN = a.Message
		}
		out = append(out, al)
	}
	for _, f := range s.c.FollowUps(ctx) {
		if f.Closed {
			continue
		}
		lvl, zh, en := "warn", "", ""
		if f.Overdue {
			lvl, zh, en = "alarm", "（已超期）", " (overdue)"
		}
		out = append(out, Alert{Kind: "rating", Level: lvl, Subject: f.Number,
			ZH: fmt.Sprintf("差评：%s 号在 %d 号窗口（%s）评价 %d 分，请于 %s 前回访%s", f.Number, f.Window, f.Clerk, f.Level, f.Deadline, zh),
			EN: fmt.Sprintf("bad rating: %s at window %d (%s) rated %d; follow up by %s%s", f.Number, f.Window, f.Clerk, f.Level, f.Deadline, en)})
	}
	return out
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
		err = report.WriteCSV(&buf, rows)
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	case "xlsx":
		err = report.WriteXLSX(&buf, rows)
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
			Satisfaction: f(r.Satisfaction())}
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
<style>body{font-family:sans-serif;margin:20px;max-width:640px}td,th{padding:4px 8px;text-align:left}.st{font-size:22px;font-weight:bold}</style></head>
<body><h1>{{.Hall}} · 办件进度 Case progress</h1>
{{if .Err}}<p id="error">{{.Err}}</p>{{else}}
<p>流水号 Serial: <b id="serial">{{.P.Serial}}</b></p>
<p>事项 Item: {{.P.ItemName}} ({{.P.Item}})</p>
<p>受理时间 Accepted: {{time .P.AcceptedAt .Loc}}{{if .P.Due}} · 承诺办结 Due: {{.P.Due}}{{end}}</p>
<p class="st" id="status" data-status="{{.P.Status}}">{{zh .P.Status}} {{.P.Status}}</p>
<table><tr><th>时间 Time</th><th>状态 Status</th><th>说明 Note</th></tr>
{{range .P.History}}<tr><td>{{time .At $.Loc}}</td><td>{{zh .Status}} {{.Status}}</td><td>{{.Note}}</td></tr>{{end}}</table>
{{end}}</body></html>`))

// casePage is the receipt QR code's target: the case's progress, no
// personal data, readable on any phone without JavaScript.
func (s *server) casePage(w http.ResponseWriter, r *http.Request) {
	p, err := s.c.CaseProgress(r.Context(), r.PathValue("serial"))
	cfg := s.c.Config()
	data := map[string]any{"P": p, "Hall": cfg.Hall.Name, "Loc": cfg.Loc}
	status := http.StatusOK
	if err != nil {
		status = http.StatusNotFound
		data["Err"] = "没有这个办件 No such case"
		if errors.Is(err, casesys.ErrBadSerial) {
			status, data["Err"] = http.StatusBadRequest, "流水号格式不正确 Malformed serial number"
		} else if !errors.Is(err, casesys.ErrUnknownCase) {
			status, data["Err"] = http.StatusServiceUnavailable, "暂时无法查询 Not available"
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = casePageT.Execute(w, data)
}
