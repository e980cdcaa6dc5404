package ctl

import (
	"context"
	"time"
)

// Log is the durable event log as the controller uses it (hallctl/store
// provides it). Append returns once the records are on disk.
type Log interface {
	Append(ctx context.Context, recs ...LogRecord) ([]int64, error)
	Read(ctx context.Context, stream string, fromSeq int64, fn func(LogRecord) error) error
}

// LogRecord is one entry of the log.
type LogRecord struct {
	Seq    int64
	At     time.Time
	Stream string
	Type   string
	Key    string
	Data   []byte
}

// KV is the controller's small keyed table (pending commands, display
// documents), durable like the log.
type KV interface {
	Put(ctx context.Context, bucket, key string, val []byte) error
	Get(ctx context.Context, bucket, key string) ([]byte, bool, error)
	Delete(ctx context.Context, bucket, key string) error
	List(ctx context.Context, bucket string, fn func(key string, val []byte) error) error
}
