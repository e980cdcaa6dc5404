package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// Reader is the read side of a Store: what reports and exports need.
type Reader interface {
	Read(ctx context.Context, stream string, afterSeq int64, fn func(Record) error) error
	LastSeq(ctx context.Context, stream string) (int64, error)
	ByKey(ctx context.Context, stream, key string) (Record, error)
	LatestSnapshot(ctx context.Context, stream string) (Snapshot, error)
	Get(ctx context.Context, bucket, key string) ([]byte, error)
	List(ctx context.Context, bucket string) ([]KV, error)
	Close() error
}

var _ Reader = Store(nil)

// ReadOnly is an event log opened for reading only (OpenReadOnly).
type ReadOnly struct{ l *Log }

var _ Reader = (*ReadOnly)(nil)

// OpenReadOnly opens the event log at path for reading, beside a running
// hallctl: it takes no lock, never writes (query_only, read-only mode) and
// reads the WAL as SQLite shares it. The file must exist.
func OpenReadOnly(ctx context.Context, path string) (*ReadOnly, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	o := DefaultOptions()
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "query_only(ON)")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open event log %s read-only: %w", abs, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open event log %s read-only: %w", abs, err)
	}
	var ver int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		db.Close()
		return nil, fmt.Errorf("open event log %s read-only: %w", abs, err)
	}
	if ver == 0 || ver > schemaVersion {
		db.Close()
		return nil, fmt.Errorf("open event log %s read-only: %w: version %d", abs, ErrSchema, ver)
	}
	return &ReadOnly{l: &Log{path: abs, opts: o, log: o.Logger, clock: o.Clock, rdb: db}}, nil
}

// Read calls fn for each record of stream ("" = all) after afterSeq, in order.
func (r *ReadOnly) Read(ctx context.Context, stream string, afterSeq int64, fn func(Record) error) error {
	return r.l.Read(ctx, stream, afterSeq, fn)
}

// LastSeq is the highest seq in stream ("" = any), 0 when empty.
func (r *ReadOnly) LastSeq(ctx context.Context, stream string) (int64, error) {
	return r.l.LastSeq(ctx, stream)
}

// ByKey finds the record of stream with key.
func (r *ReadOnly) ByKey(ctx context.Context, stream, key string) (Record, error) {
	return r.l.ByKey(ctx, stream, key)
}

// LatestSnapshot returns the newest snapshot of stream.
func (r *ReadOnly) LatestSnapshot(ctx context.Context, stream string) (Snapshot, error) {
	return r.l.LatestSnapshot(ctx, stream)
}

// Get reads bucket/key.
func (r *ReadOnly) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	return r.l.Get(ctx, bucket, key)
}

// List lists a bucket in key order.
func (r *ReadOnly) List(ctx context.Context, bucket string) ([]KV, error) {
	return r.l.List(ctx, bucket)
}

// Close closes the database.
func (r *ReadOnly) Close() error {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	if r.l.closed {
		return nil
	}
	r.l.closed = true
	return r.l.rdb.Close()
}
