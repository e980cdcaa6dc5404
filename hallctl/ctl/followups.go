package ctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// The 好差评 follow-up workflow (issue 14, casesys/followflow.go): the
// manager's steps 核实 → 整改 → 反馈 → 办结 and the decision on an appeal,
// the clerk's 申诉. Each step is a followup/step record with who, when and
// the note, written together with its audit record.

// Follow-up errors beyond ErrUnknownFollowUp and ErrFollowUpClosed.
var (
	// ErrNotYourFollowUp: a clerk appealed a follow-up of another window.
	ErrNotYourFollowUp = errors.New("the follow-up is not this window's")
	// ErrAppealReason: an appeal needs a reason.
	ErrAppealReason = errors.New("an appeal needs a reason")
)

// MaxFollowUpNote is the longest note or appeal reason, in characters.
const MaxFollowUpNote = 500

// followUpCode maps the follow-up errors to their wire codes.
func followUpCode(err error) string {
	switch {
	case errors.Is(err, casesys.ErrFollowUpState):
		return "followup_bad_state"
	case errors.Is(err, ErrNotYourFollowUp):
		return "not_your_followup"
	case errors.Is(err, ErrAppealReason):
		return "reason_required"
	case errors.Is(err, ErrUnknownFollowUp):
		return "unknown_followup"
	case errors.Is(err, ErrFollowUpClosed):
		return "followup_closed"
	}
	return ""
}

// FollowUpAction takes a manager's step on ticket's follow-up: verify,
// rectify, feedback, close (from any open state), uphold or
// accept-appeal. by is the token's subject, role its role.
func (c *Controller) FollowUpAction(ctx context.Context, ticket int64, action, note, by, role string) (casesys.FollowUp, error) {
	switch action {
	case casesys.ActClose:
		return c.CloseFollowUp(ctx, ticket, note, by)
	case casesys.ActVerify, casesys.ActRectify, casesys.ActFeedback, casesys.ActUphold, casesys.ActAcceptAppeal:
		return c.followUpStep(ctx, ticket, action, note, by, role, 0)
	}
	return casesys.FollowUp{}, fmt.Errorf("%w: unknown step %q", casesys.ErrFollowUpState, action)
}

// AppealFollowUp records the clerk's appeal (申诉) of ticket's follow-up
// from window, with its reason; the manager then upholds the rating or
// accepts the appeal.
func (c *Controller) AppealFollowUp(ctx context.Context, window int, ticket int64, reason, by string) (casesys.FollowUp, error) {
	if strings.TrimSpace(reason) == "" {
		return casesys.FollowUp{}, ErrAppealReason
	}
	return c.followUpStep(ctx, ticket, casesys.ActAppeal, strings.TrimSpace(reason), by, "clerk", window)
}

// followUp finds ticket's follow-up.
func (c *Controller) followUp(ctx context.Context, ticket int64) (casesys.FollowUp, bool) {
	for _, x := range c.FollowUps(ctx) {
		if x.Ticket == ticket {
			return x, true
		}
	}
	return casesys.FollowUp{}, false
}

// followUpStep checks and writes one step (window != 0: only that
// window's follow-ups). Steps are taken one at a time (fuMu): the monitor
// has applied each before the next is checked.
func (c *Controller) followUpStep(ctx context.Context, ticket int64, action, note, by, role string, window int) (casesys.FollowUp, error) {
	cs := c.cases
	if cs == nil {
		return casesys.FollowUp{}, ErrUnknownFollowUp
	}
	if len([]rune(note)) > MaxFollowUpNote {
		return casesys.FollowUp{}, fmt.Errorf("%w: the note is longer than %d characters", casesys.ErrFollowUpState, MaxFollowUpNote)
	}
	cs.fuMu.Lock()
	defer cs.fuMu.Unlock()
	f, ok := c.followUp(ctx, ticket)
	switch {
	case !ok:
		return casesys.FollowUp{}, ErrUnknownFollowUp
	case window != 0 && f.Window != window:
		return casesys.FollowUp{}, ErrNotYourFollowUp
	case f.Closed:
		return f, ErrFollowUpClosed
	}
	allowed := false
	for _, a := range f.Next {
		allowed = allowed || a == action
	}
	if !allowed {
		return f, fmt.Errorf("%w: %s is not possible in state %s", casesys.ErrFollowUpState, action, f.State)
	}
	resume := ""
	for _, s := range f.Log {
		if s.Action == casesys.ActAppeal {
			resume = s.From
		}
	}
	to, _ := casesys.NextState(f.State, action, false, resume)
	n := 0
	cs.monitor.View(func(l *casesys.Ledger) { n = len(l.Steps[ticket]) })
	now := c.clock.Now()
	step := casesys.FollowUpStep{Ticket: ticket, Action: action, From: f.State, To: to, Note: note, By: by, At: now}
	audit := AuditEntry{At: now, Actor: by, Role: role, Action: ManagerAction{Type: "followup_" + strings.ReplaceAll(action, "-", "_")},
		Detail: casesys.DescribeStep(step)}
	_, err := c.store.Append(context.WithoutCancel(ctx), casesys.FollowUpStepRecord(step, n),
		store.Record{Stream: AuditStream, Type: audit.Action.Type, At: now, Data: wire.Marshal(audit)})
	if errors.Is(err, store.ErrDuplicateKey) {
		return f, fmt.Errorf("%w: another step was taken at the same moment", casesys.ErrFollowUpState)
	}
	if err != nil {
		return casesys.FollowUp{}, err
	}
	if x, ok := c.followUp(context.WithoutCancel(ctx), ticket); ok {
		return x, nil
	}
	return f, nil
}
