package web

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/wire"
)

// HallInfo is the public description of the hall (items and guides).
type HallInfo struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Departments []DeptInfo   `json:"departments"`
	Items       []ItemInfo   `json:"items"`
	Windows     []WindowInfo `json:"windows"`
	Timezone    string       `json:"timezone"` // issue 11: the hall's IANA zone, for the apps' clocks
	// RatingReasons are the 差评 reasons the kiosk offers for ratings 1–2
	// (ratings.reasons; issue 14).
	RatingReasons []ctl.RatingReason `json:"rating_reasons"`
}

// DeptInfo is a department.
type DeptInfo struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// ItemInfo is an item with its guide (一次性告知).
type ItemInfo struct {
	Code        string    `json:"code"`
	Name        string    `json:"name"`
	Dept        string    `json:"dept"`
	Prefix      string    `json:"prefix"`
	Kind        string    `json:"kind"`
	PromiseDays int       `json:"promise_days"`
	ServiceS    int       `json:"service_s"`
	Guide       GuideInfo `json:"guide"`
	// GuideEN is the guide in English (config guide_en), when the hall
	// has one: the kiosk's English mode shows it instead of the Chinese.
	GuideEN *GuideInfo `json:"guide_en,omitempty"`
	// Pinyin is the name's toneless pinyin, the readings of each Han
	// character, for the kiosk's pinyin search (pinyin.go).
	Pinyin [][]string `json:"pinyin"`
}

// GuideInfo is the 办事指南.
type GuideInfo struct {
	Conditions string   `json:"conditions"`
	Materials  []string `json:"materials"`
	Fee        string   `json:"fee"`
	Location   string   `json:"location"`
}

// WindowInfo is a window as configured.
type WindowInfo struct {
	Number int    `json:"number"`
	Dept   string `json:"dept"`
	Zone   string `json:"zone,omitempty"`
}

func (s *server) getHall(w http.ResponseWriter, _ *http.Request, _ Claims) {
	cfg := s.c.Config()
	h := HallInfo{ID: cfg.Hall.ID, Name: cfg.Hall.Name, Timezone: cfg.Hall.Timezone, RatingReasons: s.c.RatingReasons()}
	for _, d := range cfg.Departments {
		h.Departments = append(h.Departments, DeptInfo{d.Code, d.Name})
	}
	for _, it := range cfg.Items {
		g := GuideInfo{Conditions: it.Guide.Conditions, Materials: it.Guide.Materials, Fee: it.Guide.Fee, Location: it.Guide.Location}
		if g.Materials == nil {
			g.Materials = []string{}
		}
		h.Items = append(h.Items, ItemInfo{Code: it.Code, Name: it.Name, Dept: it.Dept, Prefix: it.Prefix, Kind: it.Kind,
			PromiseDays: it.PromiseDays, ServiceS: it.ServiceS, Guide: g, Pinyin: nameSyllables(it.Name)})
		if e := it.GuideEN; e.Conditions != "" || len(e.Materials) > 0 || e.Fee != "" || e.Location != "" {
			ge := GuideInfo{Conditions: e.Conditions, Materials: e.Materials, Fee: e.Fee, Location: e.Location}
			if ge.Materials == nil {
				ge.Materials = []string{}
			}
			h.Items[len(h.Items)-1].GuideEN = &ge
		}
	}
	for _, win := range cfg.Windows {
		h.Windows = append(h.Windows, WindowInfo{win.Number, win.Dept, win.Zone})
	}
	writeJSON(w, 200, h)
}

// Screen is what the hall screen shows.
type Screen struct {
	At      time.Time    `json:"at"`
	Calls   []CallRecord `json:"calls"`
	Depts   []DeptCount  `json:"depts"`
	Waiting int          `json:"waiting"`
	Notice  string       `json:"notice"`
	// Layout is the hall config's screen: section (screen.go).
	Layout ScreenLayout `json:"layout"`
}

