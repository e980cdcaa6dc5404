package web

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/ctl"
)

// The appointment book's and the hall notice's routes (docs/api.md,
// docs/appointments.md): the book and the notice live in ctl and the log;
// these handlers decode, authorise and encode.

func (s *server) mountAppointments(_ *http.ServeMux, api apiFunc) {
	// Public like the case pushes: the HMAC signature authorises it.
	api("POST", "/api/v1/appointments/push", "", s.postAppointmentPush)
	api("GET", "/api/v1/manager/appointments", RoleManager, s.getAppointments)
	api("POST", "/api/v1/manager/appointments/{code}/cancel", RoleManager, s.postAppointmentCancel)
}

// Appointment books a code for an item from the manager console: the
// request of POST /manager/appointments. Slot and Expires are optional
// (no slot: any time today; no expiry: slot + appointments.expire_after_min).
type Appointment struct {
	Code    string    `json:"code"`
	Item    string    `json:"item"`
	Slot    time.Time `json:"slot,omitzero"`
	Expires time.Time `json:"expires,omitzero"`
}

func (s *server) postAppointment(w http.ResponseWriter, r *http.Request, cl Claims) {
	var a Appointment
	if err := s.decode(r, &a); err != nil {
		writeErr(w, err)
		return
	}
	got, changed, err := s.c.Book(r.Context(), ctl.Booking{Code: a.Code, Item: a.Item, Slot: a.Slot, Expires: a.Expires,
		By: actor(cl)}, cl.Role)
	if err != nil {
		writeErr(w, err)
		return
	}
	status := http.StatusCreated
	if !changed {
		status = http.StatusOK
	}
	writeJSON(w, status, got)
}

// CheckinRequest checks an appointment in at a kiosk.
type CheckinRequest struct {
	Agent string `json:"agent,omitempty"`
}

func (s *server) postCheckin(w http.ResponseWriter, r *http.Request, _ Claims) {
	var req CheckinRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	printerAgent, printer, err := s.kioskPrinter(req.Agent)
	if err != nil {
		writeErr(w, err)
		return
	}
	t, err := s.c.CheckIn(r.Context(), r.PathValue("code"), printerAgent, printer)
	if err != nil {
		writeErr(w, err)
		return
	}
	status := http.StatusCreated
	if t.Duplicate {
		// The code is the idempotency key: a second check-in shows the same ticket.
		status = http.StatusOK
		t.Print, t.PrintCode = s.c.PrintStatus(t.ID)
	}
	writeJSON(w, status, TicketResponse{Issued: t, Printed: t.Print == ctl.PrintPrinted})
}

// kioskPrinter resolves a kiosk's agent to the printer its tickets go to
// (none without an agent).
func (s *server) kioskPrinter(agent string) (printerAgent, printer string, err error) {
	if agent == "" {
		return "", "", nil
	}
	found := false
	for _, a := range s.c.Bus().Agents() {
		if a.ID == agent {
			found = true
		}
	}
	if !found {
		return "", "", errCode("unknown_agent", agent)
	}
	if p, ok := s.c.PrinterOf(agent, ""); ok {
		return p.Agent, p.Device.ID, nil
	}
	return "", "", nil
}

func (s *server) postAppointmentPush(w http.ResponseWriter, r *http.Request, _ Claims) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeErr(w, errCode("body_too_large", "limit "+strconv.FormatInt(s.o.MaxBody, 10)+" bytes"))
		return
	}
	res, err := s.c.Push(r.Context(), ctl.PushRequest{Method: r.Method, Path: r.URL.Path,
		Timestamp: r.Header.Get(casesys.HeaderTimestamp), Nonce: r.Header.Get(ctl.HeaderNonce),
		Signature: r.Header.Get(casesys.HeaderSignature), Body: body})
	if err != nil {
		writeErr(w, err)
		return
	}
	status := http.StatusOK
	if res.Changed && res.Appointment.State == ctl.ApptBooked {
		status = http.StatusCreated
	}
	writeJSON(w, status, res)
}

func (s *server) getAppointments(w http.ResponseWriter, _ *http.Request, _ Claims) {
	writeJSON(w, 200, nonNil(s.c.Appointments()))
}

// CancelAppointmentRequest cancels a booking from the manager console.
type CancelAppointmentRequest struct {
	Reason string `json:"reason,omitempty"`
}

func (s *server) postAppointmentCancel(w http.ResponseWriter, r *http.Request, cl Claims) {
	var req CancelAppointmentRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	a, err := s.c.Cancel(r.Context(), r.PathValue("code"), req.Reason, actor(cl), cl.Role)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, a)
}

// NoticeRequest sets the hall screen's ticker.
type NoticeRequest struct {
	Text string `json:"text"`
}

func (s *server) putNotice(w http.ResponseWriter, r *http.Request, cl Claims) {
	var req NoticeRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	text, err := s.c.SetNotice(r.Context(), req.Text, actor(cl), cl.Role)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, NoticeRequest{Text: text})
}
