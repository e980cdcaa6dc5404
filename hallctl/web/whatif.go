package web

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
)

// The preview's types live in ctl (the domain); web decodes and encodes them.
type (
	// PreviewRequest asks what the proposed manager actions would do.
	PreviewRequest = ctl.PreviewRequest
	// PreviewResponse is the what-if preview.
	PreviewResponse = ctl.PreviewResponse
	// Projection is one side (before or after) of a preview.
	Projection = ctl.Projection
	// ItemProjection is one item's projected waits.
	ItemProjection = ctl.ItemProjection
)

func (s *server) postPreview(w http.ResponseWriter, r *http.Request, _ Claims) {
	var req PreviewRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len(req.Actions) > ctl.MaxActions {
		writeProblem(w, "bad_request", "at most 50 actions")
		return
	}
	out, err := s.c.Preview(r.Context(), req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, out)
}

// ManageRequest applies manager actions in order, all or nothing: the
// batch is checked on a copy of the queue first (ctl.ManageBatch).
type ManageRequest struct {
	Actions []ctl.ManagerAction `json:"actions"`
}

// ManageResponse lists what was applied.
type ManageResponse struct {
	Applied int           `json:"applied"`
	Events  []queue.Event `json:"events"`
}

func (s *server) postManage(w http.ResponseWriter, r *http.Request, cl Claims) {
	var req ManageRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len(req.Actions) == 0 || len(req.Actions) > 50 {
		writeProblem(w, "bad_request", "send 1 to 50 actions")
		return
	}
	evs, err := s.c.ManageBatch(r.Context(), req.Actions, actor(cl), cl.Role)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, ManageResponse{Applied: len(req.Actions), Events: evs})
}

// ManagerHall is the manager console's live hall.
type ManagerHall struct {
	At      time.Time       `json:"at"`
	Items   []ManagerItem   `json:"items"`
	Windows []ManagerWindow `json:"windows"`
	Alerts  []Alert         `json:"alerts"`
	Devices []DeviceHealth  `json:"devices"`
	Ratings []ctl.Rating    `json:"ratings"`
}

// ManagerItem is one item's line.
type ManagerItem struct {
	queue.ItemView
	Name    string  `json:"name"`
	Dept    string  `json:"dept"`
	EstP50S float64 `json:"est_p50_s"` // for a ticket taken now
	EstP90S float64 `json:"est_p90_s"`
	Served  bool    `json:"served"` // some open window may serve it now
}

// ManagerWindow is one window with its clerk and utilisation.
type ManagerWindow struct {
	queue.WindowView
	Clerk       string  `json:"clerk,omitempty"`
	Utilisation float64 `json:"utilisation"`
}

// Alert is something the manager should look at.
type Alert struct {
	Kind    string `json:"kind"`  // long_wait | device | rating
	Level   string `json:"level"` // warn | alarm
	Subject string `json:"subject"`
	ZH      string `json:"message_zh"`
	EN      string `json:"message_en"`
}

func (s *server) getManagerHall(w http.ResponseWriter, _ *http.Request, _ Claims) {
	writeJSON(w, 200, s.managerHall())
}

func (s *server) managerHall() ManagerHall {
	cfg := s.c.Config()
	var snap queue.Snapshot
	est := map[string][2]float64{}
	served := map[string]bool{}
	s.c.View(func(e *queue.Engine) {
		now := s.c.Now()
		snap = e.Snapshot(now)
		for _, it := range cfg.Items {
			served[it.Code] = len(e.IdleWindowsFor(it.Code, now)) > 0
			cl := e.Clone()
			if ev, err := cl.Issue(now, queue.IssueReq{Item: it.Code, Proxy: true}); err == nil {
				est[it.Code] = [2]float64{ev.EstP50S, ev.EstP90S}
			}
		}
	})
	h := ManagerHall{At: snap.At, Alerts: []Alert{}, Devices: s.devices()}
	escalate := float64(cfg.Queue.EscalateAfterS)
	if escalate <= 0 {
		escalate = 900
	}
	openServes := map[string]bool{}
	for _, wv := range snap.Windows {
		if wv.State == "open" {
			for _, c := range cfg.Expand(wv.Serves) {
				openServes[c] = true
			}
		}
		h.Windows = append(h.Windows, ManagerWindow{WindowView: wv, Utilisation: s.tr.utilisation(wv.Number, snap.At)})
		_, h.Windows[len(h.Windows)-1].Clerk = s.tr.windowInfo(wv.Number, 0)
	}
	for _, iv := range snap.Items {
		mi := ManagerItem{ItemView: iv, EstP50S: est[iv.Code][0], EstP90S: est[iv.Code][1], Served: openServes[iv.Code] || served[iv.Code]}
		if it := cfg.Item(iv.Code); it != nil {
			mi.Name, mi.Dept = it.Name, it.Dept
		}
		h.Items = append(h.Items, mi)
		if iv.Waiting > 0 && iv.OldestWaitS > escalate {
			lvl := "warn"
			if iv.OldestWaitS > 2*escalate {
				lvl = "alarm"
			}
			m := int(iv.OldestWaitS / 60)
			h.Alerts = append(h.Alerts, Alert{Kind: "long_wait", Level: lvl, Subject: iv.Code,
				ZH: fmt.Sprintf("%s %s 最长已等候 %d 分钟（%d 人等候）", iv.Code, mi.Name, m, iv.Waiting),
				EN: fmt.Sprintf("%s: oldest ticket has waited %d min (%d waiting)", iv.Code, m, iv.Waiting)})
		}
		if iv.Waiting > 0 && !openServes[iv.Code] {
			h.Alerts = append(h.Alerts, Alert{Kind: "long_wait", Level: "alarm", Subject: iv.Code,
				ZH: fmt.Sprintf("%s %s 有 %d 人等候，但没有开放的窗口办理", iv.Code, mi.Name, iv.Waiting),
				EN: fmt.Sprintf("%s: %d waiting and no open window serves it", iv.Code, iv.Waiting)})
		}
	}
	for _, d := range h.Devices {
		if d.State != "online" && d.State != "unknown" {
			h.Alerts = append(h.Alerts, Alert{Kind: "device", Level: "alarm", Subject: d.Agent + "/" + d.Device,
				ZH: fmt.Sprintf("设备 %s/%s（%s）状态：%s %s", d.Agent, d.Device, d.Kind, d.State, d.Code),
				EN: fmt.Sprintf("device %s/%s (%s) is %s %s", d.Agent, d.Device, d.Kind, d.State, d.Code)})
		}
	}
	h.Ratings = s.tr.recentRatings(snap.At.Add(-8 * time.Hour))
	if h.Ratings == nil {
		h.Ratings = []ctl.Rating{}
	}
	// Bad ratings come from the durable follow-up list, with supervision
	// alerts (电子监察) from the event log.
	h.Alerts = append(h.Alerts, s.caseAlerts(context.Background())...)
	return h
}
