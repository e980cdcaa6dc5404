package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/servicehall/servicehall/wire"
)

// Pending lists the in-flight commands a previous run left (written
// through Tx into PendingBucket); the controller's store provides it.
type Pending interface {
	ListPending(ctx context.Context) ([]PendingCommand, error)
}

// PendingCommand is a command not yet acknowledged.
type PendingCommand struct {
	Topic string          `json:"topic"`
	Msg   wire.CommandMsg `json:"msg"`
}

// outcome is how a dispatched command ended: an ack, or an error
// (ErrExpired, ErrNoAck) when none came.
type outcome struct {
	ack wire.AckMsg
	err error
}

type waiter struct {
	pc      PendingCommand
	done    chan outcome
	attempt int
	name    string
}

// resendAll publishes every in-flight command again (same ids) after a
// (re)connect; agents answer repeats from their ledger.
func (b *Bus) resendAll() {
	b.mu.Lock()
	ws := make([]*waiter, 0, len(b.waiters))
	for _, w := range b.waiters {
		ws = append(ws, w)
	}
	b.mu.Unlock()
	sort.Slice(ws, func(i, j int) bool { return ws[i].pc.Msg.ID < ws[j].pc.Msg.ID })
	for _, w := range ws {
		b.publish(w)
	}
}

// takeAcked moves acknowledged commands' pending entries into the unit.
func (b *Bus) takeAcked(tx Tx) {
	b.mu.Lock()
	ids := b.acked
	b.acked = nil
	b.mu.Unlock()
	for _, id := range ids {
		tx.Delete(PendingBucket, id)
	}
}

