package ctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/servicehall/servicehall/hallctl/bus"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/wire"
)

// Offline numbering (docs/mqtt.md, "Leases"). The controller keeps every
// online dispenser that announces the "lease" capability holding a lease — a block of its item's numbers for the
// day — so a press while the controller or broker is unreachable prints a
// ticket at once. A lease is an engine event (queue.EvLeased) recorded in
// the same unit of work that dispatches cmd/lease. A press that carries a
// leased number (wire.Press.Ticket) enters the ticket by its print time
// and prints nothing: the dispenser already printed it.

// leaseCheckEvery is how often leases are checked without a trigger
// (expiry, the day's end, a lost cmd/lease).
const leaseCheckEvery = 30 * time.Second

// leaseKeep is the ttl of cmd/lease: long enough for the bus's re-sends.
const leaseKeep = 10 * time.Minute

// leaser is the controller's memory of the cmd/lease it sent; the leases
// themselves are in the engine (and so in the log).
type leaser struct {
	wake    chan struct{}
	mu      sync.Mutex
	sent    map[string]leaseSent // holder + "\x00" + item
	waiting map[string]leaseCmd  // cmd/lease id → what it delivers
}

type leaseCmd struct {
	key  string
	from int
}

type leaseSent struct {
	from    int
	state   string // sending, done, refused
	refused string // the agent's code when refused
}

func newLeaser() *leaser {
	return &leaser{wake: make(chan struct{}, 1), sent: map[string]leaseSent{}, waiting: map[string]leaseCmd{}}
}

// kick asks the lease loop to check now; it never blocks.
func (l *leaser) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// forget drops what is known of the holder's deliveries (its agent
// re-announced itself: a refusal may be over, a lease may have been lost).
func (l *leaser) forget(holder string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, s := range l.sent {
		if len(k) > len(holder) && k[:len(holder)] == holder && k[len(holder)] == 0 && s.state != "sending" {
			delete(l.sent, k)
		}
	}
}

// runLeases checks leases when kicked and every leaseCheckEvery.
func (c *Controller) runLeases(ctx context.Context) {
	t := c.clock.NewTicker(leaseCheckEvery)
	defer t.Stop()
	for {
		c.ensureLeases(ctx)
		select {
		case <-ctx.Done():
			return
		case <-c.leases.wake:
		case <-t.Chan():
		}
	}
}

// ensureLeases grants or re-sends a lease to every online dispenser that
// needs one.
func (c *Controller) ensureLeases(ctx context.Context) {
	if c.cfg.Leases.Off {
		return
	}
	for _, t := range c.bus.Find(func(_ string, d wire.DeviceInfo) bool {
		return d.Kind == wire.KindButton && d.Item != "" && slices.Contains(d.Caps, wire.CapLease)
	}) {
		if !t.Online || (t.Status.State != "" && t.Status.State != wire.StateOnline) ||
			!c.cfg.Leases.On(t.Agent, t.Device.ID) || c.cfg.Item(t.Device.Item) == nil {
			continue
		}
		if err := c.ensureLease(ctx, t); err != nil && ctx.Err() == nil {
			c.log.Error("lease", "agent", t.Agent, "device", t.Device.ID, "item", t.Device.Item, "err", err)
		}
	}
}

// ensureLease makes sure one dispenser holds a usable lease of its item:
// it grants a new block when the newest is missing, expired or running
// low, and (re-)sends the newest when this controller has not seen it
// acknowledged.
func (c *Controller) ensureLease(ctx context.Context, t bus.Target) (err error) {
	holder, item := t.Agent+"/"+t.Device.ID, t.Device.Item
	key := holder + "\x00" + item
	c.leases.mu.Lock()
	sent := c.leases.sent[key]
	c.leases.mu.Unlock()
	if sent.state == "sending" || sent.state == "refused" {
		return nil
	}
	return c.inUnit(ctx, func(u *unit) error {
		now := c.clock.Now()
		eng := c.desk.Engine()
		var newest *queue.LeaseView
		for _, l := range eng.Leases(holder) {
			if l.Item == item {
				newest = &l
			}
		}
		var ev queue.Event
		if newest == nil || !newest.Expires.After(now) || newest.Left() < c.cfg.Leases.RefillBelow {
			var err error
			ev, err = c.desk.Lease(u, now, item, c.cfg.Leases.Block, c.leaseExpiry(now), holder)
			if err != nil {
				return err
			}
			newest = &queue.LeaseView{Item: item, Prefix: c.cfg.Item(item).Prefix, Day: ev.Day, From: ev.From,
				To: ev.To, Expires: ev.Expires, Holder: holder}
		}
		if ev.Type != "" {
			c.publishQueue(u, []queue.Event{ev})
			c.log.Info("lease granted", "holder", holder, "item", item, "from", ev.From, "to", ev.To, "expires", ev.Expires)
		} else if sent.state == "done" && sent.from == newest.From {
			return nil // held, acknowledged and still good
		}
		it := c.cfg.Item(item)
		args := wire.Lease{Item: item, From: newest.From, To: newest.To, Expires: wire.At(newest.Expires),
			Prefix: it.Prefix, Hall: c.cfg.Hall.Name, ItemName: it.Name, TZ: c.cfg.Hall.Timezone}
		tk, err := c.bus.Dispatch(u, t.Agent, t.Device.ID, wire.CmdLease, args, leaseKeep)
		if err != nil {
			return fmt.Errorf("send lease: %w", err)
		}
		c.leases.mu.Lock()
		c.leases.sent[key] = leaseSent{from: newest.From, state: "sending"}
		c.leases.waiting[tk.ID] = leaseCmd{key: key, from: newest.From}
		c.leases.mu.Unlock()
		return nil
	})
}

