package ctl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/report"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// This file wires hallctl/casesys into the controller (docs/casesys.md):
// a case with a serial number at acceptance (the queue's "started"), the
// receipt on the window's printer, identity and clerk records, the webhook
// outbox, the inbound case API, the supervision monitor and reports.

// CheckConfig validates the sections the controller owns beyond the hall
// config's own (case_system, holidays), for config.Load and hallctl check.
func CheckConfig(c *config.Config) []config.Problem {
	_, _, ps := CaseConfig(c)
	return ps
}

// CaseConfig decodes the hall config's `case_system:` and `holidays:`
// sections and validates them; problems carry file, line and key.
func CaseConfig(cfg *config.Config) (casesys.Config, []casesys.Holiday, []config.Problem) {
	var cs casesys.Config
	var hs []casesys.Holiday
	ps := cfg.DecodeSection("case_system", &cfg.CaseSystem, &cs)
	ps = append(ps, cfg.DecodeSection("holidays", &cfg.Holidays, &hs)...)
	if len(ps) > 0 {
		return cs, hs, ps
	}
	err := cs.Validate(hs, func(code string) bool { return cfg.Item(code) != nil })
	var ce *casesys.ConfigError
	switch {
	case err == nil:
	case errors.As(err, &ce):
		for _, p := range ce.Problems {
			key, msg, ok := strings.Cut(p, ": ")
			if !ok {
				key, msg = "case_system", p
			}
			ps = append(ps, cfg.Problemf(key, "%s", msg))
		}
	default:
		ps = append(ps, cfg.Problemf("case_system", "%v", err))
	}
	return cs, hs, ps
}

// caseSys is the controller's part of the case system.
type caseSys struct {
	cfg     casesys.Config // with defaults
	cal     *casesys.Calendar
	monitor *casesys.Monitor
	reg     *casesys.Registry // nil without Options.CaseStore
	api     http.Handler
	outbox  *casesys.Outbox
	// supOutbox sends the 电子监察 events to case_system.supervision.url
	// (nil: they go with the case events through outbox, if any).
	supOutbox *casesys.Outbox
	// alertLog records alert transitions (nil without a case store).
	alertLog *casesys.AlertLog
	lookups  *caseLookups // the public look-up (cases_lookup.go)

	// Guarded by the controller's lock (every writer runs in a unit).
	acc      *casesys.Acceptor
	accepted map[int64]string // ticket → serial
	clerks   map[int]string   // window → signed-in clerk
	idRead   map[int64]string // ticket → keyed hash of an ID card read at its window

	// fuMu takes follow-up steps one at a time (followups.go).
	fuMu sync.Mutex

	monMu    sync.Mutex
	monSeq   int64  // log records the monitor has seen
	monPrune string // the last local day the monitor's ledger was compacted
}

