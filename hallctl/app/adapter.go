package app

import (
	"context"
	"errors"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/store"
)

// storeAdapter gives the controller its Log and KV views of the store.
type storeAdapter struct{ s *store.Log }

func (a storeAdapter) Append(ctx context.Context, recs ...ctl.LogRecord) ([]int64, error) {
	rs := make([]store.Record, len(recs))
	for i, r := range recs {
		rs[i] = store.Record{At: r.At, Stream: r.Stream, Type: r.Type, Key: r.Key, Data: r.Data}
	}
	return a.s.Append(ctx, rs...)
}

func (a storeAdapter) Commit(ctx context.Context, recs []ctl.LogRecord, ops []ctl.KVOp) error {
	var b store.Batch
	for _, r := range recs {
		b.Append(store.Record{At: r.At, Stream: r.Stream, Type: r.Type, Key: r.Key, Data: r.Data})
	}
	for _, op := range ops {
		if op.Delete {
			b.Delete(op.Bucket, op.Key)
		} else {
			b.Put(op.Bucket, op.Key, op.Val)
		}
	}
	_, err := a.s.Commit(ctx, &b)
	return err
}

func (a storeAdapter) Read(ctx context.Context, stream string, from int64, fn func(ctl.LogRecord) error) error {
	return a.s.Read(ctx, stream, from, func(r store.Record) error {
		return fn(ctl.LogRecord{Seq: r.Seq, At: r.At, Stream: r.Stream, Type: r.Type, Key: r.Key, Data: r.Data})
	})
}

func (a storeAdapter) Put(ctx context.Context, bucket, key string, val []byte) error {
	return a.s.Put(ctx, bucket, key, val)
}

func (a storeAdapter) Get(ctx context.Context, bucket, key string) ([]byte, bool, error) {
	v, err := a.s.Get(ctx, bucket, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	return v, err == nil, err
}

func (a storeAdapter) Delete(ctx context.Context, bucket, key string) error {
	return a.s.Delete(ctx, bucket, key)
}

func (a storeAdapter) List(ctx context.Context, bucket string, fn func(string, []byte) error) error {
	kvs, err := a.s.List(ctx, bucket)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if err := fn(kv.Key, kv.Val); err != nil {
			return err
		}
	}
	return nil
}

func (a storeAdapter) SaveSnapshot(ctx context.Context, stream string, upto int64, data []byte) error {
	return a.s.SaveSnapshot(ctx, stream, upto, data)
}

func (a storeAdapter) LatestSnapshot(ctx context.Context, stream string) (int64, []byte, bool, error) {
	s, err := a.s.LatestSnapshot(ctx, stream)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, err
	}
	return s.Upto, s.Data, true, nil
}
