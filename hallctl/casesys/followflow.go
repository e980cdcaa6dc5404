package casesys

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/store"
)

// The 好差评 follow-up workflow (issue 14; GB/T 39735-2020 practice): a
// 差评 (rating 1–2) is 待核实 pending → 核实 verified → 整改 rectifying →
// 反馈 feedback → 办结 closed, each step within its working-day deadline
// (ratings.steps_days). The clerk may appeal (申诉, appealed) an open
// follow-up once; a manager upholds the rating (the workflow resumes
// where it was) or accepts the appeal (appeal_accepted: the rating is
// kept but left out of the clerk's rates). A manager may close a
// follow-up from any open state (the /close route of old).
const (
	FollowUpPending        = "pending"
	FollowUpVerified       = "verified"
	FollowUpRectifying     = "rectifying"
	FollowUpFeedback       = "feedback"
	FollowUpClosedState    = "closed"
	FollowUpAppealed       = "appealed"
	FollowUpAppealAccepted = "appeal_accepted"
)

// Follow-up actions (the routes' last path segment).
const (
	ActVerify       = "verify"
	ActRectify      = "rectify"
	ActFeedback     = "feedback"
	ActClose        = "close"
	ActAppeal       = "appeal"
	ActUphold       = "uphold"
	ActAcceptAppeal = "accept-appeal"
)

// ErrFollowUpState: the action is not possible in the follow-up's state.
var ErrFollowUpState = errors.New("the follow-up's state does not allow this step")

// FollowUpStep is one transition of a follow-up: a FollowUpStream "step"
// record (a close is a "closed" record, FollowUpClosed). Note is the
// manager's note or the clerk's appeal reason.
type FollowUpStep struct {
	Ticket int64     `json:"ticket"`
	Action string    `json:"action"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Note   string    `json:"note,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
}

// FollowUpStepRecord is the log record of a step; n is the step's index
// in the follow-up's log (its key makes two concurrent steps from the
// same state collide).
func FollowUpStepRecord(s FollowUpStep, n int) store.Record {
	return store.Record{Stream: FollowUpStream, Type: "step",
		Key: "ticket-" + strconv.FormatInt(s.Ticket, 10) + "-step-" + strconv.Itoa(n), At: s.At, Data: mustJSON(s)}
}

// NextState is the state after action in state from, with ok false when
// the action is not possible there. appealedBefore says whether the
// follow-up was appealed already (an appeal is taken once); resume is the
// state an upheld appeal returns to.
func NextState(from, action string, appealedBefore bool, resume string) (string, bool) {
	open := from == FollowUpPending || from == FollowUpVerified || from == FollowUpRectifying || from == FollowUpFeedback
	switch action {
	case ActVerify:
		return FollowUpVerified, from == FollowUpPending
	case ActRectify:
		return FollowUpRectifying, from == FollowUpVerified
	case ActFeedback:
		return FollowUpFeedback, from == FollowUpRectifying
	case ActClose:
		return FollowUpClosedState, open || from == FollowUpAppealed
	case ActAppeal:
		return FollowUpAppealed, open && !appealedBefore
	case ActUphold:
		if resume == "" {
			resume = FollowUpPending
		}
		return resume, from == FollowUpAppealed
	case ActAcceptAppeal:
		return FollowUpAppealAccepted, from == FollowUpAppealed
	}
	return "", false
}

// nextActions are the manager's and the clerk's possible actions in state.
func nextActions(state string, appealedBefore bool) []string {
	var out []string
	for _, a := range []string{ActVerify, ActRectify, ActFeedback, ActClose, ActAppeal, ActUphold, ActAcceptAppeal} {
		if _, ok := NextState(state, a, appealedBefore, ""); ok {
			out = append(out, a)
		}
	}
	return out
}

// flow is a follow-up's state folded from its steps.
type flow struct {
	state          string
	since          time.Time // when it entered state
	appealedBefore bool
	resume         string // the state before the appeal
	log            []FollowUpStep
}

// foldFlow folds a follow-up's steps (in log order) and its close, if any.
func foldFlow(ratedAt time.Time, steps []FollowUpStep, closed *FollowUpClosed) flow {
	f := flow{state: FollowUpPending, since: ratedAt}
	for _, s := range steps {
		next, ok := NextState(f.state, s.Action, f.appealedBefore, f.resume)
		if !ok {
			continue // a step the log holds out of order: ignored, like a stale push
		}
		if s.Action == ActAppeal {
			f.appealedBefore, f.resume = true, f.state
		}
		s.From, s.To = f.state, next
		f.state, f.since = next, s.At
		f.log = append(f.log, s)
	}
	if closed != nil {
		f.log = append(f.log, FollowUpStep{Ticket: closed.Ticket, Action: ActClose, From: f.state, To: FollowUpClosedState,
			Note: closed.Note, By: closed.By, At: closed.At})
		f.state, f.since = FollowUpClosedState, closed.At
	}
	return f
}

// stepDays is the working days allowed for the step that leaves state
// ("" when the state has no deadline of its own: closed, appealed).
func stepDays(state string, s config.RatingSteps) int {
	switch state {
	case FollowUpPending:
		return s.Verify
	case FollowUpVerified:
		return s.Rectify
	case FollowUpRectifying, FollowUpFeedback:
		return s.Feedback
	}
	return 0
}

// ratingSteps are the hall's step deadlines, defaults filled in.
func (l *Ledger) ratingSteps() config.RatingSteps {
	s := config.DefaultRatingSteps
	if l.hall != nil {
		h := l.hall.Ratings.StepsDays
		if h.Verify > 0 {
			s.Verify = h.Verify
		}
		if h.Rectify > 0 {
			s.Rectify = h.Rectify
		}
		if h.Feedback > 0 {
			s.Feedback = h.Feedback
		}
	}
	return s
}

// FollowUpStateOf is ticket's follow-up state in l ("" when the ticket has
// no 差评), for reports.
func FollowUpStateOf(l *Ledger, ticket int64, ratedAt time.Time) string {
	var closed *FollowUpClosed
	if c, ok := l.Closed[ticket]; ok {
		closed = &c
	}
	return foldFlow(ratedAt, l.Steps[ticket], closed).state
}

func dayOf(t time.Time, loc *time.Location) time.Time {
	x := t.In(loc)
	return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC)
}

// DescribeStep is a transition for the audit log (no personal data).
func DescribeStep(s FollowUpStep) string {
	return fmt.Sprintf("follow-up of ticket %d: %s → %s (%s)", s.Ticket, s.From, s.To, s.Action)
}
