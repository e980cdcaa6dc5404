package ctl

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/servicehall/servicehall/hallctl/bus"
	"github.com/servicehall/servicehall/hallctl/store"
)

// Store is the durable event log and keyed table the controller needs
// (hallctl/store's *store.Log provides it).
type Store interface {
	store.Store
	// Submit queues a batch in order and returns at once; Wait on the
	// result blocks until it is durable.
	Submit(b *store.Batch) *store.Pending
	// OnCommit is told every committed record, in log order.
	OnCommit(f func(recs []store.Record))
	// Check reports a failed log or a database file deleted while running.
	Check() error
}

// ErrUnavailable is returned for requests that reach a controller whose
// event log has failed: nothing was done, and the controller is stopping.
var ErrUnavailable = errors.New("the controller cannot record changes (its event log failed); it is restarting")

// unit is a unit of work: the writes of everything handled together, made
// durable by one commit, and the actions (publishing commands, live feed
// updates) that must wait for it. It implements bus.Tx.
type unit struct {
	batch store.Batch
	kv    map[string]kvWrite // this unit's own writes, for get
	after []func()
}

type kvWrite struct {
	val     []byte
	deleted bool
}

// Append adds records to the unit.
func (u *unit) Append(recs ...store.Record) { u.batch.Append(recs...) }

// Put sets bucket/key when the unit commits.
func (u *unit) Put(bucket, key string, val []byte) {
	u.batch.Put(bucket, key, val)
	u.note(bucket, key, kvWrite{val: val})
}

// Delete removes bucket/key when the unit commits.
func (u *unit) Delete(bucket, key string) {
	u.batch.Delete(bucket, key)
	u.note(bucket, key, kvWrite{deleted: true})
}

func (u *unit) note(bucket, key string, w kvWrite) {
	if u.kv == nil {
		u.kv = map[string]kvWrite{}
	}
	u.kv[bucket+"\x00"+key] = w
}

// After queues f to run once the unit is durable (never if it fails).
// After actions run in commit order; they must not open units themselves.
func (u *unit) After(f func()) { u.after = append(u.after, f) }

var _ bus.Tx = (*unit)(nil)

// get reads bucket/key as the unit will leave it.
func (c *Controller) get(ctx context.Context, u *unit, bucket, key string) ([]byte, bool, error) {
	if u != nil {
		if w, ok := u.kv[bucket+"\x00"+key]; ok {
			return w.val, !w.deleted, nil
		}
	}
	v, err := c.store.Get(ctx, bucket, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	return v, err == nil, err
}

// sequencer runs units' after-actions in the order the units were
// submitted, whatever order their waits return in.
type sequencer struct {
	mu   sync.Mutex
	cond *sync.Cond
	next uint64 // the turn whose actions run next
	last uint64 // the last turn handed out
}

func newSequencer() *sequencer {
	s := &sequencer{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// take hands out the next turn; the caller holds the controller's lock so
// turns follow the log's order.
func (s *sequencer) take() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last++
	return s.last
}

// run waits for turn, runs fs, and passes the turn on.
func (s *sequencer) run(turn uint64, fs []func()) {
	s.mu.Lock()
	for s.next+1 != turn {
		s.cond.Wait()
	}
	s.mu.Unlock()
	for _, f := range fs {
		f()
	}
	s.mu.Lock()
	s.next = turn
	s.cond.Broadcast()
	s.mu.Unlock()
}

// inUnit runs f in a unit of work under the controller's lock: f reads and
// changes the engine and adds the records of what it changed to u. The unit
// is handed to the log before the lock is released (so the log's order is
// the order of the changes in memory) and is made durable outside the lock,
// together with whatever other units are waiting (group commit). inUnit
// returns once the unit is durable, after its After actions ran.
//
// f's error is returned, but what f recorded before failing is committed
// all the same (a finish that succeeded before "nothing to call" stays).
// A commit that fails leaves memory ahead of the log: the controller stops
// (fatal), and a restart rebuilds state from the log. The commit is never
// cancelled by ctx: a departing HTTP client does not undo a ticket.
func (c *Controller) inUnit(ctx context.Context, f func(u *unit) error) error {
	if err := c.failure(); err != nil {
		return err
	}
	u := &unit{}
	c.mu.Lock()
	ferr := f(u)
	var p *store.Pending
	if u.batch.Len() > 0 {
		p = c.store.Submit(&u.batch)
	}
	turn := c.seq.take()
	c.mu.Unlock()
	if p != nil {
		if _, err := p.Wait(); err != nil {
			c.seq.run(turn, nil)
			err = fmt.Errorf("commit: %w", err)
			c.fatal(err)
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		c.metrics.units.Inc()
	}
	c.seq.run(turn, u.after)
	return ferr
}

// barrier returns once every unit handed to the log before it is durable
// and its After actions ran (units' turns are taken in order).
func (c *Controller) barrier(ctx context.Context) {
	_ = c.inUnit(ctx, func(*unit) error { return nil })
}

// Unit implements bus.Batcher.
func (c *Controller) Unit(ctx context.Context, f func(tx bus.Tx) error) error {
	return c.inUnit(ctx, func(u *unit) error { return f(u) })
}

// ListPending implements bus.Pending: the commands a previous run left in
// flight.
func (c *Controller) ListPending(ctx context.Context) ([]bus.PendingCommand, error) {
	kvs, err := c.store.List(ctx, bus.PendingBucket)
	if err != nil {
		return nil, err
	}
	out := make([]bus.PendingCommand, 0, len(kvs))
	for _, kv := range kvs {
		pc, err := bus.UnmarshalPending(kv.Val)
		if err != nil {
			return nil, fmt.Errorf("pending command %s: %w", kv.Key, err)
		}
		out = append(out, pc)
	}
	return out, nil
}
