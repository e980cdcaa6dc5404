package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/servicehall/servicehall/hallctl/bus"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// A ticket's print is a fact only when the printer says so. Every ticket
// print is recorded when it is dispatched and again when the printer
// answers (or never does), in the "print" stream; a ticket whose last
// print failed or expired is "unprinted": the kiosk offers a reprint and
// the manager sees an alert until it is reprinted or served.

// PrintStream is the log stream of ticket prints and their outcomes.
const PrintStream = "print"

// Print outcomes (Issued.Print, PrintRecord.Status).
const (
	PrintPending = "pending"
	PrintPrinted = "printed"
	PrintFailed  = "failed"
)

// PrintRecord is one ticket print as the log keeps it.
type PrintRecord struct {
	Cmd    string    `json:"cmd"` // the print command's id
	Ticket int64     `json:"ticket"`
	Number string    `json:"number"`
	Agent  string    `json:"agent"`
	Device string    `json:"device"`
	Status string    `json:"status"`         // pending (dispatched) | printed | failed
	Code   string    `json:"code,omitempty"` // the printer's code (paper_out), or expired / no_ack
	At     time.Time `json:"at"`
}

// ErrNotUnprinted is returned when a reprint is asked for a ticket that is
// not waiting, or is already printed.
var ErrNotReprintable = errors.New("ticket is not waiting or is already printed")

// ErrNoPrinter is returned when no online printer can take a reprint.
var ErrNoPrinter = errors.New("no online printer")

// printState is what the controller knows of ticket prints (rebuilt from
// the print stream at start; guarded by c.mu).
type printState struct {
	inflight  map[string]PrintRecord // command id → its dispatch record
	unprinted map[int64]PrintRecord  // ticket → its last failed print
	printed   map[int64]bool         // tickets with a done print
}

func newPrintState() *printState {
	return &printState{inflight: map[string]PrintRecord{}, unprinted: map[int64]PrintRecord{}, printed: map[int64]bool{}}
}

func (p *printState) apply(r PrintRecord) {
	switch r.Status {
	case PrintPending:
		p.inflight[r.Cmd] = r
	case PrintPrinted:
		delete(p.inflight, r.Cmd)
		delete(p.unprinted, r.Ticket)
		p.printed[r.Ticket] = true
	case PrintFailed:
		delete(p.inflight, r.Cmd)
		if !p.printed[r.Ticket] {
			p.unprinted[r.Ticket] = r
		}
	}
}

// loadPrints rebuilds the print state from today's part of the log.
func (c *Controller) loadPrints(ctx context.Context) error {
	from, err := c.restorePrints(ctx)
	if err != nil {
		return err
	}
	return c.store.Read(ctx, PrintStream, from, func(r store.Record) error {
		var pr PrintRecord
		if err := json.Unmarshal(r.Data, &pr); err != nil {
			return fmt.Errorf("print log seq %d: %w", r.Seq, err)
		}
		c.prints.apply(pr)
		return nil
	})
}

func printRecord(pr PrintRecord) store.Record {
	key := ""
	if pr.Status != PrintPending {
		key = pr.Cmd // one outcome per command
	}
	return store.Record{Stream: PrintStream, Type: pr.Status, Key: key, At: pr.At, Data: wire.Marshal(pr)}
}

// dispatchTicketPrint sends a ticket's print in u and records it.
func (c *Controller) dispatchTicketPrint(u *unit, t Issued, agent, dev string) (bus.Ticket, error) {
	args := wire.Print{Template: wire.TemplateTicket, Fields: c.ticketFields(t)}
	tk, err := c.bus.Dispatch(u, agent, dev, wire.CmdPrint, args, c.ttl())
	if err != nil {
		return bus.Ticket{}, err
	}
	pr := PrintRecord{Cmd: tk.ID, Ticket: t.ID, Number: t.Number, Agent: agent, Device: dev, Status: PrintPending, At: c.clock.Now()}
	u.Append(printRecord(pr))
	c.prints.apply(pr)
	return tk, nil
}

// waitPrint waits for a print's outcome, at most Options.PrintWait, and
// records it before returning, so that what the caller says next (the
// kiosk's "printed", the manager's alerts) agrees with the log.
func (c *Controller) waitPrint(ctx context.Context, tk bus.Ticket) (status, code string) {
	wctx, cancel := context.WithTimeout(ctx, c.o.PrintWait)
	defer cancel()
	ack, err := c.bus.Wait(wctx, tk)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return PrintPending, ""
	}
	c.onCommandOutcome(context.WithoutCancel(ctx), tk.ID, ack, err)
	// The bus may have reported the same outcome first, its unit not yet
	// durable: wait for it, so the answer is what the log holds.
	c.barrier(ctx)
	switch {
	case err == nil && ack.Status == wire.AckDone:
		return PrintPrinted, ""
	case ack.Code != "":
		return PrintFailed, ack.Code
	case err != nil:
		return PrintFailed, "no_answer"
	default:
		return PrintFailed, ack.Status
	}
}

