// Package store is hallctl's durable, append-only event log.
//
// Everything hallctl decides is a Record appended to a Log; in-memory state
// (the queue engine's projection, the device bus) is rebuilt from it at start,
// from the latest Snapshot onwards. Records are generic (a stream, a type, an
// optional idempotency key and opaque bytes), so the queue engine, the bus and
// the audit trail share one log without this package knowing their types.
//
// Beside the log there is a small keyed table (buckets of key → value) for
// work that must survive a restart but is not history: commands in flight,
// the case connector's outbox.
//
// An append is acknowledged only when it is on disk: the embedded
// implementation is SQLite (modernc.org/sqlite, pure Go) in WAL mode with
// synchronous=FULL. Concurrent appenders are grouped into one transaction
// (one fsync) by a single writer goroutine. Store is the interface both
// implementations satisfy: the SQLite Log and the PostgreSQL PG
// (postgres.go; server.store), whose rows carry the hall id so halls can
// share a database. storetest holds the behaviour every implementation
// must show.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Callers branch on these with errors.Is.
var (
	// ErrNotFound: no such key, record or snapshot.
	ErrNotFound = errors.New("not found")
	// ErrDuplicateKey: a record with the same non-empty Key is already in
	// its stream. The error is a *DuplicateKeyError naming the existing seq.
	ErrDuplicateKey = errors.New("duplicate record key")
	// ErrInvalid: a record, bucket, key or snapshot argument is not valid.
	ErrInvalid = errors.New("invalid argument")
	// ErrClosed: the log has been closed.
	ErrClosed = errors.New("event log closed")
	// ErrLocked: another process holds the log open.
	ErrLocked = errors.New("event log in use by another process")
	// ErrSchema: the file was written by a newer version, or is not an event log.
	ErrSchema = errors.New("unsupported event log schema")
)

// Code returns a short stable code for err, for logs and metrics labels.
func Code(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrFenced):
		return "fenced"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrDuplicateKey):
		return "duplicate_key"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.Is(err, ErrLocked):
		return "locked"
	case errors.Is(err, ErrSchema):
		return "schema"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	default:
		return "io"
	}
}

// DuplicateKeyError is returned (wrapped) when an append meets a record that
// is already in the log under the same stream and key. Nothing of the batch
// it was part of is written.
type DuplicateKeyError struct {
	Stream, Key string
	Seq         int64 // the record already in the log
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("%v: stream %q key %q is already record %d", ErrDuplicateKey, e.Stream, e.Key, e.Seq)
}

// Unwrap makes errors.Is(err, ErrDuplicateKey) true.
func (e *DuplicateKeyError) Unwrap() error { return ErrDuplicateKey }

// Record is one entry of the log.
type Record struct {
	// Seq is assigned by the log on append: positive, strictly increasing
	// across all streams, never reused. Ignored on append.
	Seq int64
	// At is when the record was made; zero means "now" by the log's clock.
	// Stored with nanosecond precision, returned in UTC.
	At time.Time
	// Stream groups records by owner: "queue", "bus", "audit". Required.
	Stream string
	// Type names the record's kind within its stream, e.g. "ticket-issued". Required.
	Type string
	// Key is optional; when set it is unique within the stream (an event or
	// command id), which makes appends idempotent: see ErrDuplicateKey.
	Key string
	// Data is the payload, opaque to the log (JSON by convention).
	// Never put raw ID numbers or full names here.
	Data []byte
}

// Validate reports what is wrong with a record about to be appended.
func (r *Record) Validate() error {
	switch {
	case r.Stream == "":
		return fmt.Errorf("%w: record without stream", ErrInvalid)
	case r.Type == "":
		return fmt.Errorf("%w: record in stream %q without type", ErrInvalid, r.Stream)
	case len(r.Stream) > MaxNameLen || len(r.Type) > MaxNameLen || len(r.Key) > MaxNameLen:
		return fmt.Errorf("%w: stream, type or key longer than %d bytes", ErrInvalid, MaxNameLen)
	}
	return nil
}

// MaxNameLen bounds streams, types, keys and buckets.
const MaxNameLen = 256

// Snapshot is a projection's state serialised by its owner, valid for all
// records of its stream up to and including Upto.
type Snapshot struct {
	Stream string
	Upto   int64
	At     time.Time
	Data   []byte
}

// KV is one entry of a bucket.
type KV struct {
	Key string
	Val []byte
}

// Batch is a set of writes committed atomically by Store.Commit: records
// appended and bucket entries put or deleted, all or nothing. The zero
// value is an empty batch.
type Batch struct {
	ops  []op
	nrec int
}

type opKind uint8

const (
	opAppend opKind = iota
	opPut
	opDelete
)

type op struct {
	kind        opKind
	rec         Record
	bucket, key string
	val         []byte
}

// Append adds records to the batch, in order.
func (b *Batch) Append(recs ...Record) *Batch {
	for _, r := range recs {
		b.ops = append(b.ops, op{kind: opAppend, rec: r})
		b.nrec++
	}
	return b
}