// newCaseSys builds the case system from its snapshots and the log after
// them (history.go): the serial counter, the clerks, the monitor's ledger.
func (c *Controller) newCaseSys(ctx context.Context) (*caseSys, error) {
	raw, hs, ps := CaseConfig(c.cfg)
	if len(ps) > 0 {
		return nil, &config.Error{Problems: ps}
	}
	cal, err := casesys.NewCalendar(hs)
	if err != nil {
		return nil, err
	}
	cs := &caseSys{cfg: raw.WithDefaults(), cal: cal, accepted: map[int64]string{}, clerks: map[int]string{}, idRead: map[int64]string{},
		lookups: newCaseLookups(c.o.CaseKey, c.cfg.Limits.LookupsPerMin, c.o.Registry, func(m string) { c.log.Warn(m) })}
	if cs.acc, err = casesys.NewAcceptor(c.cfg, raw, cal); err != nil {
		return nil, err
	}
	cs.monitor = casesys.NewMonitor(casesys.NewLedger(c.cfg), raw, cal, c.clock.Now)
	n, err := c.restoreCases(ctx, cs)
	if err != nil {
		return nil, fmt.Errorf("replay log for cases and supervision: %w", err)
	}
	if n > snapshotEvery {
		// The next start replays from here: the state is the log's now.
		if err := c.startSnapshots(ctx, cs); err != nil {
			return nil, err
		}
	}
	c.o.Registry.MustRegister(cs.monitor)
	// The monitor and the outbox follow every commit (no read-back):
	// New registers onCommit (floor.go), which calls committed.
	if st := c.store; st != nil {
		cs.reg = casesys.NewRegistry(st)
		key, err := raw.InboundKey()
		if err != nil {
			return nil, fmt.Errorf("case_system inbound key: %w", err)
		}
		cs.api = casesys.NewAPI(cs.reg, casesys.APIOpts{Prefix: "/api/v1/cases", Key: key, Clock: c.clock,
			Logger: c.log.With("part", "cases"), Metrics: c.o.Registry})
		cs.alertLog = casesys.NewAlertLog(st, cs.monitor.Alerts, c.clock.Now, c.cfg.Loc, c.log.With("part", "supervision"))
		sends := casesys.SendAll
		if sw := raw.SupervisionWebhook(); sw != nil {
			sends = casesys.SendCase
			secret, err := raw.SupervisionSecret()
			if err != nil {
				return nil, fmt.Errorf("case_system supervision secret: %w", err)
			}
			cs.supOutbox, err = casesys.OpenOutbox(ctx, st, casesys.OutboxOpts{Hall: c.cfg.Hall.ID, Webhook: *sw,
				Secret: secret, Sends: casesys.SendSupervision, Clock: c.clock, Logger: c.log.With("part", "supervision-outbox")})
			if err != nil {
				return nil, err
			}
		}
		if cs.cfg.Webhook != nil {
			secret, err := raw.WebhookSecret()
			if err != nil {
				return nil, fmt.Errorf("case_system webhook secret: %w", err)
			}
			cs.outbox, err = casesys.OpenOutbox(ctx, st, casesys.OutboxOpts{Hall: c.cfg.Hall.ID, Webhook: *cs.cfg.Webhook,
				Secret: secret, RawIdentity: raw.RawIdentity, Sends: sends, Clock: c.clock, Logger: c.log.With("part", "outbox")})
			if err != nil {
				return nil, err
			}
			ob := cs.outbox
			gauge := func(name, help string, f func(casesys.OutboxStats) float64) prometheus.Collector {
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(ob.Stats()) })
			}
			c.o.Registry.MustRegister(
				gauge("servicehall_outbox_pending", "Case events not yet delivered to the case system.", func(s casesys.OutboxStats) float64 { return float64(s.Pending) }),
				gauge("servicehall_outbox_dead", "Case events in the dead-letter list.", func(s casesys.OutboxStats) float64 { return float64(s.Dead) }),
				gauge("servicehall_outbox_delivered", "Case events delivered since start.", func(s casesys.OutboxStats) float64 { return float64(s.Delivered) }),
			)
		}
	}
	return cs, nil
}

// committed runs on the log's writer after every commit, with the records
// it appended in log order: the monitor applies them, the outbox wakes.
func (c *Controller) committed(cs *caseSys, recs []store.Record) {
	cs.monMu.Lock()
	for _, r := range recs {
		if r.Seq > cs.monSeq {
			cs.monitor.Apply(r)
			cs.monSeq = r.Seq
		}
	}
	cs.monMu.Unlock()
	if cs.outbox != nil {
		cs.outbox.Notify()
	}
	if cs.supOutbox != nil {
		cs.supOutbox.Notify()
	}
}

// SupervisionEvery is how often the controller evaluates the 电子监察
// alerts and records their transitions (casesys.AlertLog).
const SupervisionEvery = 15 * time.Second

// runAlertLog records alert transitions every SupervisionEvery until ctx
// ends.
func (c *Controller) runAlertLog(ctx context.Context) {
	if c.cases == nil || c.cases.alertLog == nil {
		return
	}
	t := c.clock.NewTicker(SupervisionEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
		if _, _, err := c.StepAlerts(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("supervision alert log", "err", err)
		}
	}
}

// StepAlerts evaluates the 电子监察 alerts now and records the ones raised
// and cleared since the last evaluation (runAlertLog calls it; tests too).
func (c *Controller) StepAlerts(ctx context.Context) (raised, cleared int, err error) {
	if c.cases == nil || c.cases.alertLog == nil {
		return 0, 0, ErrCasesOff
	}
	if err := c.failure(); err != nil {
		return 0, 0, err
	}
	c.pruneMonitor(c.cases)
	return c.cases.alertLog.Step(ctx)
}

