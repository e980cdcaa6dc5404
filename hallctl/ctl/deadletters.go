package ctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// Dead letters (issue 14): case events the case system refused (a 4xx) or
// that failed every attempt. Each one holds back the later events of its
// case, across restarts, until a manager replays it (after the case
// system is fixed) or discards it (the case system can never take it).
// Both are audited: who, when, which event, and for a discard why.

// ErrNoOutbox: the hall has no case-system webhook (or, for the
// supervision outbox, no case_system.supervision.url).
var ErrNoOutbox = errors.New("no case-system webhook is configured")

// ErrUnknownOutbox: an outbox name other than cases or supervision.
var ErrUnknownOutbox = errors.New(`unknown outbox (have "cases" and "supervision")`)

// The outboxes with dead letters: the case system's webhook (the default)
// and the 电子监察 supervision platform's.
const (
	OutboxCases       = "cases"
	OutboxSupervision = "supervision"
)

// outboxNamed returns the outbox name ("" is OutboxCases).
func (c *Controller) outboxNamed(name string) (*casesys.Outbox, error) {
	var ob *casesys.Outbox
	switch name {
	case "", OutboxCases:
		ob = c.Outbox()
	case OutboxSupervision:
		ob = c.SupervisionOutbox()
		if ob == nil {
			return nil, fmt.Errorf("%w: no case_system.supervision.url", ErrNoOutbox)
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownOutbox, name)
	}
	if ob == nil {
		return nil, ErrNoOutbox
	}
	return ob, nil
}

// DeadLetters lists the case outbox's dead letters in log order.
func (c *Controller) DeadLetters(ctx context.Context) ([]casesys.Entry, error) {
	return c.DeadLettersIn(ctx, OutboxCases)
}

// DeadLettersIn lists the dead letters of the outbox named (OutboxCases
// or OutboxSupervision) in log order.
func (c *Controller) DeadLettersIn(ctx context.Context, outbox string) ([]casesys.Entry, error) {
	ob, err := c.outboxNamed(outbox)
	if err != nil {
		return nil, err
	}
	return ob.DeadLetters(ctx)
}

// DeadLetter returns one dead letter of the case outbox
// (casesys.ErrNoDeadLetter if none).
func (c *Controller) DeadLetter(ctx context.Context, key string) (casesys.Entry, error) {
	return c.DeadLetterIn(ctx, OutboxCases, key)
}

// DeadLetterIn returns one dead letter of the outbox named.
func (c *Controller) DeadLetterIn(ctx context.Context, outbox, key string) (casesys.Entry, error) {
	ob, err := c.outboxNamed(outbox)
	if err != nil {
		return casesys.Entry{}, err
	}
	return ob.DeadLetter(ctx, key)
}

// ReplayDeadLetters puts the case outbox's dead letter key ("" = every
// one) back in the outbox with its attempts reset, ahead of its case's
// later events, and records who did it. It returns how many went back.
func (c *Controller) ReplayDeadLetters(ctx context.Context, key, actor, role string) (int, error) {
	return c.ReplayDeadLettersIn(ctx, OutboxCases, key, actor, role)
}

// ReplayDeadLettersIn is ReplayDeadLetters on the outbox named.
func (c *Controller) ReplayDeadLettersIn(ctx context.Context, outbox, key, actor, role string) (int, error) {
	ob, err := c.outboxNamed(outbox)
	if err != nil {
		return 0, err
	}
	n, err := ob.Replay(ctx, key)
	if err != nil || n == 0 {
		return n, err
	}
	detail := fmt.Sprintf("%d %s event(s) back in the outbox", n, outboxNoun(outbox))
	if key != "" {
		detail = outboxNoun(outbox) + " event " + key + " back in the outbox"
	}
	return n, c.auditOnly(ctx, "replay_dead_letter", detail, actor, role)
}

// DiscardDeadLetter drops a dead letter of the case outbox for good (the
// case's later events then go on) and records who did it and why; a
// reason is required.
func (c *Controller) DiscardDeadLetter(ctx context.Context, key, reason, actor, role string) (casesys.Entry, error) {
	return c.DiscardDeadLetterIn(ctx, OutboxCases, key, reason, actor, role)
}

// DiscardDeadLetterIn is DiscardDeadLetter on the outbox named.
func (c *Controller) DiscardDeadLetterIn(ctx context.Context, outbox, key, reason, actor, role string) (casesys.Entry, error) {
	ob, err := c.outboxNamed(outbox)
	if err != nil {
		return casesys.Entry{}, err
	}
	if reason == "" {
		return casesys.Entry{}, ErrDiscardReason
	}
	e, err := ob.Discard(ctx, key)
	if err != nil {
		return e, err
	}
	detail := fmt.Sprintf("%s event %s (%s, case %s) discarded: %s", outboxNoun(outbox), e.Key, e.Event.Type, e.Event.Case, reason)
	return e, c.auditOnly(ctx, "discard_dead_letter", detail, actor, role)
}

// outboxNoun names an outbox's events in the audit log.
func outboxNoun(outbox string) string {
	if outbox == OutboxSupervision {
		return "supervision"
	}
	return "case"
}

// ErrDiscardReason: a discard needs a reason for the audit log.
var ErrDiscardReason = errors.New("a discard needs a reason")

// auditOnly records an action that changed no queue state.
func (c *Controller) auditOnly(ctx context.Context, typ, detail, actor, role string) error {
	return c.inUnit(ctx, func(u *unit) error {
		now := c.clock.Now()
		e := AuditEntry{At: now, Actor: actor, Role: role, Action: ManagerAction{Type: typ}, Detail: detail}
		u.Append(store.Record{Stream: AuditStream, Type: typ, At: now, Data: wire.Marshal(e)})
		return nil
	})
}