func (b *Bus) flushAcked(ctx context.Context) error {
	err := b.o.Batcher.Unit(ctx, func(tx Tx) error {
		b.takeAcked(tx)
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit acked commands: %w", err)
	}
	return nil
}

// Resume re-sends every command that a previous run left unacknowledged and
// not yet expired; expired ones are dropped (and logged).
func (b *Bus) Resume(ctx context.Context) error {
	pcs, err := b.o.Pending.ListPending(ctx)
	if err != nil {
		return fmt.Errorf("list pending commands: %w", err)
	}
	now := b.o.Clock.Now()
	for _, pc := range pcs {
		if pc.Msg.Expired(now) {
			b.log.Warn("dropping command that expired while the controller was down", "id", pc.Msg.ID, "topic", pc.Topic)
			b.queueDelete(pc.Msg.ID)
			continue
		}
		t, _ := wire.ParseTopic(pc.Topic, b.o.Hall)
		w := &waiter{pc: pc, done: make(chan outcome, 1), name: t.Name}
		b.mu.Lock()
		b.waiters[pc.Msg.ID] = w
		b.mu.Unlock()
		b.publish(w)
	}
	return nil
}

// Send publishes a command to a device in a unit of its own and waits for
// its ack, re-sending the same id every RetryEvery up to MaxAttempts while
// it has not expired. The command is stored as pending first, so a
// controller restart re-sends it.
func (b *Bus) Send(ctx context.Context, agent, dev, name string, args any, ttl time.Duration) (wire.AckMsg, error) {
	var t Ticket
	err := b.o.Batcher.Unit(ctx, func(tx Tx) error {
		var err error
		t, err = b.Dispatch(tx, agent, dev, name, args, ttl)
		return err
	})
	if err != nil {
		return wire.AckMsg{}, err
	}
	return b.Wait(ctx, t)
}

// Ticket identifies a dispatched command.
type Ticket struct {
	ID string
	w  *waiter
}

// Dispatch stores a command as pending in tx and publishes it once tx
// commits, without waiting for the ack.
func (b *Bus) Dispatch(tx Tx, agent, dev, name string, args any, ttl time.Duration) (Ticket, error) {
	now := b.o.Clock.Now()
	msg := wire.NewCommand(now, ttl, args)
	pc := PendingCommand{Topic: wire.Command(b.o.Hall, agent, dev, name), Msg: msg}
	tx.Put(PendingBucket, msg.ID, MarshalPending(pc))
	w := &waiter{pc: pc, done: make(chan outcome, 1), name: name}
	tx.After(func() {
		b.mu.Lock()
		b.waiters[msg.ID] = w
		b.mu.Unlock()
		b.publish(w)
	})
	return Ticket{ID: msg.ID, w: w}, nil
}

// Wait blocks until the command's ack, expiry (ErrExpired), retries
// running out (ErrNoAck), or ctx. An ack whose status is not done is
// returned with a nil error: the device answered.
func (b *Bus) Wait(ctx context.Context, t Ticket) (wire.AckMsg, error) {
	select {
	case o := <-t.w.done:
		return o.ack, o.err
	case <-ctx.Done():
		return wire.AckMsg{}, ctx.Err()
	}
}

// Valid reports whether t names a dispatched command.
func (t Ticket) Valid() bool { return t.w != nil }

func (b *Bus) publish(w *waiter) {
	// Only on an open connection: paho's own resume of publishes stored
	// while disconnected races in paho v1.5.1, and the bus re-sends every
	// in-flight command itself when the connection comes back. Attempts
	// made while disconnected do not count against MaxAttempts.
	if b.client == nil || !b.client.IsConnectionOpen() {
		return
	}
	b.mu.Lock()
	w.attempt++
	b.mu.Unlock()
	// Fire and forget: QoS 1 delivery to the broker is paho's job; the ack
	// (or the retry timer) tells us whether the device got it.
	b.client.Publish(w.pc.Topic, 1, false, wire.Marshal(w.pc.Msg))
}

func (b *Bus) retry(ctx context.Context) {
	now := b.o.Clock.Now()
	b.mu.Lock()
	var resend []*waiter
	var drop []*waiter
	status := map[*waiter]string{}
	results := map[*waiter]outcome{}
	for id, w := range b.waiters {
		sent := w.pc.Msg.TS.Time
		due := sent.Add(time.Duration(w.attempt) * b.o.RetryEvery)
		switch {
		case w.pc.Msg.Expired(now):
			delete(b.waiters, id)
			drop = append(drop, w)
			status[w] = "expired"
			results[w] = outcomeOf(id, wire.AckExpired, "expired", ErrExpired)
			w.done <- results[w]
		case !now.Before(due) && w.attempt >= b.o.MaxAttempts:
			delete(b.waiters, id)
			drop = append(drop, w)
			status[w] = "lost"
			results[w] = outcomeOf(id, wire.AckFailed, "no_ack", ErrNoAck)
			w.done <- results[w]
		case !now.Before(due):
			resend = append(resend, w)
		}
	}
	for _, w := range drop {
		b.rememberGaveUp(w, now)
	}
	b.mu.Unlock()
	for _, w := range drop {
		if b.o.OnOutcome != nil {
			b.o.OnOutcome(w.pc.Msg.ID, results[w].ack, results[w].err)
		}
		b.o.Metrics.CommandOutcome(w.name, status[w])
		b.log.Warn("command got no ack", "id", w.pc.Msg.ID, "topic", w.pc.Topic, "attempts", w.attempt, "outcome", status[w])
		b.queueDelete(w.pc.Msg.ID)
	}
	for _, w := range resend {
		b.log.Info("re-sending command", "id", w.pc.Msg.ID, "topic", w.pc.Topic, "attempt", w.attempt+1)
		b.publish(w)
	}
}

func (b *Bus) onAck(t wire.Topic, a wire.AckMsg) {
	b.mu.Lock()
	w, ok := b.waiters[a.ID]
	if ok {
		delete(b.waiters, a.ID)
	}
	b.mu.Unlock()
	// The pending entry goes in the next commit of the Run loop; if the
	// controller stops first, the command is re-sent once and the agent
	// answers with its stored ack.
	b.queueDelete(a.ID)
	if !ok {
		b.lateAck(a)
		return
	}
	b.o.Metrics.CommandOutcome(w.name, a.Status)
	if a.Status != wire.AckDone {
		b.log.Warn("command not done", "id", a.ID, "topic", w.pc.Topic, "status", a.Status, "code", a.Code, "error", a.Error)
	}
	w.done <- outcome{ack: a}
	if b.o.OnOutcome != nil {
		b.o.OnOutcome(a.ID, a, nil)
	}
}

func outcomeOf(id, status, code string, err error) outcome {
	return outcome{ack: wire.AckMsg{ID: id, Status: status, Code: code}, err: err}
}

func (b *Bus) queueDelete(id string) {
	b.mu.Lock()
	b.acked = append(b.acked, id)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// noPending is the Pending of a bus without a store: nothing to resume.
type noPending struct{}

// MarshalPending encodes a pending command for a key-value store.
func MarshalPending(c PendingCommand) []byte { return wire.Marshal(c) }

// UnmarshalPending decodes what MarshalPending wrote.
func UnmarshalPending(b []byte) (PendingCommand, error) {
	var c PendingCommand
	err := json.Unmarshal(b, &c)
	return c, err
}

// A command the bus gave up on (counted lost or expired) may still have
// run: its ack was lost with a broker node, say, and the agent answers a
// re-sent copy from its ledger later. That late answer is the fact, so it
// is counted and reported like any other; the bus remembers given-up
// commands for lateAckFor, at most maxGaveUp of them.
const (
	lateAckFor = 10 * time.Minute
	maxGaveUp  = 4096
)

type gaveUp struct {
	name string
	at   time.Time
}

// rememberGaveUp records w as given up on at now; b.mu is held. When the
// memory is full the old entries go, then any one.
func (b *Bus) rememberGaveUp(w *waiter, now time.Time) {
	if len(b.gaveUp) >= maxGaveUp {
		for id, g := range b.gaveUp {
			if now.Sub(g.at) >= lateAckFor {
				delete(b.gaveUp, id)
			}
		}
		for id := range b.gaveUp {
			if len(b.gaveUp) < maxGaveUp {
				break
			}
			delete(b.gaveUp, id)
		}
	}
	b.gaveUp[w.pc.Msg.ID] = gaveUp{name: w.name, at: now}
}

// lateAck handles an ack with no waiter: a duplicate (QoS 1), one for a
// previous run's command, or a late answer to a command given up on.
func (b *Bus) lateAck(a wire.AckMsg) {
	b.mu.Lock()
	g, ok := b.gaveUp[a.ID]
	delete(b.gaveUp, a.ID)
	b.mu.Unlock()
	if !ok || b.o.Clock.Now().Sub(g.at) >= lateAckFor {
		return
	}
	b.o.Metrics.CommandOutcome(g.name, a.Status)
	b.log.Info("late ack for a command given up on", "id", a.ID, "status", a.Status, "code", a.Code,
		"late_by", b.o.Clock.Now().Sub(g.at).Round(time.Millisecond))
	if b.o.OnOutcome != nil {
		b.o.OnOutcome(a.ID, a, nil)
	}
}
