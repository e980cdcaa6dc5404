package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/agent/store"
	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

// Ack codes the agent itself answers with.
const (
	CodeUnknownDevice = "unknown_device" // no such device on this agent
	CodeUnsupported   = "unsupported"    // the device takes no commands / no desired
	CodeUnavailable   = "unavailable"    // the device was skipped or failed at start
	CodeDriverError   = "driver_error"   // the driver answered nothing usable or panicked
	CodeStateError    = "state_error"    // the ledger could not record the command
)

// ledger entry states in memory (store.StateRunning/StateDone persisted).
const stateQueued = "queued"

type ledgerEntry struct {
	state string // queued, running, done
	ack   wire.AckMsg
	at    time.Time
}

// queue runs jobs one at a time in arrival order; add never blocks.
type queue struct {
	mu     sync.Mutex
	jobs   []func(context.Context)
	signal chan struct{}
}

func newQueue() *queue { return &queue{signal: make(chan struct{}, 1)} }

func (q *queue) add(f func(context.Context)) {
	q.mu.Lock()
	q.jobs = append(q.jobs, f)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *queue) run(ctx context.Context) {
	for {
		q.mu.Lock()
		var f func(context.Context)
		if len(q.jobs) > 0 {
			f = q.jobs[0]
			q.jobs[0] = nil
			q.jobs = q.jobs[1:]
		}
		q.mu.Unlock()
		if f != nil {
			f(ctx)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-q.signal:
		}
	}
}

// recoverID finds a usable command id in a payload that failed to decode.
func recoverID(p []byte) string {
	if len(p) > wire.MaxPayload {
		return ""
	}
	var v struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(p, &v) != nil {
		return ""
	}
	if s, ok := v.ID.(string); ok && wire.ValidUUID(s) {
		return s
	}
	return ""
}

// onCommand checks a command at receipt and queues it on its device.
func (a *Agent) onCommand(t wire.Topic, payload []byte) {
	ackTopic := wire.Ack(a.hall, a.id, t.Device)
	msg, err := wire.DecodeCommand(payload)
	if err != nil {
		reason := wire.Reason(err)
		a.malformed(reason, "command", err, "device", t.Device, "name", t.Name)
		if id := recoverID(payload); id != "" {
			a.stats.cmdRejected.Add(1)
			ack := wire.AckMsg{ID: id, Status: wire.AckRejected, Code: reason, Error: err.Error()}
			a.misc.add(func(ctx context.Context) { a.sendAck(ctx, ackTopic, ack) })
		}
		return
	}
	now := a.clock.Now()
	d := a.devs[t.Device]
	a.ledgerMu.Lock()
	if e, ok := a.ledger[msg.ID]; ok {
		// Copied under the lock: execute moves the entry on concurrently.
		state, ack := e.state, e.ack
		a.ledgerMu.Unlock()
		a.stats.cmdDuplicate.Add(1)
		a.log.Info("duplicate command", "id", msg.ID, "device", t.Device, "name", t.Name, "state", state)
		if state == store.StateDone {
			a.misc.add(func(ctx context.Context) { a.sendAck(ctx, ackTopic, ack) })
		}
		// Queued or running: its ack follows when it finishes.
		return
	}
	var final *wire.AckMsg
	switch {
	case d == nil:
		a.stats.cmdRejected.Add(1)
		final = &wire.AckMsg{ID: msg.ID, Status: wire.AckRejected, Code: CodeUnknownDevice, Error: fmt.Sprintf("agent %s has no device %q", a.id, t.Device)}
	case msg.Expired(now):
		a.stats.cmdExpired.Add(1)
		final = &wire.AckMsg{ID: msg.ID, Status: wire.AckExpired}
	case d.dev == nil:
		a.stats.cmdRejected.Add(1)
		final = &wire.AckMsg{ID: msg.ID, Status: wire.AckRejected, Code: CodeUnavailable, Error: fmt.Sprintf("device %s is %s: %s", d.cfg.ID, d.info.State, d.info.Reason)}
	case d.cmd == nil:
		a.stats.cmdRejected.Add(1)
		final = &wire.AckMsg{ID: msg.ID, Status: wire.AckRejected, Code: CodeUnsupported, Error: fmt.Sprintf("device %s (%s) takes no commands", d.cfg.ID, d.cfg.Kind)}
	}
	if final != nil {
		a.ledger[msg.ID] = &ledgerEntry{state: store.StateDone, ack: *final, at: now}
		a.ledgerMu.Unlock()
		ack := *final
		dev := t.Device
		a.misc.add(func(ctx context.Context) { a.finish(ctx, dev, ackTopic, ack) })
		return
	}
	a.ledger[msg.ID] = &ledgerEntry{state: stateQueued, at: now}
	a.ledgerMu.Unlock()
	name := t.Name
	d.q.add(func(ctx context.Context) { a.execute(ctx, d, name, msg) })
}