// SupervisionOutbox is the 电子监察 connector (nil without
// case_system.supervision.url).
func (c *Controller) SupervisionOutbox() *casesys.Outbox {
	if c.cases == nil {
		return nil
	}
	return c.cases.supOutbox
}

// signIn records the clerk working a window when it changes (in u), for
// the case system and the manager console (the floor), cases on or off.
func (c *Controller) signIn(u *unit, window int, clerk string) {
	if clerk == "" {
		return
	}
	cs := c.cases
	if cs != nil {
		if cs.clerks[window] == clerk {
			return
		}
		cs.clerks[window] = clerk
	} else if _, cur := c.WindowFloor(window, 0); cur == clerk {
		return
	}
	u.Append(casesys.ClerkRecord(window, clerk, c.clock.Now()))
}

// acceptances lists the cases to open for "started" events (in a unit:
// the engine is read for the ticket's number and item).
func (c *Controller) acceptances(evs []queue.Event, window int) []casesys.Acceptance {
	var out []casesys.Acceptance
	for _, ev := range evs {
		if ev.Type != queue.EvStarted {
			continue
		}
		t, ok := c.desk.Engine().Ticket(ev.Ticket)
		if !ok {
			continue
		}
		w := ev.Window
		if w == 0 {
			w = window
		}
		out = append(out, casesys.Acceptance{Ticket: t.ID, Number: t.Number, Item: t.Item, Window: w, At: ev.At})
	}
	return out
}

// accept opens the case of a ticket whose service started (受理): a serial
// number, the case record and registry entry in the caller's unit, and the
// receipt on the window's printer once the unit commits.
func (c *Controller) accept(ctx context.Context, u *unit, a casesys.Acceptance) {
	cs := c.cases
	if cs == nil {
		return
	}
	if _, done := cs.accepted[a.Ticket]; done {
		return // started again after a transfer: one case per ticket
	}
	a.Clerk = cs.clerks[a.Window]
	cas, w, err := cs.acc.Accept(a)
	if err != nil {
		c.log.Error("open case", "ticket", a.Ticket, "item", a.Item, "err", err)
		return
	}
	u.Append(w.Records...)
	for _, p := range w.Puts {
		u.Put(p.Bucket, p.Key, p.Val)
	}
	cs.accepted[a.Ticket] = cas.Serial
	ps := c.bus.Find(func(_ string, d wire.DeviceInfo) bool { return d.Kind == wire.KindPrinter && d.Window == a.Window })
	if len(ps) == 0 {
		c.log.Debug("no printer at the window: acceptance receipt not printed", "window", a.Window, "serial", cas.Serial)
		return
	}
	args := cs.acc.Receipt(cas, c.cfg.Server.PublicURL, c.CaseCheck(cas.Serial))
	if _, err := c.bus.Dispatch(u, ps[0].Agent, ps[0].Device.ID, wire.CmdPrint, args, c.ttl()); err != nil {
		c.log.Error("print acceptance receipt", "agent", ps[0].Agent, "device", ps[0].Device.ID, "err", err)
	}
}

// recordIdentity binds an ID-card read to a ticket (masked forms and the
// keyed hash only), in u.
func (c *Controller) recordIdentity(u *unit, id casesys.Identity) {
	if c.cases == nil || id.Ticket == 0 {
		return
	}
	key := "ticket-" + strconv.FormatInt(id.Ticket, 10)
	if id.Window != 0 {
		key += "-w" + strconv.Itoa(id.Window)
	}
	u.Append(casesys.IdentityRecord(id, c.clock.Now(), key))
}

