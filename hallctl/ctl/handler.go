package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/servicehall/servicehall/hallctl/bus"
	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/wire"
)

// HandleEvent implements bus.Handler: device events become hall actions,
// inside the bus's unit of work (the controller's lock is held).
func (c *Controller) HandleEvent(ctx context.Context, tx bus.Tx, ev bus.Event) error {
	u, ok := tx.(*unit)
	if !ok {
		return fmt.Errorf("ctl: event handled outside a controller unit")
	}
	switch ev.Type {
	case wire.EvtPress:
		var p wire.Press
		if err := wire.DecodeArgs(ev.Msg.Data, &p); err != nil {
			return err
		}
		return c.onPress(u, ev, p)
	case wire.EvtKey:
		var k wire.Key
		if err := wire.DecodeArgs(ev.Msg.Data, &k); err != nil {
			return err
		}
		if ev.Device.Window == 0 {
			return fmt.Errorf("%w: keypad %s/%s has no window in its info", wire.ErrInvalid, ev.Agent, ev.Device.ID)
		}
		_, err := c.act(ctx, u, ActRequest{Window: ev.Device.Window, Action: k.Action, Arg: k.Arg, Source: ev.Msg.ID})
		return err
	case wire.EvtRating:
		var r wire.Rating
		if err := wire.DecodeArgs(ev.Msg.Data, &r); err != nil {
			return err
		}
		return c.onRating(u, ev, r)
	case wire.EvtCard:
		var cd wire.Card
		if err := wire.DecodeArgs(ev.Msg.Data, &cd); err != nil {
			return err
		}
		if err := c.checkRaw(ev.Device.Window, cd); err != nil {
			return err
		}
		if ev.Device.Window != 0 {
			c.onWindowCard(u, ev.Device.Window, cd)
			return nil
		}
		c.OnCard(ev.Agent, ev.Device.ID, cd)
		return nil
	case wire.EvtScan:
		// Recorded for the case connector and the web apps (their issues);
		// the foundation logs them without personal data.
		c.log.Info("device event", "type", ev.Type, "agent", ev.Agent, "device", ev.Device.ID, "id", ev.Msg.ID)
		return nil
	}
	return fmt.Errorf("%w: unknown event type %q", wire.ErrInvalid, ev.Type)
}

func (c *Controller) onPress(u *unit, ev bus.Event, p wire.Press) error {
	if p.Ticket != "" {
		return c.onLeasedPress(u, ev, p) // printed offline from a lease (lease.go)
	}
	if err := c.allowPress(ev); err != nil {
		return err
	}
	printer, ok := c.printerFor(ev.Agent, ev.Device)
	if !ok {
		return fmt.Errorf("button %s/%s: no printer on its agent", ev.Agent, ev.Device.ID)
	}
	_, _, err := c.issue(u, IssueRequest{Item: p.Item, Source: ev.Msg.ID}, printer.Agent, printer.Device.ID)
	return err
}

// ticketFields fills a ticket's print fields.
func (c *Controller) ticketFields(t Issued) wire.PrintFields {
	return wire.PrintFields{
		Hall: c.cfg.Hall.Name, Number: t.Number, Item: t.ItemName, WindowHint: t.WindowHint,
		Ahead: t.Ahead, EtaP50S: t.P50S, EtaP90S: t.P90S,
		IssuedAt: t.IssuedAt.In(c.cfg.Loc).Format("2006-01-02 15:04"),
		QR:       c.TicketURL(t.ID, t.Number, t.IssuedAt),
		Check:    c.TicketCode(t.ID, t.Number, t.IssuedAt),
	}
}

// printerFor picks the printer a button names, or the first printer of the
// button's agent.
func (c *Controller) printerFor(agent string, btn wire.DeviceInfo) (bus.Target, bool) {
	return c.PrinterOf(agent, btn.Printer)
}

// PrinterOf is where a ticket taken at agent prints: the printer named (a
// button's `printer:`), else the agent's first printer that is online and
// not faulty, else its first printer (the print then fails and the ticket
// is offered a reprint). Buttons and kiosks share this rule.
func (c *Controller) PrinterOf(agent, named string) (bus.Target, bool) {
	ps := c.bus.Find(func(a string, d wire.DeviceInfo) bool {
		return a == agent && d.Kind == wire.KindPrinter && (named == "" || d.ID == named)
	})
	if len(ps) == 0 {
		return bus.Target{}, false
	}
	for _, p := range ps {
		if p.Online && p.Status.State != "fault" && p.Status.State != "offline" {
			return p, true
		}
	}
	return ps[0], true
}

