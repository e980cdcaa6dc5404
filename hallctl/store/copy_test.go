package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/pgtest"
)

func dumpAll(t *testing.T, s store.Store) ([]store.Record, []store.KV) {
	t.Helper()
	var recs []store.Record
	if err := s.Read(context.Background(), "", 0, func(r store.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	kv, err := s.List(context.Background(), "inflight")
	if err != nil {
		t.Fatal(err)
	}
	return recs, kv
}

// SQLite → PostgreSQL → SQLite keeps every record (seq, time, stream,
// type, key, data), the snapshots and the buckets.
func TestCopyRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := store.Open(ctx, filepath.Join(dir, "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	at := time.Date(2026, 12, 1, 9, 0, 0, 123456789, time.UTC)
	for i := range 2500 {
		r := store.Record{At: at.Add(time.Duration(i) * time.Second), Stream: []string{"queue", "bus", "audit"}[i%3], Type: "t",
			Data: []byte(fmt.Sprintf(`{"i":%d}`, i))}
		if i%2 == 0 {
			r.Key = fmt.Sprint("k", i)
		}
		if _, err := src.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.SaveSnapshot(ctx, "queue", 1200, []byte("snap")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"b", "a", "c"} {
		if err := src.Put(ctx, "inflight", k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	pg := openPG(t, pgtest.DSN(t), store.Options{Hall: "copy"})
	got, err := store.Copy(ctx, src, pg)
	if err != nil {
		t.Fatal(err)
	}
	if got.Records != 2500 || got.LastSeq != 2500 || got.Snapshots != 1 || got.KV != 3 {
		t.Errorf("copied %+v", got)
	}
	back, err := store.Open(ctx, filepath.Join(dir, "b.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if _, err := store.Copy(ctx, pg, back); err != nil {
		t.Fatal(err)
	}
	wantRecs, wantKV := dumpAll(t, src)
	for name, s := range map[string]store.Store{"postgres": pg, "sqlite again": back} {
		recs, kv := dumpAll(t, s)
		if !reflect.DeepEqual(recs, wantRecs) {
			t.Errorf("%s: records differ (%d vs %d)", name, len(recs), len(wantRecs))
		}
		if !reflect.DeepEqual(kv, wantKV) {
			t.Errorf("%s: buckets = %v, want %v", name, kv, wantKV)
		}
		if snap, err := s.LatestSnapshot(ctx, "queue"); err != nil || snap.Upto != 1200 || string(snap.Data) != "snap" {
			t.Errorf("%s: snapshot = %+v, %v", name, snap, err)
		}
	}
	// The copy goes on where the source stopped, and keys stay unique.
	if seqs, err := pg.Append(ctx, store.Record{Stream: "queue", Type: "t"}); err != nil || seqs[0] != 2501 {
		t.Errorf("append after copy = %v, %v; want seq 2501", seqs, err)
	}
	if _, err := back.Append(ctx, store.Record{Stream: "queue", Type: "t", Key: "k0"}); !errors.Is(err, store.ErrDuplicateKey) {
		t.Errorf("duplicate key after copy: %v", err)
	}
	// A non-empty target is refused.
	if _, err := store.Copy(ctx, src, pg); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("copy into a non-empty store: %v, want ErrInvalid", err)
	}
}