// DeptCount is how many wait for a department's items.
type DeptCount struct {
	Code    string `json:"code"`
	Name    string `json:"name"`
	Waiting int    `json:"waiting"`
}

func (s *server) getScreen(w http.ResponseWriter, _ *http.Request, _ Claims) {
	cfg := s.c.Config()
	snap := s.c.Snapshot()
	layout := screenLayout(cfg)
	sc := Screen{At: snap.At, Calls: s.c.Calls(layout.LastCalls), Layout: layout}
	byDept := map[string]int{}
	for _, it := range snap.Items {
		if ci := cfg.Item(it.Code); ci != nil {
			byDept[ci.Dept] += it.Waiting
		}
		sc.Waiting += it.Waiting
	}
	for _, d := range cfg.Departments {
		sc.Depts = append(sc.Depts, DeptCount{d.Code, d.Name, byDept[d.Code]})
	}
	sc.Notice = s.c.Notice()
	writeJSON(w, 200, sc)
}

// TicketRequest is a kiosk's ticket request.
type TicketRequest struct {
	Item string `json:"item"`
	// Class: only staff tokens may set a class other than walkin; an ID
	// card of an elderly applicant gives the elderly class by itself.
	Class string `json:"class,omitempty"`
	Proxy bool   `json:"proxy,omitempty"`
	// Agent is the kiosk's agent id: the ticket prints on its printer and
	// Card takes the ID card last read on its reader, for the kiosk's card
	// session only (CardSession and CardSecret, cards.go).
	Agent       string `json:"agent,omitempty"`
	Card        bool   `json:"card,omitempty"`
	CardSession string `json:"card_session,omitempty"`
	CardSecret  string `json:"card_secret,omitempty"`
	RequestID   string `json:"request_id,omitempty"`
}

// TicketResponse is the ticket as shown on the kiosk.
type TicketResponse struct {
	ctl.Issued
	Printed    bool   `json:"printed"`
	MaskedName string `json:"masked_name,omitempty"`
}

var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func (s *server) postTicket(w http.ResponseWriter, r *http.Request, cl Claims) {
	var req TicketRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if !s.allowTicket(w, r, cl) {
		return
	}
	s.issue(w, r, cl, req, "")
}

func (s *server) issue(w http.ResponseWriter, r *http.Request, cl Claims, req TicketRequest, source string) {
	cfg := s.c.Config()
	if cfg.Item(req.Item) == nil {
		writeProblem(w, "unknown_item", req.Item)
		return
	}
	if req.Class != "" && req.Class != "walkin" && source == "" {
		if _, err := queue.ParseClass(req.Class); err != nil {
			writeErr(w, err)
			return
		}
		if cl.Role != RoleClerk && cl.Role != RoleManager && cl.Role != RoleAdmin {
			writeProblem(w, "forbidden", "only staff may issue class "+req.Class)
			return
		}
	}
	if req.RequestID != "" && !requestIDRe.MatchString(req.RequestID) {
		writeProblem(w, "bad_request", "request_id must be 1-64 letters, digits or dashes")
		return
	}
	printerAgent, printer, err := s.kioskPrinter(req.Agent)
	if err != nil {
		writeErr(w, err)
		return
	}
	ir := ctl.IssueRequest{Item: req.Item, Class: req.Class, Proxy: req.Proxy, Source: source}
	if ir.Source == "" && req.RequestID != "" {
		ir.Source = "web:" + req.RequestID
	}
	var masked string
	if req.Card {
		if req.Agent == "" {
			writeProblem(w, "bad_request", "card needs the kiosk's agent")
			return
		}
		card, ok := s.c.TakeCard(req.Agent, req.CardSession, req.CardSecret)
		if !ok {
			writeProblem(w, "no_card", "")
			return
		}
		ir.PersonHash, masked = card.IDHash, card.MaskedName
		ir.Card = &card // the controller applies the elderly rule
	}
	t, err := s.c.Issue(r.Context(), ir, printerAgent, printer)
	if err != nil {
		writeErr(w, err)
		return
	}
	status := http.StatusCreated
	if t.Duplicate {
		status = http.StatusOK
		t.Print, t.PrintCode = s.c.PrintStatus(t.ID)
	}
	writeJSON(w, status, TicketResponse{Issued: t, Printed: t.Print == ctl.PrintPrinted, MaskedName: masked})
}