// onWindowCard binds a card read at a window's ID reader to the ticket
// the window serves (or has called).
func (c *Controller) onWindowCard(u *unit, window int, cd wire.Card) {
	if c.cases == nil {
		return
	}
	var ticket int64
	if v, ok := c.desk.Engine().Window(window); ok {
		ticket = v.Current
	}
	if ticket == 0 {
		return
	}
	id := casesys.IdentityFromCard(ticket, window, cd)
	c.recordIdentity(u, id)
	if id.IDHash != "" {
		c.cases.idRead[ticket] = id.IDHash // the applicant, for one rating per case
	}
	if ob := c.cases.outbox; ob != nil && cd.Raw != nil {
		ob.AttachRaw(ticket, *cd.Raw)
	}
}

// Case-system errors.
var (
	ErrCasesOff        = errors.New("the case registry is not available")
	ErrUnknownFollowUp = errors.New("no follow-up for this ticket")
	ErrFollowUpClosed  = errors.New("follow-up already closed")
)

// Supervision returns the alerts for the manager now: tickets whose print
// failed, and the 电子监察 alerts of the case system.
func (c *Controller) Supervision(ctx context.Context) []casesys.Alert {
	var out []casesys.Alert
	// A device that cannot do its job (a speaker without a voice, a printer
	// out of paper) is the manager's to know: calls go unannounced, tickets
	// unprinted.
	for _, d := range c.bus.Find(func(string, wire.DeviceInfo) bool { return true }) {
		if d.Status.State != "fault" {
			continue
		}
		out = append(out, casesys.Alert{Kind: "device_fault", Severity: "critical", Window: d.Device.Window,
			Message: fmt.Sprintf("设备故障：%s/%s（%s）%s %s", d.Agent, d.Device.ID, d.Device.Kind, d.Status.Code, deviceFaultHint(d.Device.Kind, d.Status.Code))})
	}
	for _, r := range c.RefusedDevices() {
		out = append(out, casesys.Alert{Kind: "device_refused", Severity: "warning", Window: r.Window, Since: r.At, Message: refusalMessage(r)})
	}
	for _, pr := range c.Unprinted() {
		out = append(out, casesys.Alert{Kind: "unprinted", Severity: "warning", Ticket: pr.Ticket, Number: pr.Number, Since: pr.At,
			Message: fmt.Sprintf("%s 号票未能打印（%s/%s：%s），持号人可能没有号票", pr.Number, pr.Agent, pr.Device, pr.Code)})
	}
	if c.calw != nil {
		out = append(out, c.calw.alerts()...)
	}
	if c.cases == nil {
		return out
	}
	if ob := c.cases.supOutbox; ob != nil {
		if st := ob.Stats(); st.Dead > 0 {
			out = append(out, casesys.Alert{ID: "dead_letter/" + OutboxSupervision, Kind: "dead_letter", Severity: "critical", Value: float64(st.Dead), Outbox: OutboxSupervision,
				Message: fmt.Sprintf("%d 条电子监察事件无法送达监察平台，其后的监察事件也在等待：请重新发送或作废（hallctl cases dead-letters --outbox supervision）", st.Dead)})
		}
	}
	if ob := c.cases.outbox; ob != nil {
		if st := ob.Stats(); st.Dead > 0 {
			out = append(out, casesys.Alert{Kind: "dead_letter", Severity: "critical", Value: float64(st.Dead), Outbox: OutboxCases,
				Message: fmt.Sprintf("%d 条办件事件无法送达办件系统，其所属办件的后续事件也在等待：请在“送达失败”中重新发送或作废（hallctl cases dead-letters）", st.Dead)})
		}
	}
	c.pruneMonitor(c.cases)
	return append(out, c.cases.monitor.Alerts()...)
}

// FollowUps is the 好差评 follow-up list (ratings of 2 or less).
func (c *Controller) FollowUps(ctx context.Context) []casesys.FollowUp {
	if c.cases == nil {
		return nil
	}
	return c.cases.monitor.FollowUps()
}

