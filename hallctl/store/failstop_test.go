package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/tmpfs"
)

// TestFullDiskStopsWrites fills a small file system: the first write that
// cannot be made durable fails, every later one fails with ErrFailed naming
// the path and the free space, and after space returns the reopened log
// holds exactly the writes that were acknowledged.
func TestFullDiskStopsWrites(t *testing.T) {
	dir := tmpfs.Mount(t, "600k")
	ctx := context.Background()
	path := filepath.Join(dir, "hallctl.db")
	l, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(strings.Repeat("x", 2000))
	acked := map[string]bool{}
	var firstErr error
	for i := 0; i < 2000; i++ {
		key := fmt.Sprintf("k%04d", i)
		_, err := l.Append(ctx, store.Record{Stream: "queue", Type: "issued", Key: key, Data: payload})
		if err != nil {
			firstErr = err
			break
		}
		acked[key] = true
	}
	if firstErr == nil {
		t.Fatal("2000 appends of 2 KB fitted in 600 KB")
	}
	if len(acked) == 0 {
		t.Fatalf("no append succeeded: %v", firstErr)
	}
	_, err = l.Append(ctx, store.Record{Stream: "queue", Type: "issued", Key: "after"})
	if !errors.Is(err, store.ErrFailed) {
		t.Fatalf("append after a failure: %v, want ErrFailed", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "free") {
		t.Fatalf("error %q does not name the path and the free space", err)
	}
	if l.Check() == nil || l.Err() == nil {
		t.Fatal("Check/Err report a failed log as healthy")
	}
	l.Close()

	tmpfs.Resize(t, dir, "8m")
	l, err = store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatalf("reopen after space returned: %v", err)
	}
	defer l.Close()
	got := map[string]bool{}
	if err := l.Read(ctx, "queue", 0, func(r store.Record) error { got[r.Key] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(acked) {
		t.Fatalf("log holds %d records, %d were acknowledged", len(got), len(acked))
	}
	for k := range acked {
		if !got[k] {
			t.Fatalf("acknowledged record %s lost", k)
		}
	}
	if _, err := l.Append(ctx, store.Record{Stream: "queue", Type: "issued", Key: "again"}); err != nil {
		t.Fatalf("append after reopen: %v", err)
	}
}

func TestDeletedFileIsDetected(t *testing.T) {
	l := openTemp(t, store.Options{})
	defer l.Close()
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(l.Path()); err != nil {
		t.Fatal(err)
	}
	err := l.Check()
	if !errors.Is(err, store.ErrFailed) || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("Check after delete: %v", err)
	}
	if _, err := l.Append(context.Background(), store.Record{Stream: "s", Type: "t"}); !errors.Is(err, store.ErrFailed) {
		t.Fatalf("append after delete: %v, want ErrFailed", err)
	}
	if _, err := l.Submit(new(store.Batch).Append(store.Record{Stream: "s", Type: "t"})).Wait(); !errors.Is(err, store.ErrFailed) {
		t.Fatalf("submit after delete: %v, want ErrFailed", err)
	}
}

// TestSubmitKeepsOrderAndGroups: batches submitted in order under a lock
// land in that order, share transactions, and OnCommit sees every record
// once, in log order, with its sequence number.
func TestSubmitKeepsOrderAndGroups(t *testing.T) {
	l := openTemp(t, store.Options{})
	defer l.Close()
	var hookMu sync.Mutex
	var seen []store.Record
	l.OnCommit(func(recs []store.Record) {
		hookMu.Lock()
		seen = append(seen, recs...)
		hookMu.Unlock()
	})
	var order sync.Mutex
	next := 0
	var wg sync.WaitGroup
	const n = 400
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/20; i++ {
				order.Lock()
				key := fmt.Sprintf("%05d", next)
				next++
				p := l.Submit(new(store.Batch).Append(store.Record{Stream: "q", Type: "t", Key: key}).Put("b", key, []byte("v")))
				order.Unlock()
				if _, err := p.Wait(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var keys []string
	if err := l.Read(context.Background(), "q", 0, func(r store.Record) error { keys = append(keys, r.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != n {
		t.Fatalf("%d records, want %d", len(keys), n)
	}
	for i, k := range keys {
		if k != fmt.Sprintf("%05d", i) {
			t.Fatalf("record %d has key %s: submission order lost", i, k)
		}
	}
	hookMu.Lock()
	defer hookMu.Unlock()
	if len(seen) != n {
		t.Fatalf("OnCommit saw %d records, want %d", len(seen), n)
	}
	for i, r := range seen {
		if r.Key != keys[i] || r.Seq == 0 || (i > 0 && r.Seq <= seen[i-1].Seq) {
			t.Fatalf("OnCommit record %d: key %s seq %d", i, r.Key, r.Seq)
		}
	}
	if st := l.Stats(); st.Transactions >= n {
		t.Logf("no grouping happened (%d transactions for %d batches)", st.Transactions, n)
	}
}
