package ctl

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// This file holds what the web layer (hallctl/web) needs beyond Issue,
// Act, Manage, Rate and View: the manager audit log, ID-card events for
// kiosks, and read helpers for finished tickets.

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
}

// ManageAudited applies a manager action and records who did it, in one
// unit: the queue events and the audit entry are durable together.
func (c *Controller) ManageAudited(ctx context.Context, a ManagerAction, actor, role string) (evs []queue.Event, err error) {
	uerr := c.inUnit(ctx, func(u *unit) error {
		evs, err = c.manage(u, a)
		if err != nil {
			return nil
		}
		e := AuditEntry{At: c.clock.Now(), Actor: actor, Role: role, Action: a, Events: len(evs)}
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

// CardEvent is an ID card read on a kiosk's reader, as the web layer gets
// it: masked fields and the keyed hash only (never the raw number).
type CardEvent struct {
	Agent      string    `json:"agent"`
	Device     string    `json:"device"`
	At         time.Time `json:"at"`
	IDHash     string    `json:"-"`
	MaskedID   string    `json:"masked_id"`
	MaskedName string    `json:"masked_name"`
	BirthYear  int       `json:"birth_year"`
}

// cardTTL is how long an ID card read stays usable on its kiosk.
const cardTTL = 60 * time.Second

// cardHub holds the last ID card read per kiosk (for the next ticket it
// issues) and fans card reads out to listeners. Card reads are moments,
// not history: they are never logged (a reader re-reads after a restart).
type cardHub struct {
	mu     sync.Mutex
	last   map[string]CardEvent // agent → its last read
	subs   map[chan CardEvent]string
	closed bool
}

func newCardHub() *cardHub {
	return &cardHub{last: map[string]CardEvent{}, subs: map[chan CardEvent]string{}}
}

// close forgets every card and listener (the controller ended).
func (h *cardHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	clear(h.last)
	clear(h.subs)
}

// SubscribeCards receives ID-card reads of every kiosk (buffered, dropped
// when full); call the returned func to stop.
func (c *Controller) SubscribeCards(n int) (<-chan CardEvent, func()) {
	return c.CardsOf("", n)
}

// CardsOf receives the ID-card reads of one kiosk agent ("" = all),
// buffered and dropped when full; call the returned func to stop.
func (c *Controller) CardsOf(agent string, n int) (<-chan CardEvent, func()) {
	ch := make(chan CardEvent, max(n, 1))
	h := c.cardHub
	h.mu.Lock()
	if !h.closed {
		h.subs[ch] = agent
	}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// TakeCard uses (and forgets) the card last read on the agent's reader,
// if it was read within the last minute.
func (c *Controller) TakeCard(agent string) (CardEvent, bool) {
	h := c.cardHub
	h.mu.Lock()
	defer h.mu.Unlock()
	ce, ok := h.last[agent]
	if !ok || c.clock.Now().Sub(ce.At) > cardTTL {
		return CardEvent{}, false
	}
	delete(h.last, agent)
	return ce, true
}

// OnCard hands an ID-card read to the kiosk's next ticket and its
// listeners. HandleEvent's EvtCard case calls it; the raw record
// (card.Raw) is dropped here.
func (c *Controller) OnCard(agent, device string, card wire.Card) {
	ev := CardEvent{Agent: agent, Device: device, At: c.clock.Now(), IDHash: card.IDHash,
		MaskedID: card.MaskedID, MaskedName: card.MaskedName, BirthYear: card.BirthYear}
	h := c.cardHub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.last[agent] = ev
	for ch, a := range h.subs {
		if a != "" && a != agent {
			continue
		}
		select {
		case ch <- ev:
		default:
		}
	}
}