// Put sets bucket/key to val in the batch.
func (b *Batch) Put(bucket, key string, val []byte) *Batch {
	b.ops = append(b.ops, op{kind: opPut, bucket: bucket, key: key, val: val})
	return b
}

// Delete removes bucket/key in the batch; deleting a missing key is not an error.
func (b *Batch) Delete(bucket, key string) *Batch {
	b.ops = append(b.ops, op{kind: opDelete, bucket: bucket, key: key})
	return b
}

// Len is the number of writes in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// appended adds the batch's records, with their sequence numbers (and the
// commit time where At was zero), to dst.
func (b *Batch) appended(dst []Record, seqs []int64, now time.Time) []Record {
	i := 0
	for _, o := range b.ops {
		if o.kind != opAppend || i >= len(seqs) {
			continue
		}
		r := o.rec
		r.Seq = seqs[i]
		if r.At.IsZero() {
			r.At = now
		}
		dst = append(dst, r)
		i++
	}
	return dst
}

// Records is the number of records the batch appends.
func (b *Batch) Records() int { return b.nrec }

func (b *Batch) validate() error {
	for i := range b.ops {
		o := &b.ops[i]
		if o.kind == opAppend {
			if err := o.rec.Validate(); err != nil {
				return err
			}
			continue
		}
		if err := checkBucketKey(o.bucket, o.key); err != nil {
			return err
		}
	}
	return nil
}

func checkBucketKey(bucket, key string) error {
	switch {
	case bucket == "":
		return fmt.Errorf("%w: empty bucket", ErrInvalid)
	case key == "":
		return fmt.Errorf("%w: empty key in bucket %q", ErrInvalid, bucket)
	case len(bucket) > MaxNameLen || len(key) > MaxNameLen:
		return fmt.Errorf("%w: bucket or key longer than %d bytes", ErrInvalid, MaxNameLen)
	}
	return nil
}

// Store is the event log and its keyed table. *Log (SQLite) and *PG
// (PostgreSQL) implement it. Every method is safe for concurrent
// use. Writes return only once durable.
type Store interface {
	// Commit applies a batch atomically and durably, returning the seqs
	// of its records in order. On error nothing of the batch is written
	// (a *DuplicateKeyError names the conflicting record). If ctx ends
	// before the reply the outcome is unknown: retry with the same Keys.
	Commit(ctx context.Context, b *Batch) ([]int64, error)
	// Append is Commit of a batch holding only recs.
	Append(ctx context.Context, recs ...Record) ([]int64, error)
	// Read calls fn for each record of stream ("" = all streams) with
	// Seq > afterSeq, in Seq order, until fn returns an error (returned
	// as is). fn may call the store.
	Read(ctx context.Context, stream string, afterSeq int64, fn func(Record) error) error
	// LastSeq is the highest Seq in stream ("" = any stream), 0 if none.
	LastSeq(ctx context.Context, stream string) (int64, error)
	// ByKey finds the record of stream with key; ErrNotFound if none.
	ByKey(ctx context.Context, stream, key string) (Record, error)

	// SaveSnapshot stores a projection of stream valid up to uptoSeq, which
	// must not exceed LastSeq. Older snapshots of the stream are pruned.
	SaveSnapshot(ctx context.Context, stream string, uptoSeq int64, data []byte) error
	// LatestSnapshot is the snapshot of stream with the highest Upto;
	// ErrNotFound if there is none. Replay then reads after Upto.
	LatestSnapshot(ctx context.Context, stream string) (Snapshot, error)

	// Put, Get, Delete and List work on the keyed table. Get returns
	// ErrNotFound for a missing key; List is in key order.
	Put(ctx context.Context, bucket, key string, val []byte) error
	Get(ctx context.Context, bucket, key string) ([]byte, error)
	Delete(ctx context.Context, bucket, key string) error
	List(ctx context.Context, bucket string) ([]KV, error)

	// Close waits for writes already submitted, then releases the store.
	Close() error
}

// Replay rebuilds a projection of stream: it hands the latest snapshot (if
// any) to restore, then every later record of the stream to apply, in
// order. It returns the seq of the last record applied, or the snapshot's
// Upto when no record follows it (0 for an empty stream); that is the
// uptoSeq for the projection's next SaveSnapshot.
func Replay(ctx context.Context, s Store, stream string, restore func(Snapshot) error, apply func(Record) error) (int64, error) {
	var after int64
	snap, err := s.LatestSnapshot(ctx, stream)
	switch {
	case err == nil:
		if err := restore(snap); err != nil {
			return 0, fmt.Errorf("replay %s: restore snapshot up to %d: %w", stream, snap.Upto, err)
		}
		after = snap.Upto
	case errors.Is(err, ErrNotFound):
	default:
		return 0, fmt.Errorf("replay %s: %w", stream, err)
	}
	last := after
	err = s.Read(ctx, stream, after, func(r Record) error {
		if err := apply(r); err != nil {
			return fmt.Errorf("replay %s: record %d (%s): %w", stream, r.Seq, r.Type, err)
		}
		last = r.Seq
		return nil
	})
	return last, err
}
