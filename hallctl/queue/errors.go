package queue

import "errors"

// Error is a queue-engine error with a stable string code for the wire
// (REST answers, clerk keypad feedback, the event log).
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Sentinel errors. Callers branch with errors.Is; Code(err) gives the
// stable code.
var (
	ErrUnknownItem     = &Error{"unknown_item", "unknown item"}
	ErrUnknownWindow   = &Error{"unknown_window", "unknown window"}
	ErrUnknownTicket   = &Error{"unknown_ticket", "unknown ticket"}
	ErrUnknownClass    = &Error{"unknown_class", "unknown class"}
	ErrUnknownEvent    = &Error{"unknown_event", "unknown event type"}
	ErrWindowClosed    = &Error{"window_closed", "window is closed"}
	ErrWindowPaused    = &Error{"window_paused", "window is paused"}
	ErrWindowBusy      = &Error{"window_busy", "window is still serving a ticket"}
	ErrWindowIdle      = &Error{"window_idle", "window has no current ticket"}
	ErrNoTicket        = &Error{"no_ticket", "no ticket waiting that this window may serve"}
	ErrDuplicatePerson = &Error{"duplicate_person", "this person already holds an active ticket for the item"}
	ErrBadState        = &Error{"bad_state", "ticket is not in a state that allows this"}
	ErrNotServed       = &Error{"not_served", "no window may serve this item"}
	ErrClosedToday     = &Error{"closed_today", "no window will serve this item again today"}
	ErrInconsistent    = &Error{"inconsistent_event", "event does not fit the engine's state"}
	ErrBadLease        = &Error{"bad_lease", "a lease needs 1 to 999 numbers and an expiry after now"}
	ErrNotLeased       = &Error{"not_leased", "number is not inside a lease granted for this item and day"}
	ErrLeaseUsed       = &Error{"lease_number_used", "leased number was already used"}
)

// Code returns the stable code of a queue error, "internal" for others and
// "" for nil.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "internal"
}
