package ctl

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// This file holds what the web layer (hallctl/web) needs beyond Issue,
// Act, Manage, Rate and View: the manager audit log and read helpers for finished tickets.

// AuditStream is the log stream of manager actions (who did what).
const AuditStream = "audit"

// AuditEntry is one manager action as the audit log keeps it.
type AuditEntry struct {
	At     time.Time     `json:"at"`
	Actor  string        `json:"actor"` // token subject (staff id), or the role
	Role   string        `json:"role"`
	Action ManagerAction `json:"action"`
	Events int           `json:"events"`
	Detail string        `json:"detail,omitempty"` // what a non-queue action set (a notice, a booking)
	Text   *ActionText   `json:"text,omitempty"`   // issue 11: the action in people's words (describe.go)
}

// ManageAudited applies a manager action and records who did it, in one
// unit: the queue events and the audit entry are durable together.
func (c *Controller) ManageAudited(ctx context.Context, a ManagerAction, actor, role string) (evs []queue.Event, err error) {
	uerr := c.inUnit(ctx, func(u *unit) error {
		text := DescribeAction(c.cfg, c.desk.Engine(), a) // before: what the action adds, the numbers it moves
		evs, err = c.manage(u, a)
		if err != nil {
			return nil
		}
		e := AuditEntry{At: c.clock.Now(), Actor: actor, Role: role, Action: a, Events: len(evs), Text: &text}
		u.Append(store.Record{Stream: AuditStream, Type: a.Type, At: e.At, Data: wire.Marshal(e)})
		return nil
	})
	if uerr != nil {
		return nil, uerr
	}
	if err != nil {
		return nil, err
	}
	return evs, nil
}

// Audit returns the newest manager actions, newest first (at most limit).
func (c *Controller) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	var all []AuditEntry
	err := c.store.Read(ctx, AuditStream, 0, func(r store.Record) error {
		var e AuditEntry
		if err := json.Unmarshal(r.Data, &e); err == nil {
			all = append(all, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]AuditEntry, 0, min(limit, len(all)))
	for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, all[i])
	}
	return out, nil
}

// Rated reports whether a ticket has been rated.
func (c *Controller) Rated(ticket int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.desk.rated[ticket]
}

// FindTicket finds today's newest ticket with the printed number, live or
// finished (the engine's TicketByNumber sees live tickets only).
func (c *Controller) FindTicket(number string) (queue.TicketView, bool) {
	number = strings.ToUpper(strings.TrimSpace(number))
	var out queue.TicketView
	var found bool
	c.View(func(e *queue.Engine) {
		if t, ok := e.TicketByNumber(number); ok {
			out, found = t, true
			return
		}
		day := c.clock.Now().In(c.cfg.Loc).Format("2006-01-02")
		for id := int64(e.TicketCount()); id >= 1; id-- {
			t, ok := e.Ticket(id)
			if !ok {
				continue
			}
			if t.IssuedAt.In(c.cfg.Loc).Format("2006-01-02") != day {
				return
			}
			if t.Number == number {
				out, found = t, true
				return
			}
		}
	})
	return out, found
}