// leaseOutcome records the outcome of a cmd/lease (the bus tells every
// command's outcome; see onCommandOutcome). A lost or failed one is sent
// again by the next check; a refused one (the dispenser has offline
// numbering off) is not, until its agent announces itself again.
func (c *Controller) leaseOutcome(id string, ack wire.AckMsg, err error) {
	c.leases.mu.Lock()
	lc, ok := c.leases.waiting[id]
	delete(c.leases.waiting, id)
	c.leases.mu.Unlock()
	if !ok {
		return
	}
	key := lc.key
	s := leaseSent{from: lc.from}
	switch {
	case err == nil && ack.Status == wire.AckDone:
		s.state = "done"
	case err == nil && ack.Status == wire.AckRejected:
		s.state, s.refused = "refused", ack.Code
		c.log.Warn("lease refused by the dispenser", "key", key, "code", ack.Code, "error", ack.Error)
	}
	c.leases.mu.Lock()
	if s.state == "" {
		delete(c.leases.sent, key)
	} else {
		c.leases.sent[key] = s
	}
	c.leases.mu.Unlock()
	c.leases.kick()
}

// leaseExpiry is the end of a lease granted at now: the end of the local
// day, or sooner with leases.lifetime_s.
func (c *Controller) leaseExpiry(now time.Time) time.Time {
	l := now.In(c.cfg.Loc)
	end := time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, c.cfg.Loc)
	if s := c.cfg.Leases.LifetimeS; s > 0 {
		if t := now.Add(time.Duration(s) * time.Second); t.Before(end) {
			return t
		}
	}
	return end
}

// onLeasedPress enters a ticket a dispenser printed from its lease. The
// envelope's ts is the print time. Nothing is printed.
func (c *Controller) onLeasedPress(u *unit, ev bus.Event, p wire.Press) error {
	holder := ev.Agent + "/" + ev.Device.ID
	t, qev, err := c.desk.IssueLeased(u, c.clock.Now(), IssueRequest{Item: p.Item, Source: ev.Msg.ID}, p.Ticket, ev.Msg.TS.Time)
	if err != nil {
		if errors.Is(err, queue.ErrNotLeased) || errors.Is(err, queue.ErrLeaseUsed) {
			// The applicant holds a ticket the queue does not: staff must
			// see it (hall log), and the device event is dropped.
			c.log.Error("offline ticket refused", "holder", holder, "item", p.Item, "number", p.Ticket,
				"printed", ev.Msg.TS.Time, "code", queue.Code(err), "err", err)
		}
		return err
	}
	if t.Duplicate {
		return nil
	}
	c.metrics.tickets.WithLabelValues(c.metrics.items.value(t.Item)).Inc()
	c.publishQueue(u, []queue.Event{qev})
	c.log.Info("offline ticket entered", "holder", holder, "number", t.Number, "printed", t.IssuedAt)
	c.leases.kick() // it may be running low
	return nil
}

// Lease reserves a block of numbers for a dispenser and records it.
func (d *Desk) Lease(u *unit, now time.Time, item string, n int, expires time.Time, holder string) (queue.Event, error) {
	ev, err := d.eng.Lease(now, item, n, expires, holder)
	if err != nil {
		return queue.Event{}, err
	}
	return ev, d.record(u, "", ev)
}

// IssueLeased enters a ticket printed offline with a leased number; a
// redelivered source returns the ticket it issued (Duplicate).
func (d *Desk) IssueLeased(u *unit, now time.Time, req IssueRequest, number string, printed time.Time) (Issued, queue.Event, error) {
	it := d.cfg.Item(req.Item)
	if it == nil {
		return Issued{}, queue.Event{}, fmt.Errorf("item %q: %w", req.Item, queue.ErrUnknownItem)
	}
	if id, ok := d.sources[req.Source]; ok && req.Source != "" {
		out, err := d.issued(id, now)
		out.Duplicate = true
		return out, queue.Event{}, err
	}
	ev, err := d.eng.IssueLeased(now, queue.IssueReq{Item: req.Item}, number, printed)
	if err != nil {
		return Issued{}, queue.Event{}, err
	}
	if err := d.record(u, req.Source, ev); err != nil {
		return Issued{}, queue.Event{}, err
	}
	out := Issued{ID: ev.Ticket, Number: ev.Number, Item: ev.Item, ItemName: it.Name, Class: ev.Class.String(),
		Ahead: ev.Ahead, IssuedAt: ev.Printed, P50: secs(ev.EstP50S), P90: secs(ev.EstP90S)}
	out.P50S, out.P90S = etaS(ev.EstP50S), etaS(ev.EstP90S)
	return out, ev, nil
}
