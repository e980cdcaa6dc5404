package bus

import (
	"context"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/wire"
)

// Event is a device event with where it came from.
type Event struct {
	Agent  string
	Device wire.DeviceInfo
	Type   string
	Msg    wire.EventMsg
}

// Run handles events and retries until ctx is done. Call Resume first to
// re-send commands left in flight by a previous run.
func (b *Bus) Run(ctx context.Context) error {
	tick := b.o.Clock.NewTicker(b.o.RetryEvery / 3)
	defer tick.Stop()
	batch := make([]mqtt.Message, 0, b.o.MaxBatch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-b.events:
			batch = append(batch[:0], m)
		drain:
			for len(batch) < b.o.MaxBatch {
				select {
				case m := <-b.events:
					batch = append(batch, m)
				default:
					break drain
				}
			}
			if err := b.handleBatch(ctx, batch); err != nil {
				return err
			}
		case <-b.kick:
			if err := b.flushAcked(ctx); err != nil {
				return err
			}
		case <-tick.Chan():
			b.retry(ctx)
			b.expireHeld()
		}
	}
}

// handleBatch handles queued events in one unit of work; once it has
// committed, the events are marked handled and acknowledged to the broker.
func (b *Bus) handleBatch(ctx context.Context, msgs []mqtt.Message) error {
	handled := make([]string, 0, len(msgs))
	ack := make([]mqtt.Message, 0, len(msgs))
	err := b.o.Batcher.Unit(ctx, func(tx Tx) error {
		b.takeAcked(tx)
		for _, m := range msgs {
			id, done := b.handleEvent(ctx, tx, m)
			if id != "" {
				handled = append(handled, id)
			}
			if done {
				ack = append(ack, m)
			}
		}
		return nil
	})
	if err != nil {
		// The events stay unacknowledged: the broker redelivers them to
		// the next run, which rebuilds its state from the log.
		return fmt.Errorf("commit %d events: %w", len(msgs), err)
	}
	for _, id := range handled {
		b.seen.add(id)
	}
	for _, m := range ack {
		m.Ack()
	}
	return nil
}

// handleEvent handles one event inside tx. It returns the event id when
// the event was handled (to be marked seen after commit), and done=false
// when the event is held back: its device is not known yet (a controller
// that restarts meets queued events before the agents' retained info), so
// it waits unacknowledged until the agent's info arrives.
func (b *Bus) handleEvent(ctx context.Context, tx Tx, m mqtt.Message) (id string, done bool) {
	t, _ := wire.ParseTopic(m.Topic(), b.o.Hall)
	msg, err := wire.DecodeEvent(m.Payload())
	if err != nil {
		b.reject("event", err, m.Topic())
		return "", true
	}
	if b.seen.has(msg.ID) {
		b.o.Metrics.Duplicate()
		return "", true
	}
	if reason, err := b.checkTime(msg.TS.Time); err != nil {
		b.refuse("event", reason, err, m.Topic())
		return "", true
	}
	if !b.enrolled(t.Agent) {
		b.refuseAgent("event", t.Agent)
		return "", true
	}
	b.mu.Lock()
	d, known := b.knownDevice(t.Agent, t.Device)
	if !known {
		if a, ok := b.agents[t.Agent]; ok {
			if r, refused := a.Refused[t.Device]; refused {
				// Counted, not logged: the refusal of the claim was.
				b.mu.Unlock()
				b.o.Metrics.Rejected("event", r.Reason)
				return "", true
			}
		}
		if len(b.held) < b.o.MaxHeld {
			b.held = append(b.held, heldEvent{m: m, since: b.o.Clock.Now()})
			b.mu.Unlock()
			b.log.Info("event held until its device is known", "type", t.Name, "agent", t.Agent, "device", t.Device, "id", msg.ID)
			return "", false
		}
		b.mu.Unlock()
		b.reject("event", fmt.Errorf("%w: device %s/%s is unknown and %d events are already held", wire.ErrInvalid, t.Agent, t.Device, b.o.MaxHeld), m.Topic())
		return "", true
	}
	b.mu.Unlock()
	ev := Event{Agent: t.Agent, Device: d, Type: t.Name, Msg: msg}
	if b.o.Handler != nil {
		if err := b.o.Handler.HandleEvent(ctx, tx, ev); err != nil {
			b.log.Warn("event not handled", "type", t.Name, "agent", t.Agent, "device", t.Device, "id", msg.ID, "err", err)
			b.o.Metrics.Rejected("event", "handler")
			return "", true
		}
	}
	b.o.Metrics.EventHandled(t.Name)
	return msg.ID, true
}

// memSeen is a bounded in-memory set of event ids (FIFO eviction).
type memSeen struct {
	mu    sync.Mutex
	max   int
	set   map[string]struct{}
	order []string
}

func newMemSeen(max int) *memSeen {
	if max <= 0 {
		max = 200000
	}
	return &memSeen{max: max, set: map[string]struct{}{}}
}

func (s *memSeen) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[id]
	return ok
}

func (s *memSeen) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[id]; ok {
		return
	}
	s.set[id] = struct{}{}
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
}

// Seed marks event ids as already handled (from the controller's log).
func (b *Bus) Seed(ids ...string) {
	for _, id := range ids {
		b.seen.add(id)
	}
}

type heldEvent struct {
	m     mqtt.Message
	since time.Time
}

// expireHeld refuses (and acknowledges) events that waited HoldFor for a
// device that never announced itself.
func (b *Bus) expireHeld() {
	now := b.o.Clock.Now()
	b.mu.Lock()
	var expired []mqtt.Message
	keep := b.held[:0]
	for _, h := range b.held {
		if now.Sub(h.since) >= b.o.HoldFor {
			expired = append(expired, h.m)
		} else {
			keep = append(keep, h)
		}
	}
	clear(b.held[len(keep):])
	b.held = keep
	b.mu.Unlock()
	for _, m := range expired {
		b.reject("event", fmt.Errorf("%w: its device never announced itself within %s", wire.ErrInvalid, b.o.HoldFor), m.Topic())
		m.Ack()
	}
}