func (c *Controller) ttl() time.Duration {
	return time.Duration(c.cfg.Server.CommandTTLS) * time.Second
}

// Act performs a window action and drives the window's displays and the
// zone's speakers. The web console and the keypad both come through here.
func (c *Controller) Act(ctx context.Context, req ActRequest) (res ActResult, err error) {
	uerr := c.inUnit(ctx, func(u *unit) error {
		res, err = c.act(ctx, u, req)
		return nil
	})
	if uerr != nil {
		return res, uerr
	}
	return res, err
}

func (c *Controller) act(ctx context.Context, u *unit, req ActRequest) (ActResult, error) {
	if c.cfg.Window(req.Window) != nil { // no sign-in at a window that does not exist
		c.signIn(u, req.Window, req.Clerk)
	}
	res, err := c.desk.Act(u, c.clock.Now(), req)
	for _, a := range c.acceptances(res.Events, req.Window) {
		c.accept(ctx, u, a)
	}
	c.metrics.actions.WithLabelValues(knownAction(req.Action), c.metrics.codes.value(Code(err))).Inc()
	c.publishQueue(u, res.Events)
	for _, ev := range res.Events {
		if ev.Type == queue.EvFinished {
			c.openRating(u, req.Window, ev.Ticket, ev.Number)
		}
	}
	if err != nil {
		return res, err
	}
	if res.Called != nil {
		c.announce(ctx, u, *res.Called)
	}
	return res, nil
}

// Manage applies a manager action (recorded in the queue log like every
// change; ManageAudited also records who did it).
func (c *Controller) Manage(ctx context.Context, a ManagerAction) (evs []queue.Event, err error) {
	uerr := c.inUnit(ctx, func(u *unit) error {
		evs, err = c.manage(u, a)
		return nil
	})
	if uerr != nil {
		return nil, uerr
	}
	return evs, err
}

func (c *Controller) manage(u *unit, a ManagerAction) ([]queue.Event, error) {
	evs, err := c.desk.Manage(u, c.clock.Now(), a)
	if err != nil {
		return nil, err
	}
	c.publishQueue(u, evs)
	return evs, nil
}

// View runs f with the engine under the controller's lock: f must only
// read (views, estimates, Clone for a what-if preview). Never call it from
// inside a unit.
func (c *Controller) View(f func(e *queue.Engine)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c.desk.Engine())
}

// Snapshot is the live hall as the engine sees it now.
func (c *Controller) Snapshot() queue.Snapshot {
	var s queue.Snapshot
	c.View(func(e *queue.Engine) { s = e.Snapshot(c.clock.Now()) })
	return s
}

// SnapshotN is Snapshot with at most maxWaiting waiting tickets listed
// (queue.Engine.SnapshotN), and how many wait in all.
func (c *Controller) SnapshotN(maxWaiting int) (s queue.Snapshot, total int) {
	c.View(func(e *queue.Engine) { s, total = e.SnapshotN(c.clock.Now(), maxWaiting) })
	return s, total
}

// Config is the hall config the controller runs.
func (c *Controller) Config() *config.Config { return c.cfg }

// Now is the controller's clock.
func (c *Controller) Now() time.Time { return c.clock.Now() }

// publishQueue sends queue events to feed subscribers once the unit that
// recorded them commits.
func (c *Controller) publishQueue(u *unit, evs []queue.Event) {
	if len(evs) == 0 {
		return
	}
	evs = append([]queue.Event(nil), evs...)
	u.After(func() {
		c.lim.version.Add(1)
		for _, ev := range evs {
			c.feed.publish(HallEvent{Kind: "queue", Type: string(ev.Type), At: ev.At, Queue: &ev})
		}
	})
}

// announce shows the call on the window's LEDs and speaks it in its zone.
func (c *Controller) announce(ctx context.Context, u *unit, call Call) {
	lines := []string{call.Number, fmt.Sprintf("请到%d号窗口", call.Window)}
	for _, led := range c.bus.Find(func(_ string, d wire.DeviceInfo) bool {
		return d.Kind == wire.KindLED && d.Window == call.Window
	}) {
		if err := c.setDisplay(ctx, u, led.Agent, led.Device.ID, lines, 5); err != nil {
			c.log.Error("update window display", "agent", led.Agent, "device", led.Device.ID, "err", err)
		}
	}
	for _, spk := range c.bus.Find(func(_ string, d wire.DeviceInfo) bool {
		return d.Kind == wire.KindSpeaker && (d.Zone == call.Zone || call.Zone == "")
	}) {
		// In the speaker's zone's languages, in order (announce.go).
		sp := Announcement(c.cfg.Announce, spk.Device.Zone, call.Number, call.Window)
		if _, err := c.bus.Dispatch(u, spk.Agent, spk.Device.ID, wire.CmdSpeak, sp, 2*time.Minute); err != nil {
			c.log.Error("announce", "agent", spk.Agent, "device", spk.Device.ID, "err", err)
		}
	}
}

