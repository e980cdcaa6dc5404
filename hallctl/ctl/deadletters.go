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

// ErrNoOutbox: the hall has no case-system webhook.
var ErrNoOutbox = errors.New("no case-system webhook is configured")

// DeadLetters lists the dead letters in log order.
func (c *Controller) DeadLetters(ctx context.Context) ([]casesys.Entry, error) {
	ob := c.Outbox()
	if ob == nil {
		return nil, ErrNoOutbox
	}
	return ob.DeadLetters(ctx)
}

// DeadLetter returns one dead letter (casesys.ErrNoDeadLetter if none).
func (c *Controller) DeadLetter(ctx context.Context, key string) (casesys.Entry, error) {
	ob := c.Outbox()
	if ob == nil {
		return casesys.Entry{}, ErrNoOutbox
	}
	return ob.DeadLetter(ctx, key)
}

// ReplayDeadLetters puts the dead letter key ("" = every one) back in the
// outbox with its attempts reset, ahead of its case's later events, and
// records who did it. It returns how many went back.
func (c *Controller) ReplayDeadLetters(ctx context.Context, key, actor, role string) (int, error) {
	ob := c.Outbox()
	if ob == nil {
		return 0, ErrNoOutbox
	}
	n, err := ob.Replay(ctx, key)
	if err != nil || n == 0 {
		return n, err
	}
	detail := fmt.Sprintf("%d case event(s) back in the outbox", n)
	if key != "" {
		detail = "case event " + key + " back in the outbox"
	}
	return n, c.auditOnly(ctx, "replay_dead_letter", detail, actor, role)
}

// DiscardDeadLetter drops a dead letter for good (the case's later events
// then go on) and records who did it and why; a reason is required.
func (c *Controller) DiscardDeadLetter(ctx context.Context, key, reason, actor, role string) (casesys.Entry, error) {
	ob := c.Outbox()
	if ob == nil {
		return casesys.Entry{}, ErrNoOutbox
	}
	if reason == "" {
		return casesys.Entry{}, ErrDiscardReason
	}
	e, err := ob.Discard(ctx, key)
	if err != nil {
		return e, err
	}
	detail := fmt.Sprintf("case event %s (%s, case %s) discarded: %s", e.Key, e.Event.Type, e.Event.Case, reason)
	return e, c.auditOnly(ctx, "discard_dead_letter", detail, actor, role)
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
