package ctl

import (
	"context"
	"fmt"
	"sync"
)

// Store is the durable storage the controller needs: the log, the keyed
// table, and an atomic commit of both (hallctl/store provides it).
type Store interface {
	Log
	KV
	// Commit appends recs and applies ops in one transaction, durable when
	// it returns.
	Commit(ctx context.Context, recs []LogRecord, ops []KVOp) error
	// SaveSnapshot keeps a projection's state valid up to record seq upto;
	// LatestSnapshot returns the newest (ok false when there is none).
	SaveSnapshot(ctx context.Context, stream string, upto int64, data []byte) error
	LatestSnapshot(ctx context.Context, stream string) (upto int64, data []byte, ok bool, err error)
}

// KVOp is a put or delete in a Commit.
type KVOp struct {
	Bucket, Key string
	Val         []byte
	Delete      bool
}

// unit is a unit of work: the writes of everything handled together, made
// durable by one commit, and the actions (publishing commands) that must
// wait for it.
type unit struct {
	recs  []LogRecord
	ops   []KVOp
	after []func()
}

type unitKey struct{}

func unitOf(ctx context.Context) *unit {
	u, _ := ctx.Value(unitKey{}).(*unit)
	return u
}

// units implements bus.Batcher and the unit-aware Log and KV that the desk
// and the bus write through. Units are serialised (one open at a time), so
// the order in which effects are applied in memory is the order in which
// they reach the log — a replay rebuilds exactly the same state.
type units struct {
	store Store
	open  sync.Mutex // held from Begin to Commit
	// committed, if set, runs after every commit that appended records
	// (the case system's monitor and outbox follow the log with it).
	committed func()
}

// Begin opens a unit; every Begin must be followed by Commit.
func (s *units) Begin(ctx context.Context) context.Context {
	s.open.Lock()
	return context.WithValue(ctx, unitKey{}, &unit{})
}

// After queues f to run once the unit in ctx commits.
func (s *units) After(ctx context.Context, f func()) bool {
	u := unitOf(ctx)
	if u == nil {
		return false
	}
	u.after = append(u.after, f)
	return true
}

// Commit makes the unit durable, then runs its after-commit actions.
func (s *units) Commit(ctx context.Context) error {
	u := unitOf(ctx)
	if u == nil {
		return fmt.Errorf("commit without a unit")
	}
	defer s.open.Unlock()
	if len(u.recs)+len(u.ops) > 0 {
		if err := s.store.Commit(ctx, u.recs, u.ops); err != nil {
			return err
		}
		if len(u.recs) > 0 && s.committed != nil {
			s.committed()
		}
	}
	for _, f := range u.after {
		f()
	}
	return nil
}

// Append buffers into the open unit, or appends at once outside one.
func (s *units) Append(ctx context.Context, recs ...LogRecord) ([]int64, error) {
	if u := unitOf(ctx); u != nil {
		u.recs = append(u.recs, recs...)
		return make([]int64, len(recs)), nil
	}
	seqs, err := s.store.Append(ctx, recs...)
	if err == nil && s.committed != nil {
		s.committed()
	}
	return seqs, err
}

// Read reads committed records.
func (s *units) Read(ctx context.Context, stream string, from int64, fn func(LogRecord) error) error {
	return s.store.Read(ctx, stream, from, fn)
}

// Put buffers into the open unit, or writes at once outside one.
func (s *units) Put(ctx context.Context, bucket, key string, val []byte) error {
	if u := unitOf(ctx); u != nil {
		u.ops = append(u.ops, KVOp{Bucket: bucket, Key: key, Val: val})
		return nil
	}
	return s.store.Put(ctx, bucket, key, val)
}

// Delete buffers into the open unit, or deletes at once outside one.
func (s *units) Delete(ctx context.Context, bucket, key string) error {
	if u := unitOf(ctx); u != nil {
		u.ops = append(u.ops, KVOp{Bucket: bucket, Key: key, Delete: true})
		return nil
	}
	return s.store.Delete(ctx, bucket, key)
}

// Get sees the open unit's own writes first.
func (s *units) Get(ctx context.Context, bucket, key string) ([]byte, bool, error) {
	if u := unitOf(ctx); u != nil {
		for i := len(u.ops) - 1; i >= 0; i-- {
			if op := u.ops[i]; op.Bucket == bucket && op.Key == key {
				return op.Val, !op.Delete, nil
			}
		}
	}
	return s.store.Get(ctx, bucket, key)
}

// SaveSnapshot passes through to the store (outside units).
func (s *units) SaveSnapshot(ctx context.Context, stream string, upto int64, data []byte) error {
	return s.store.SaveSnapshot(ctx, stream, upto, data)
}

// LatestSnapshot passes through to the store.
func (s *units) LatestSnapshot(ctx context.Context, stream string) (int64, []byte, bool, error) {
	return s.store.LatestSnapshot(ctx, stream)
}

// List lists committed entries (callers list outside units).
func (s *units) List(ctx context.Context, bucket string, fn func(string, []byte) error) error {
	return s.store.List(ctx, bucket, fn)
}
