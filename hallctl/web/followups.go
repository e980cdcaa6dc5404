package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/ctl"
)

// The 好差评 follow-up workflow's routes (issue 14): the manager's steps
//
//	POST /api/v1/manager/followups/{ticket}/{verify|rectify|feedback|uphold|accept-appeal} {note}
//
// (close keeps its own handler, closing from any open state), and the
// clerk's appeal of a follow-up of the window
//
//	POST /api/v1/windows/{n}/followups/{ticket}/appeal {reason}
//
// Each answers the follow-up after the step; every step is audited.

// FollowUpStepRequest is a manager's step with its note.
type FollowUpStepRequest struct {
	Note string `json:"note"`
}

// AppealRequest is a clerk's appeal with its reason (required).
type AppealRequest struct {
	Reason string `json:"reason"`
}

func (s *server) mountFollowUps(api apiFunc) {
	for _, a := range []string{casesys.ActVerify, casesys.ActRectify, casesys.ActFeedback, casesys.ActUphold, casesys.ActAcceptAppeal} {
		api("POST", "/api/v1/manager/followups/{ticket}/"+a, RoleManager, s.postFollowUpStep(a))
	}
	api("POST", "/api/v1/windows/{window}/followups/{ticket}/appeal", RoleClerk, s.postAppeal)
}

func ticketParam(w http.ResponseWriter, r *http.Request) (int64, bool) {
	ticket, err := strconv.ParseInt(r.PathValue("ticket"), 10, 64)
	if err != nil || ticket <= 0 {
		writeProblem(w, "bad_request", "ticket must be a ticket id")
		return 0, false
	}
	return ticket, true
}

func (s *server) postFollowUpStep(action string) func(w http.ResponseWriter, r *http.Request, cl Claims) {
	return func(w http.ResponseWriter, r *http.Request, cl Claims) {
		ticket, ok := ticketParam(w, r)
		if !ok {
			return
		}
		var req FollowUpStepRequest
		if err := s.decode(r, &req); err != nil {
			writeErr(w, err)
			return
		}
		if len([]rune(req.Note)) > ctl.MaxFollowUpNote {
			writeProblem(w, "bad_request", "note is longer than 500 characters")
			return
		}
		f, err := s.c.FollowUpAction(r.Context(), ticket, action, req.Note, actor(cl), cl.Role)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, f)
	}
}

func (s *server) postAppeal(w http.ResponseWriter, r *http.Request, cl Claims) {
	n, err := windowParam(r, cl)
	if err != nil {
		writeErr(w, err)
		return
	}
	ticket, ok := ticketParam(w, r)
	if !ok {
		return
	}
	var req AppealRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len([]rune(req.Reason)) > ctl.MaxFollowUpNote {
		writeProblem(w, "bad_request", "reason is longer than 500 characters")
		return
	}
	f, err := s.c.AppealFollowUp(r.Context(), n, ticket, req.Reason, actor(cl))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, f)
}

// ClerkFollowUp is an open 差评 follow-up as the window's clerk sees it.
type ClerkFollowUp struct {
	Ticket       int64     `json:"ticket"`
	Number       string    `json:"number"`
	Level        int       `json:"level"`
	Reasons      []string  `json:"reasons,omitempty"`
	RatedAt      time.Time `json:"rated_at"`
	State        string    `json:"state"`
	StepDeadline string    `json:"step_deadline,omitempty"`
	CanAppeal    bool      `json:"can_appeal"`
}

// clerkFollowUps are window n's follow-ups not yet ended.
func (s *server) clerkFollowUps(ctx context.Context, n int) []ClerkFollowUp {
	var out []ClerkFollowUp
	for _, f := range s.c.FollowUps(ctx) {
		if f.Window != n || f.Closed || f.State == casesys.FollowUpAppealAccepted {
			continue
		}
		out = append(out, ClerkFollowUp{Ticket: f.Ticket, Number: f.Number, Level: f.Level, Reasons: f.Reasons, RatedAt: f.RatedAt,
			State: f.State, StepDeadline: f.StepDeadline, CanAppeal: slices.Contains(f.Next, casesys.ActAppeal)})
	}
	return out
}
