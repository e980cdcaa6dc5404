package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/hallctl/store/storetest"
)

func openTemp(t *testing.T, opts store.Options) *store.Log {
	t.Helper()
	l, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t, store.Options{}) })
}

func TestConformanceNoGroupCommit(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t, store.Options{MaxBatch: 1}) })
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 21, 1, 2, 3, 4, time.UTC))
	l, err := store.Open(ctx, path, store.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := l.Append(ctx, store.Record{Stream: "queue", Type: "issued", Key: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "inflight", "cmd", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := l.SaveSnapshot(ctx, "queue", seqs[0], []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l, err = store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := l.ByKey(ctx, "queue", "a")
	if err != nil || r.Seq != seqs[0] || !r.At.Equal(clock.Now()) {
		t.Errorf("after reopen: %+v, %v (want at %v)", r, err, clock.Now())
	}
	if v, err := l.Get(ctx, "inflight", "cmd"); err != nil || string(v) != "x" {
		t.Errorf("kv after reopen: %q, %v", v, err)
	}
	if s, err := l.LatestSnapshot(ctx, "queue"); err != nil || string(s.Data) != "state" || !s.At.Equal(clock.Now()) {
		t.Errorf("snapshot after reopen: %+v, %v", s, err)
	}
	// Seqs keep rising after a reopen.
	next, err := l.Append(ctx, store.Record{Stream: "queue", Type: "called"})
	if err != nil || next[0] <= seqs[0] {
		t.Errorf("next seq %v, %v after %d", next, err, seqs[0])
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	l, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(ctx, path, store.Options{})
	if !errors.Is(err, store.ErrLocked) || store.Code(err) != "locked" {
		t.Fatalf("second Open err = %v, want ErrLocked", err)
	}
	l.Close()
	l2, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	l2.Close()
}

func TestOpenRejects(t *testing.T) {
	ctx := context.Background()
	if _, err := store.Open(ctx, "", store.Options{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty path: %v", err)
	}
	if _, err := store.Open(ctx, filepath.Join(t.TempDir(), "no", "such", "dir", "e.db"), store.Options{}); err == nil {
		t.Error("missing directory: no error")
	}
	// A newer schema is refused.
	path := filepath.Join(t.TempDir(), "events.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := store.Open(ctx, path, store.Options{}); !errors.Is(err, store.ErrSchema) {
		t.Errorf("newer schema: %v, want ErrSchema", err)
	}
}

func TestSnapshotPruning(t *testing.T) {
	ctx := context.Background()
	l := openTemp(t, store.Options{KeepSnapshots: 2})
	for i := range 5 {
		seqs, err := l.Append(ctx, store.Record{Stream: "queue", Type: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SaveSnapshot(ctx, "queue", seqs[0], []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	path := l.Path()
	l.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM snapshots").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d snapshots kept, want 2", n)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
}

// A group with one failing request commits the others.
func TestGroupIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	l := openTemp(t, store.Options{})
	defer l.Close()
	if _, err := l.Append(ctx, store.Record{Stream: "bus", Type: "t", Key: "taken"}); err != nil {
		t.Fatal(err)
	}
	const n = 64
	type res struct {
		i   int
		err error
	}
	out := make(chan res, n)
	for i := range n {
		go func() {
			key := ""
			if i%4 == 0 {
				key = "taken"
			}
			_, err := l.Append(ctx, store.Record{Stream: "bus", Type: "t", Key: key})
			out <- res{i, err}
		}()
	}
	fails := 0
	for range n {
		r := <-out
		switch {
		case r.i%4 == 0 && !errors.Is(r.err, store.ErrDuplicateKey):
			t.Errorf("append %d: %v, want ErrDuplicateKey", r.i, r.err)
		case r.i%4 != 0 && r.err != nil:
			t.Errorf("append %d: %v", r.i, r.err)
		}
		if r.err != nil {
			fails++
		}
	}
	last, _ := l.LastSeq(ctx, "bus")
	count := 0
	l.Read(ctx, "bus", 0, func(store.Record) error { count++; return nil })
	if count != 1+n-fails || fails != n/4 {
		t.Errorf("%d records (last seq %d) with %d failures, want %d records", count, last, fails, 1+n-n/4)
	}
}

func TestCanceledContext(t *testing.T) {
	l := openTemp(t, store.Options{})
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, store.Record{Stream: "q", Type: "t"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with canceled ctx: %v", err)
	}
}

func TestStatsAndCollector(t *testing.T) {
	ctx := context.Background()
	l := openTemp(t, store.Options{})
	defer l.Close()
	l.Append(ctx, store.Record{Stream: "q", Type: "t", Key: "a"}, store.Record{Stream: "q", Type: "t"})
	l.Append(ctx, store.Record{Stream: "q", Type: "t", Key: "a"}) // duplicate
	l.Put(ctx, "b", "k", nil)
	s := l.Stats()
	if s.Records != 2 || s.Commits != 2 || s.Transactions != 2 || s.Failed != 1 {
		t.Errorf("stats = %+v", s)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(l.Collector())
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 4 {
		t.Fatalf("gather: %d families, %v", len(mfs), err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "servicehall_eventlog_records_total" && mf.GetMetric()[0].GetCounter().GetValue() != 2 {
			t.Errorf("records_total = %v", mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
}
