package ctl

import (
	"sync"
	"time"

	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/wire"
)

// HallEvent is one live change, for screens and consoles: a queue event
// (after it is durable) or a device's health.
type HallEvent struct {
	Kind   string             `json:"kind"` // queue | device | rating
	Type   string             `json:"type"`
	At     time.Time          `json:"at"`
	Queue  *queue.Event       `json:"queue,omitempty"`
	Agent  string             `json:"agent,omitempty"`
	Device string             `json:"device,omitempty"`
	Status *wire.DevStatusMsg `json:"status,omitempty"`
	Rating *Rating            `json:"rating,omitempty"`
	Notice string             `json:"notice,omitempty"` // kind notice: the hall screen's new notice
	// Shared is one per published event, shared by every subscriber's
	// copy: a subscriber that encodes the event for its client keeps the
	// encoding there, so N streams encode it once (web's stream).
	Shared *Memo `json:"-"`
}

// Memo holds one value computed at most once.
type Memo struct {
	once sync.Once
	v    any
}

// Do returns the memo's value, computing it with f the first time. A nil
// Memo computes f every time.
func (m *Memo) Do(f func() any) any {
	if m == nil {
		return f()
	}
	m.once.Do(func() { m.v = f() })
	return m.v
}

// feed fans hall events out to subscribers. A subscriber that falls
// behind loses events and is told so (Lagged), never slowing the hall.
type feed struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// Subscription receives hall events on C.
type Subscription struct {
	C      <-chan HallEvent
	c      chan HallEvent
	lagged bool
	f      *feed
}

func newFeed() *feed { return &feed{subs: map[*Subscription]struct{}{}} }

func (f *feed) publish(ev HallEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ev.Shared == nil && len(f.subs) > 1 {
		ev.Shared = &Memo{}
	}
	for s := range f.subs {
		select {
		case s.c <- ev:
		default:
			s.lagged = true
		}
	}
}

// Lagged reports (and clears) whether events were dropped since the last
// call: the subscriber should reload a snapshot.
func (s *Subscription) Lagged() bool {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	l := s.lagged
	s.lagged = false
	return l
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	delete(s.f.subs, s)
}

// Subscribe starts a subscription with a buffer of n events.
func (c *Controller) Subscribe(n int) *Subscription {
	if n <= 0 {
		n = 256
	}
	ch := make(chan HallEvent, n)
	s := &Subscription{C: ch, c: ch, f: c.feed}
	c.feed.mu.Lock()
	c.feed.subs[s] = struct{}{}
	c.feed.mu.Unlock()
	return s
}