const displayBucket = "display"

type displayDoc struct {
	Agent  string          `json:"agent"`
	Device string          `json:"device"`
	Doc    wire.DesiredMsg `json:"doc"`
}

// setDisplay publishes a display's next desired document (retained) and
// keeps it, so a restarted controller (or broker) re-publishes it.
func (c *Controller) setDisplay(ctx context.Context, u *unit, agent, dev string, lines []string, blink float64) error {
	key := agent + "/" + dev
	var prev displayDoc
	if b, ok, err := c.get(ctx, u, displayBucket, key); err != nil {
		return err
	} else if ok {
		_ = json.Unmarshal(b, &prev)
	}
	// Versions rise across restarts and never collide with a stale doc:
	// the next of (stored + 1) and the clock in milliseconds. Published
	// after the unit commits, like commands.
	v := prev.Doc.Version + 1
	if ms := uint64(c.clock.Now().UnixMilli()); ms > v {
		v = ms
	}
	d := displayDoc{Agent: agent, Device: dev, Doc: wire.DesiredMsg{Version: v, Lines: lines, BlinkS: blink}}
	u.Put(displayBucket, key, wire.Marshal(d))
	u.After(func() { _ = c.bus.PublishDesired(agent, dev, d.Doc) })
	return nil
}

func (c *Controller) republishDisplays(ctx context.Context) {
	kvs, err := c.store.List(ctx, displayBucket)
	if err != nil {
		c.log.Error("list display documents", "err", err)
		return
	}
	var docs []displayDoc
	for _, kv := range kvs {
		var d displayDoc
		if err := json.Unmarshal(kv.Val, &d); err == nil {
			docs = append(docs, d)
		}
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].Agent+docs[i].Device < docs[j].Agent+docs[j].Device })
	for _, d := range docs {
		_ = c.bus.PublishDesired(d.Agent, d.Device, d.Doc)
	}
}

// Issue takes a ticket through the desk and prints it on the named printer
// (the kiosk API uses it; printer may be empty for screen-only tickets).
// With a printer it waits (at most Options.PrintWait) for the printer's
// answer: t.Print says whether the ticket is printed, failed (with the
// printer's code) or still pending. "Printed" is only ever the printer's
// own "done".
func (c *Controller) Issue(ctx context.Context, req IssueRequest, printerAgent, printer string) (t Issued, err error) {
	var tk bus.Ticket
	uerr := c.inUnit(ctx, func(u *unit) error {
		t, tk, err = c.issue(u, req, printerAgent, printer)
		return nil
	})
	if uerr != nil {
		return Issued{}, uerr
	}
	if err != nil {
		return t, err
	}
	if tk.Valid() {
		t.Print, t.PrintCode = c.waitPrint(ctx, tk)
	}
	return t, nil
}

// issue takes a ticket inside u and dispatches its print.
func (c *Controller) issue(u *unit, req IssueRequest, printerAgent, printer string) (Issued, bus.Ticket, error) {
	if err := c.checkIssue(req); err != nil {
		return Issued{}, bus.Ticket{}, err
	}
	t, err := c.desk.Issue(u, c.clock.Now(), req)
	if err != nil {
		return t, bus.Ticket{}, err
	}
	c.countIssued(t)
	if t.Duplicate {
		return t, bus.Ticket{}, nil
	}
	ev := queue.Event{Type: queue.EvIssued, At: t.IssuedAt, Ticket: t.ID, Number: t.Number, Item: t.Item, Ahead: t.Ahead,
		EstP50S: float64(t.P50S), EstP90S: float64(t.P90S)}
	if req.Card != nil {
		c.recordIdentity(u, casesys.Identity{Ticket: t.ID, IDHash: req.Card.IDHash, MaskedID: req.Card.MaskedID,
			MaskedName: req.Card.MaskedName, BirthYear: req.Card.BirthYear})
	}
	c.metrics.tickets.WithLabelValues(c.metrics.items.value(t.Item)).Inc()
	c.publishQueue(u, []queue.Event{ev})
	if printer == "" {
		return t, bus.Ticket{}, nil
	}
	tk, err := c.dispatchTicketPrint(u, t, printerAgent, printer)
	if err != nil {
		return t, bus.Ticket{}, err
	}
	t.Print = PrintPending
	return t, tk, nil
}