// ReprintRequest asks for a ticket to be printed again.
type ReprintRequest struct {
	// Agent is the kiosk whose printers may take it (its first online
	// printer other than the one that failed).
	Agent string `json:"agent"`
}

// postReprint prints a waiting ticket whose print failed, again: the
// kiosk's 重新打印.
func (s *server) postReprint(w http.ResponseWriter, r *http.Request, _ Claims) {
	var req ReprintRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.Agent == "" {
		writeProblem(w, "bad_request", "agent is required")
		return
	}
	t, err := s.c.Reprint(r.Context(), strings.ToUpper(r.PathValue("number")), req.Agent, "")
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, TicketResponse{Issued: t, Printed: t.Print == ctl.PrintPrinted})
}

// TicketStatus is a ticket looked up by number.
type TicketStatus struct {
	queue.TicketView
	ItemName string  `json:"item_name"`
	Ahead    int     `json:"ahead"`
	NowP50S  float64 `json:"now_p50_s"`
	NowP90S  float64 `json:"now_p90_s"`
	Rateable bool    `json:"rateable"`
	Rated    bool    `json:"rated"`
}

func (s *server) getTicket(w http.ResponseWriter, r *http.Request, _ Claims) {
	ts, err := s.ticketStatus(r.PathValue("number"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, ts)
}

var numberRe = regexp.MustCompile(`^[A-Za-z]{0,4}[0-9]{1,5}$`)

func (s *server) ticketStatus(number string) (TicketStatus, error) {
	if !numberRe.MatchString(number) {
		return TicketStatus{}, errCode("bad_request", "a ticket number looks like A012")
	}
	t, ok := s.c.FindTicket(number)
	if !ok {
		return TicketStatus{}, errCode("unknown_ticket", number)
	}
	ts := TicketStatus{TicketView: t}
	if it := s.c.Config().Item(t.Item); it != nil {
		ts.ItemName = it.Name
	}
	if t.State == queue.Waiting {
		s.c.View(func(e *queue.Engine) {
			if est, err := e.Estimate(t.ID, s.c.Now()); err == nil {
				ts.Ahead, ts.NowP50S, ts.NowP90S = est.Ahead, est.P50S, est.P90S
				if !est.Known() { // no window will serve it today: no estimate (-1), not a JSON error
					ts.NowP50S, ts.NowP90S = queue.NoEstimate, queue.NoEstimate
				}
			}
		})
	}
	ts.Rated = s.c.Rated(t.ID)
	ts.Rateable = t.State == queue.Finished && !ts.Rated
	return ts, nil
}

// RatingRequest rates a served ticket from a kiosk. It must prove that
// the applicant holds the ticket: Check is the check code printed on it
// (typed at the kiosk), or D the check value of its QR link (scanned).
// A number alone rates nothing.
type RatingRequest struct {
	Level int `json:"level"`
	// Reasons are 差评 reason codes (ratings.reasons), levels 1–2 only.
	Reasons   []string `json:"reasons,omitempty"`
	Check     string   `json:"check,omitempty"`
	D         string   `json:"d,omitempty"`
	RequestID string   `json:"request_id,omitempty"`
	// Card: the proof is the ID card just read at this kiosk (Agent, with
	// its card session: CardSession and CardSecret, cards.go); the
	// ticket must have been taken with that card.
	Card        bool   `json:"card,omitempty"`
	Agent       string `json:"agent,omitempty"`
	CardSession string `json:"card_session,omitempty"`
	CardSecret  string `json:"card_secret,omitempty"`
}

func (s *server) postRating(w http.ResponseWriter, r *http.Request, _ Claims) {
	var req RatingRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.Level < 1 || req.Level > 5 {
		writeProblem(w, "bad_level", "")
		return
	}
	if req.RequestID != "" && !requestIDRe.MatchString(req.RequestID) {
		writeProblem(w, "bad_request", "request_id must be 1-64 letters, digits or dashes")
		return
	}
	proof := req.D
	if proof == "" {
		proof = req.Check
	}
	src := ""
	if req.RequestID != "" {
		src = "web:" + req.RequestID
	}
	var rt ctl.Rating
	var err error
	if req.Card {
		if req.Agent == "" {
			writeProblem(w, "bad_request", "card needs the kiosk's agent")
			return
		}
		card, ok := s.c.TakeCard(req.Agent, req.CardSession, req.CardSecret)
		if !ok {
			writeProblem(w, "no_card", "")
			return
		}
		rt, err = s.c.RateByCard(r.Context(), r.PathValue("number"), card, clientIP(r), req.Level, src, ctl.RatingExtra{Reasons: req.Reasons})
	} else {
		rt, err = s.c.RateAtKiosk(r.Context(), r.PathValue("number"), proof, clientIP(r), req.Level, src, ctl.RatingExtra{Reasons: req.Reasons})
	}
	if errors.Is(err, ctl.ErrBadTicketLink) {
		writeProblem(w, "bad_ticket_check", "")
		return
	}
	if err != nil {
		writeTicketErr(w, err)
		return
	}
	writeJSON(w, 201, rt.Public())
}

// WindowState is what the clerk console shows.
type WindowState struct {
	Window   queue.WindowView  `json:"window"`
	Current  *queue.TicketView `json:"current,omitempty"`
	ItemName string            `json:"item_name,omitempty"`
	Reason   *queue.Reason     `json:"reason,omitempty"`
	Clerk    string            `json:"clerk,omitempty"`
	Waiting  int               `json:"waiting"` // in the items it serves and transferred to it
	// Queue lists those tickets in calling order (clerkqueue.go): numbers,
	// items and waits only, no personal data.
	Queue []WaitingTicket `json:"queue"`
	// FollowUps are the open 差评 follow-ups of this window (issue 14,
	// followups.go) on GET /windows/{n}: what the clerk may appeal. No
	// comment and no applicant data.
	FollowUps []ClerkFollowUp `json:"followups,omitempty"`
}

func (s *server) getWindow(w http.ResponseWriter, r *http.Request, cl Claims) {
	n, err := windowParam(r, cl)
	if err != nil {
		writeErr(w, err)
		return
	}
	ws, ok := s.windowState(n)
	if !ok {
		writeProblem(w, "unknown_window", strconv.Itoa(n))
		return
	}
	ws.FollowUps = s.clerkFollowUps(r.Context(), n)
	writeJSON(w, 200, ws)
}

func (s *server) windowState(n int) (WindowState, bool) {
	var ws WindowState
	ok := false
	cfg := s.c.Config()
	s.c.View(func(e *queue.Engine) {
		v, found := e.Window(n)
		if !found {
			return
		}
		ok = true
		ws.Window = v
		if v.Current != 0 {
			if t, found := e.Ticket(v.Current); found {
				ws.Current = &t
				if it := cfg.Item(t.Item); it != nil {
					ws.ItemName = it.Name
				}
			}
		}
		serves := map[string]bool{}
		for _, c := range cfg.Expand(v.Serves) {
			serves[c] = true
		}
		snap := e.Snapshot(s.c.Now())
		for _, t := range snap.Waiting {
			if t.State == queue.Waiting && (serves[t.Item] && t.Window == 0 || t.Window == n) {
				ws.Waiting++
				ws.Queue = append(ws.Queue, s.waitingTicket(t, n, snap.At))
			}
		}
	})
	ws.Queue = sortQueue(ws.Queue)
	if !ok {
		return ws, false
	}
	ws.Reason, ws.Clerk = s.c.WindowFloor(n, ws.Window.Current)
	return ws, true
}

// ActionRequest is a clerk's window action.
type ActionRequest struct {
	Action    string `json:"action"`
	Arg       string `json:"arg,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// ActionResponse says what the action did and the window after it.
type ActionResponse struct {
	Called *ctl.Call     `json:"called,omitempty"`
	Events []queue.Event `json:"events"`
	State  WindowState   `json:"state"`
}

func (s *server) postAction(w http.ResponseWriter, r *http.Request, cl Claims) {
	n, err := windowParam(r, cl)
	if err != nil {
		writeErr(w, err)
		return
	}
	var req ActionRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if s.c.Config().Window(n) == nil {
		writeProblem(w, "unknown_window", strconv.Itoa(n))
		return
	}
	if req.RequestID != "" && !requestIDRe.MatchString(req.RequestID) {
		writeProblem(w, "bad_request", "request_id must be 1-64 letters, digits or dashes")
		return
	}
	src := ""
	if req.RequestID != "" {
		src = "web:" + req.RequestID
	}
	if len(req.Arg) > 200 {
		writeProblem(w, "bad_request", "arg is longer than 200 characters")
		return
	}
	clerk := ""
	if cl.Role == RoleClerk || cl.Subject != "" {
		clerk = actor(cl)
	}
	res, err := s.c.Act(r.Context(), ctl.ActRequest{Window: n, Action: req.Action, Arg: req.Arg, Source: src, Clerk: clerk})
	if err != nil {
		writeErr(w, err)
		return
	}
	st, _ := s.windowState(n)
	out := ActionResponse{Called: res.Called, Events: stripPersons(res.Events), State: st}
	if out.Events == nil {
		out.Events = []queue.Event{}
	}
	writeJSON(w, 200, out)
}

func stripPersons(evs []queue.Event) []queue.Event {
	out := make([]queue.Event, len(evs))
	for i, ev := range evs {
		ev.Person = ""
		out[i] = ev
	}
	return out
}

func (s *server) getAudit(w http.ResponseWriter, r *http.Request, _ Claims) {
	es, err := s.c.Audit(r.Context(), 200)
	if err != nil {
		writeErr(w, err)
		return
	}
	if es == nil {
		es = []ctl.AuditEntry{}
	}
	writeJSON(w, 200, es)
}

// DeviceHealth is one device's health for the manager console.
type DeviceHealth struct {
	Agent       string `json:"agent"`
	AgentOnline bool   `json:"agent_online"`
	Device      string `json:"device"`
	Kind        string `json:"kind"`
	Window      int    `json:"window,omitempty"`
	Zone        string `json:"zone,omitempty"`
	State       string `json:"state"`
	Code        string `json:"code,omitempty"`
	Detail      string `json:"detail,omitempty"`
}

func (s *server) devices() []DeviceHealth {
	out := []DeviceHealth{}
	for _, t := range s.c.Bus().Find(func(string, wire.DeviceInfo) bool { return true }) {
		st := t.Status.State
		if st == "" {
			st = "online" // its agent is up and it has reported no fault
		}
		if !t.Online {
			st = "offline"
		}
		out = append(out, DeviceHealth{Agent: t.Agent, AgentOnline: t.Online, Device: t.Device.ID, Kind: t.Device.Kind,
			Window: t.Device.Window, Zone: t.Device.Zone, State: st, Code: t.Status.Code, Detail: t.Status.Detail})
	}
	// Claims the hall config refused (devices.md): listed with state
	// "refused" and the reason as code; the alert comes from Supervision.
	for _, r := range s.c.RefusedDevices() {
		out = append(out, DeviceHealth{Agent: r.Agent, Device: r.Device, Kind: r.Kind, Window: r.Window, Zone: r.Zone,
			State: "refused", Code: r.Reason})
	}
	return out
}

func (s *server) getDevices(w http.ResponseWriter, _ *http.Request, _ Claims) {
	writeJSON(w, 200, s.devices())
}
