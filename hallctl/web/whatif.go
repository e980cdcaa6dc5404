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

// The manager console's queue view is built in ctl.
type (
	// ManagerItem is one item's line.
	ManagerItem = ctl.ManagerItem
	// ManagerWindow is one window with its clerk and utilisation.
	ManagerWindow = ctl.ManagerWindow
	// Alert is something the manager should look at.
	Alert = ctl.Alert
	// CallRecord is one call as the hall screen lists it.
	CallRecord = ctl.CallRecord
)

func (s *server) getManagerHall(w http.ResponseWriter, _ *http.Request, _ Claims) {
	writeJSON(w, 200, s.managerHall())
}

// managerHall is ctl's queue view with the devices and the case system's
// alerts added.
func (s *server) managerHall() ManagerHall {
	f := s.c.ManagerFloor()
	h := ManagerHall{At: f.At, Items: f.Items, Windows: f.Windows, Alerts: f.Alerts, Devices: s.devices(), Ratings: f.Ratings}
	for _, d := range h.Devices {
		if d.State != "online" && d.State != "unknown" && d.State != "refused" { // refused: a supervision alert
			h.Alerts = append(h.Alerts, Alert{Kind: "device", Level: "alarm", Subject: d.Agent + "/" + d.Device,
				ZH: fmt.Sprintf("设备 %s/%s（%s）状态：%s %s", d.Agent, d.Device, d.Kind, d.State, d.Code),
				EN: fmt.Sprintf("device %s/%s (%s) is %s %s", d.Agent, d.Device, d.Kind, d.State, d.Code)})
		}
	}
	// Bad ratings come from the durable follow-up list, with supervision
	// alerts (电子监察) from the event log.
	h.Alerts = append(h.Alerts, s.caseAlerts(context.Background())...)
	return h
}