// CloseFollowUp records that a manager followed a low rating up (办结),
// from any open state of its workflow (followups.go), audited.
func (c *Controller) CloseFollowUp(ctx context.Context, ticket int64, note, by string) (f casesys.FollowUp, err error) {
	if c.cases == nil {
		return casesys.FollowUp{}, ErrUnknownFollowUp
	}
	c.cases.fuMu.Lock()
	defer c.cases.fuMu.Unlock()
	found, ok := c.followUp(ctx, ticket)
	if !ok {
		return casesys.FollowUp{}, ErrUnknownFollowUp
	}
	if found.Closed {
		return found, ErrFollowUpClosed
	}
	if found.State == casesys.FollowUpAppealAccepted {
		return found, fmt.Errorf("%w: the appeal was accepted", casesys.ErrFollowUpState)
	}
	// Written on its own (not in a unit): it changes nothing in memory but
	// through the monitor, which follows the commit; a duplicate key means
	// another request closed it first.
	now := c.clock.Now()
	rec := casesys.FollowUpRecord(casesys.FollowUpClosed{Ticket: ticket, Note: note, By: by, At: now})
	step := casesys.FollowUpStep{Ticket: ticket, Action: casesys.ActClose, From: found.State, To: casesys.FollowUpClosedState, At: now}
	audit := AuditEntry{At: now, Actor: by, Role: "manager", Action: ManagerAction{Type: "followup_close"}, Detail: casesys.DescribeStep(step)}
	_, err = c.store.Append(context.WithoutCancel(ctx), rec,
		store.Record{Stream: AuditStream, Type: audit.Action.Type, At: now, Data: wire.Marshal(audit)})
	if errors.Is(err, store.ErrDuplicateKey) {
		return found, ErrFollowUpClosed // closed at the same moment by another request
	}
	if err != nil {
		return casesys.FollowUp{}, err
	}
	if x, ok := c.followUp(context.WithoutCancel(ctx), ticket); ok {
		return x, nil
	}
	return found, nil
}

// CaseAPI is the inbound case API to mount at /api/v1/cases/ (nil when the
// controller has no case store).
func (c *Controller) CaseAPI() http.Handler {
	if c.cases == nil {
		return nil
	}
	return c.cases.api
}

// CaseProgress is a case's whole progress, notes included, for the
// manager (the public look-up is CaseLookup).
func (c *Controller) CaseProgress(ctx context.Context, serial string) (casesys.Progress, error) {
	if c.cases == nil || c.cases.reg == nil {
		return casesys.Progress{}, ErrCasesOff
	}
	if _, err := casesys.ParseSerial(serial); err != nil {
		return casesys.Progress{}, err
	}
	cas, err := c.cases.reg.Get(ctx, serial)
	if err != nil {
		return casesys.Progress{}, err
	}
	return casesys.ProgressOf(cas), nil
}

// SetCaseStatus changes a case's status from the manager console (the
// built-in case registry of a hall without an external case system).
func (c *Controller) SetCaseStatus(ctx context.Context, ch casesys.StatusChange) (casesys.Progress, error) {
	if c.cases == nil || c.cases.reg == nil {
		return casesys.Progress{}, ErrCasesOff
	}
	if ch.At.IsZero() {
		ch.At = c.clock.Now()
	}
	if err := casesys.CheckStatusTime(ch.At, c.clock.Now()); err != nil {
		return casesys.Progress{}, err
	}
	cas, _, err := c.cases.reg.SetStatus(context.WithoutCancel(ctx), ch)
	if err != nil {
		return casesys.Progress{}, err
	}
	return casesys.ProgressOf(cas), nil
}

// Outbox is the webhook connector (nil without case_system.webhook).
func (c *Controller) Outbox() *casesys.Outbox {
	if c.cases == nil {
		return nil
	}
	return c.cases.outbox
}

// Report computes a report from the whole event log (report.Compute over
// a fresh ledger, so any past range is right).
func (c *Controller) Report(ctx context.Context, o report.Opts) ([]report.Row, error) {
	l := casesys.NewLedger(c.cfg)
	err := c.store.Read(ctx, "", 0, func(r store.Record) error {
		l.Apply(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return report.Compute(l, c.cfg, o)
}

// deviceFaultHint says what a device fault means for the hall.
func deviceFaultHint(kind, code string) string {
	switch {
	case kind == wire.KindSpeaker:
		return "：叫号不会播报，请检查语音合成（espeak-ng）或音箱"
	case kind == wire.KindPrinter && code == "paper_out":
		return "：打印机缺纸，请更换纸卷"
	case kind == wire.KindPrinter:
		return "：号票可能无法打印"
	}
	return ""
}