// onCommandOutcome records how a ticket print ended (the bus tells every
// command's outcome; prints of tickets are the ones the hall must know).
func (c *Controller) onCommandOutcome(ctx context.Context, id string, ack wire.AckMsg, err error) {
	if c.leases != nil {
		c.leaseOutcome(id, ack, err)
	}
	c.mu.Lock()
	pr, ok := c.prints.inflight[id]
	c.mu.Unlock()
	if !ok {
		if err == nil && ack.Status == wire.AckDone {
			c.latePrinted(ctx, id)
		}
		return
	}
	pr.At = c.clock.Now()
	pr.Status, pr.Code = PrintFailed, ack.Code
	switch {
	case err == nil && ack.Status == wire.AckDone:
		pr.Status, pr.Code = PrintPrinted, ""
	case err != nil && pr.Code == "":
		pr.Code = "no_answer"
	case pr.Code == "":
		pr.Code = ack.Status
	}
	uerr := c.inUnit(ctx, func(u *unit) error {
		if _, still := c.prints.inflight[id]; !still {
			return nil // recorded by a concurrent outcome (QoS 1 duplicate)
		}
		u.Append(printRecord(pr))
		c.prints.apply(pr)
		if pr.Status == PrintFailed {
			// Counted with the change in memory, so that whoever sees the
			// ticket unprinted also sees it counted (the bus and Issue may
			// both report the same outcome; only one records it).
			c.metrics.unprinted.Inc()
			u.After(func() {
				c.log.Warn("ticket not printed", "ticket", pr.Number, "agent", pr.Agent, "device", pr.Device, "code", pr.Code)
			})
		}
		return nil
	})
	_ = uerr // a failed commit is fatal and logged by inUnit
}

// latePrinted records a print the controller had given up on (no ack in
// time: the ticket was offered a reprint) that its printer then answered
// done: the applicant holds that ticket, so it is printed after all and
// leaves the manager's unprinted alerts.
func (c *Controller) latePrinted(ctx context.Context, id string) {
	find := func() (PrintRecord, bool) {
		for _, pr := range c.prints.unprinted {
			if pr.Cmd == id {
				return pr, true
			}
		}
		return PrintRecord{}, false
	}
	c.mu.Lock()
	_, ok := find()
	c.mu.Unlock()
	if !ok {
		return // reprinted or served since, or not a ticket print
	}
	uerr := c.inUnit(ctx, func(u *unit) error {
		pr, still := find()
		if !still {
			return nil
		}
		pr.Status, pr.Code, pr.At = PrintPrinted, "", c.clock.Now()
		rec := printRecord(pr)
		rec.Key = id + "/late" // the failed outcome holds the command's key
		u.Append(rec)
		c.prints.apply(pr)
		u.After(func() {
			c.log.Info("ticket printed after all: its printer answered late", "ticket", pr.Number, "agent", pr.Agent, "device", pr.Device)
		})
		return nil
	})
	_ = uerr // a failed commit is fatal and logged by inUnit
}

// PrintStatus is a ticket's print state: printed, failed (with the code
// of its last attempt), pending, or "" when it was never printed.
func (c *Controller) PrintStatus(ticket int64) (status, code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prints.printed[ticket] {
		return PrintPrinted, ""
	}
	if pr, ok := c.prints.unprinted[ticket]; ok {
		return PrintFailed, pr.Code
	}
	for _, pr := range c.prints.inflight {
		if pr.Ticket == ticket {
			return PrintPending, ""
		}
	}
	return "", ""
}

// Unprinted lists waiting tickets whose print failed (for the manager's
// alerts), oldest first.
func (c *Controller) Unprinted() []PrintRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []PrintRecord
	for id, pr := range c.prints.unprinted {
		if t, ok := c.desk.Engine().Ticket(id); ok && t.State == queue.Waiting {
			out = append(out, pr)
		}
	}
	sortPrints(out)
	return out
}

// Reprint prints a waiting ticket again, on the given printer or, when it
// is empty, on the first online printer of agent (a kiosk's second printer
// when its first is out of paper). It waits for the outcome like Issue.
func (c *Controller) Reprint(ctx context.Context, number, agent, printer string) (Issued, error) {
	var t Issued
	var tk bus.Ticket
	uerr := c.inUnit(ctx, func(u *unit) error {
		tv, ok := c.desk.Engine().TicketByNumber(number)
		if !ok {
			return queue.ErrUnknownTicket
		}
		if tv.State != queue.Waiting || c.prints.printed[tv.ID] {
			return ErrNotReprintable
		}
		if printer == "" {
			p, ok := c.onlinePrinter(agent, c.prints.unprinted[tv.ID].Device)
			if !ok {
				return ErrNoPrinter
			}
			agent, printer = p.Agent, p.Device.ID
		}
		var err error
		if t, err = c.desk.issued(tv.ID, c.clock.Now()); err != nil {
			return err
		}
		t.WindowHint, t.HintWindow = c.desk.windowHint(t.Item, c.clock.Now())
		tk, err = c.dispatchTicketPrint(u, t, agent, printer)
		return err
	})
	if uerr != nil {
		return t, uerr
	}
	t.Print, t.PrintCode = c.waitPrint(ctx, tk)
	return t, nil
}

// onlinePrinter picks agent's printer that is online and not faulty,
// preferring one other than avoid.
func (c *Controller) onlinePrinter(agent, avoid string) (bus.Target, bool) {
	ps := c.bus.Find(func(a string, d wire.DeviceInfo) bool { return a == agent && d.Kind == wire.KindPrinter })
	var fallback *bus.Target
	for i, p := range ps {
		if !p.Online || p.Status.State == "fault" || p.Status.State == "offline" {
			continue
		}
		if p.Device.ID != avoid {
			return p, true
		}
		fallback = &ps[i]
	}
	if fallback != nil {
		return *fallback, true
	}
	return bus.Target{}, false
}

func sortPrints(ps []PrintRecord) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Ticket < ps[j-1].Ticket; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}