// execute runs one command on its device's queue.
func (a *Agent) execute(ctx context.Context, d *dev, name string, msg wire.CommandMsg) {
	ackTopic := wire.Ack(a.hall, a.id, d.cfg.ID)
	now := a.clock.Now()
	if msg.Expired(now) {
		a.stats.cmdExpired.Add(1)
		a.finish(ctx, d.cfg.ID, ackTopic, wire.AckMsg{ID: msg.ID, Status: wire.AckExpired})
		return
	}
	if ctx.Err() != nil {
		// Shutting down before it ran: forget it, so a retry after the
		// restart executes it (it never started).
		a.ledgerMu.Lock()
		delete(a.ledger, msg.ID)
		a.ledgerMu.Unlock()
		return
	}
	// Record the start durably first: if the agent dies mid-command, the
	// retry is answered "failed/interrupted" instead of printing twice.
	if err := a.store.Begin(ctx, msg.ID, d.cfg.ID, now); err != nil {
		a.log.Error("ledger", "err", err)
		a.finish(ctx, d.cfg.ID, ackTopic, wire.AckMsg{ID: msg.ID, Status: wire.AckFailed, Code: CodeStateError, Error: err.Error()})
		return
	}
	a.ledgerMu.Lock()
	if e := a.ledger[msg.ID]; e != nil {
		e.state = store.StateRunning
	}
	a.ledgerMu.Unlock()
	res := a.handle(ctx, d, name, msg.Args)
	a.stats.cmdExecuted.Add(1)
	ack := wire.AckMsg{ID: msg.ID, Status: res.Status, Code: res.Code, Error: res.Err}
	switch ack.Status {
	case wire.AckDone, wire.AckFailed, wire.AckRejected:
	default:
		ack = wire.AckMsg{ID: msg.ID, Status: wire.AckFailed, Code: CodeDriverError, Error: fmt.Sprintf("driver answered status %q", res.Status)}
	}
	a.log.Info("command", "id", msg.ID, "device", d.cfg.ID, "name", name, "status", ack.Status, "code", ack.Code)
	a.finish(ctx, d.cfg.ID, ackTopic, ack)
}

func (a *Agent) handle(ctx context.Context, d *dev, name string, args []byte) (res device.Result) {
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("driver panic in command", "device", d.cfg.ID, "name", name, "panic", r)
			res = device.Failed(CodeDriverError, fmt.Errorf("driver panic: %v", r))
		}
	}()
	return d.cmd.Handle(ctx, name, args)
}

// finish stores the final ack and sends it.
func (a *Agent) finish(ctx context.Context, dev, ackTopic string, ack wire.AckMsg) {
	now := a.clock.Now()
	if err := a.store.Finish(context.WithoutCancel(ctx), dev, ack, now); err != nil {
		a.log.Error("ledger", "err", err)
	}
	a.ledgerMu.Lock()
	a.ledger[ack.ID] = &ledgerEntry{state: store.StateDone, ack: ack, at: now}
	a.ledgerMu.Unlock()
	a.sendAck(ctx, ackTopic, ack)
}

// sendAck publishes an ack, waiting a little for a connection. A lost ack
// is harmless: the controller retries and gets the stored one.
func (a *Agent) sendAck(ctx context.Context, topic string, ack wire.AckMsg) {
	if err := a.publish(ctx, topic, false, wire.Marshal(ack), a.opts.AckWait); err != nil && ctx.Err() == nil {
		a.log.Warn("ack not sent; a retry gets the stored ack", "id", ack.ID, "err", err)
	}
}

// onDesired takes a display document; older versions are dropped and
// only the newest pending one is applied.
func (a *Agent) onDesired(t wire.Topic, payload []byte) {
	d := a.devs[t.Device]
	if d == nil {
		a.malformed(CodeUnknownDevice, "desired", fmt.Errorf("no device %q", t.Device))
		return
	}
	doc, err := wire.DecodeDesired(payload)
	if err != nil {
		a.malformed(wire.Reason(err), "desired", err, "device", t.Device)
		return
	}
	if d.disp == nil {
		a.stats.desiredRejected.Add(1)
		code := CodeUnsupported
		if d.dev == nil {
			code = CodeUnavailable
		}
		a.log.Warn("desired for a device that is not a running display", "device", d.cfg.ID, "version", doc.Version)
		d.setReported(a, wire.ReportedMsg{Version: doc.Version, OK: false, Code: code})
		return
	}
	d.mu.Lock()
	if doc.Version <= d.accepted {
		d.mu.Unlock()
		a.stats.desiredStale.Add(1)
		a.log.Debug("stale desired dropped", "device", d.cfg.ID, "version", doc.Version)
		return
	}
	d.accepted = doc.Version
	first := d.pending == nil
	d.pending = &doc
	d.mu.Unlock()
	if first {
		d.q.add(func(ctx context.Context) { a.applyDesired(ctx, d) })
	}
}

func (a *Agent) applyDesired(ctx context.Context, d *dev) {
	d.mu.Lock()
	doc := d.pending
	d.pending = nil
	d.mu.Unlock()
	if doc == nil || ctx.Err() != nil {
		return
	}
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("driver panic: %v", r)
			}
		}()
		return d.disp.Apply(ctx, *doc)
	}()
	rep := wire.ReportedMsg{Version: doc.Version, OK: err == nil}
	if err != nil {
		rep.Code = errCode(err, "apply_failed")
		a.log.Warn("desired not applied", "device", d.cfg.ID, "version", doc.Version, "err", err)
	} else {
		a.stats.desiredApplied.Add(1)
	}
	d.setReported(a, rep)
}

// errCode returns err's stable code if it has one (a Code() string method).
func errCode(err error, def string) string {
	var c interface{ Code() string }
	for e := err; e != nil; {
		if x, ok := e.(interface{ Code() string }); ok {
			c = x
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	if c != nil && c.Code() != "" {
		return c.Code()
	}
	return def
}
