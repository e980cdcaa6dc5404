// Package storetest is the behaviour every store.Store implementation must
// show: the SQLite log and the PostgreSQL log (each test in a schema of its own) run it.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
)

// Opener makes a fresh, empty store for one subtest. The suite closes it.
type Opener func(t *testing.T) store.Store

// Run runs the conformance suite against stores made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"AppendRead", testAppendRead},
		{"StreamsAndAfter", testStreamsAndAfter},
		{"DuplicateKey", testDuplicateKey},
		{"InvalidRecord", testInvalidRecord},
		{"BatchAtomic", testBatchAtomic},
		{"KV", testKV},
		{"Snapshots", testSnapshots},
		{"ConcurrentAppend", testConcurrentAppend},
		{"ReadPaging", testReadPaging},
		{"ReadStopsOnError", testReadStops},
		{"Replay", testReplay},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
}

func readAll(t *testing.T, s store.Store, stream string, after int64) []store.Record {
	t.Helper()
	var out []store.Record
	if err := s.Read(context.Background(), stream, after, func(r store.Record) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("Read(%q, %d): %v", stream, after, err)
	}
	return out
}

func testAppendRead(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 21, 9, 30, 0, 123456789, time.FixedZone("CST", 8*3600))
	seqs, err := s.Append(ctx,
		store.Record{At: at, Stream: "queue", Type: "ticket-issued", Key: "k1", Data: []byte(`{"n":"A001"}`)},
		store.Record{At: at, Stream: "queue", Type: "ticket-called"},
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 2 || seqs[0] <= 0 || seqs[1] != seqs[0]+1 {
		t.Fatalf("seqs = %v, want two consecutive positive seqs", seqs)
	}
	got := readAll(t, s, "queue", 0)
	if len(got) != 2 {
		t.Fatalf("read %d records, want 2", len(got))
	}
	r := got[0]
	if r.Seq != seqs[0] || r.Stream != "queue" || r.Type != "ticket-issued" || r.Key != "k1" ||
		string(r.Data) != `{"n":"A001"}` || !r.At.Equal(at) || r.At.Location() != time.UTC {
		t.Errorf("record = %+v", r)
	}
	if got[1].Data == nil {
		// nil and empty both read back as empty; only the length matters
		t.Log("empty data reads back as nil")
	}
	if len(got[1].Data) != 0 {
		t.Errorf("data of record without data = %q", got[1].Data)
	}
	last, err := s.LastSeq(ctx, "")
	if err != nil || last != seqs[1] {
		t.Errorf("LastSeq = %d, %v; want %d", last, err, seqs[1])
	}
	if got, err := s.ByKey(ctx, "queue", "k1"); err != nil || got.Seq != seqs[0] {
		t.Errorf("ByKey = %+v, %v", got, err)
	}
	if _, err := s.ByKey(ctx, "queue", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ByKey(missing) err = %v, want ErrNotFound", err)
	}
	// Zero At is stamped by the store.
	seqs, err = s.Append(ctx, store.Record{Stream: "audit", Type: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, "audit", 0); len(got) != 1 || got[0].At.IsZero() || got[0].Seq != seqs[0] {
		t.Errorf("stamped record = %+v", got)
	}
}

func testStreamsAndAfter(t *testing.T, s store.Store) {
	ctx := context.Background()
	var want []int64
	for i := range 10 {
		stream := []string{"queue", "bus"}[i%2]
		seqs, err := s.Append(ctx, store.Record{Stream: stream, Type: "t", Data: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, seqs[0])
	}
	all := readAll(t, s, "", 0)
	if len(all) != 10 {
		t.Fatalf("all streams: %d records", len(all))
	}
	for i, r := range all {
		if r.Seq != want[i] || r.Data[0] != byte(i) {
			t.Errorf("record %d = seq %d data %v, want seq %d", i, r.Seq, r.Data, want[i])
		}
	}
	q := readAll(t, s, "queue", want[4])
	if len(q) != 2 || q[0].Seq != want[6] || q[1].Seq != want[8] {
		t.Errorf("queue after %d = %v", want[4], q)
	}
	if last, _ := s.LastSeq(ctx, "bus"); last != want[9] {
		t.Errorf("LastSeq(bus) = %d, want %d", last, want[9])
	}
	if last, _ := s.LastSeq(ctx, "none"); last != 0 {
		t.Errorf("LastSeq(none) = %d, want 0", last)
	}
}

func testDuplicateKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	seqs, err := s.Append(ctx, store.Record{Stream: "bus", Type: "evt", Key: "id-1"})
	if err != nil {
		t.Fatal(err)
	}
	// Same key in another stream is fine.
	if _, err := s.Append(ctx, store.Record{Stream: "queue", Type: "evt", Key: "id-1"}); err != nil {
		t.Fatalf("same key in another stream: %v", err)
	}
	_, err = s.Append(ctx,
		store.Record{Stream: "bus", Type: "evt", Key: "id-2"},
		store.Record{Stream: "bus", Type: "evt", Key: "id-1"},
	)
	var dup *store.DuplicateKeyError
	if !errors.Is(err, store.ErrDuplicateKey) || !errors.As(err, &dup) || dup.Seq != seqs[0] || dup.Key != "id-1" {
		t.Fatalf("err = %v, want DuplicateKeyError for seq %d", err, seqs[0])
	}
	if _, err := s.ByKey(ctx, "bus", "id-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("id-2 written despite failed batch: %v", err)
	}
	// Duplicate within one batch.
	_, err = s.Append(ctx,
		store.Record{Stream: "bus", Type: "evt", Key: "id-3"},
		store.Record{Stream: "bus", Type: "evt", Key: "id-3"},
	)
	if !errors.Is(err, store.ErrDuplicateKey) {
		t.Fatalf("duplicate in one batch: err = %v", err)
	}
	if _, err := s.ByKey(ctx, "bus", "id-3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("id-3 written despite failed batch: %v", err)
	}
	// Empty keys never collide.
	if _, err := s.Append(ctx, store.Record{Stream: "bus", Type: "a"}, store.Record{Stream: "bus", Type: "b"}); err != nil {
		t.Errorf("records without key: %v", err)
	}
}

func testInvalidRecord(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, r := range []store.Record{
		{Type: "t"},
		{Stream: "s"},
		{Stream: string(bytes.Repeat([]byte("x"), store.MaxNameLen+1)), Type: "t"},
	} {
		if _, err := s.Append(ctx, r); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Append(%.20q/%q) err = %v, want ErrInvalid", r.Stream, r.Type, err)
		}
	}
	if err := s.Put(ctx, "", "k", nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Put empty bucket: %v", err)
	}
	if err := s.Put(ctx, "b", "", nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Put empty key: %v", err)
	}
	if seqs, err := s.Append(ctx); err != nil || len(seqs) != 0 {
		t.Errorf("empty Append = %v, %v", seqs, err)
	}
	if last, _ := s.LastSeq(ctx, ""); last != 0 {
		t.Errorf("invalid appends wrote something: last seq %d", last)
	}
}

func testBatchAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.Put(ctx, "inflight", "cmd-1", []byte("print")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, store.Record{Stream: "bus", Type: "ack", Key: "ack-1"}); err != nil {
		t.Fatal(err)
	}
	// The ack is recorded and the command leaves the in-flight bucket together,
	// or not at all.
	var b store.Batch
	b.Append(store.Record{Stream: "bus", Type: "ack", Key: "ack-2"}).
		Delete("inflight", "cmd-1").
		Put("inflight", "cmd-2", []byte("speak")).
		Append(store.Record{Stream: "bus", Type: "ack", Key: "ack-1"}) // duplicate: fails the batch
	if _, err := s.Commit(ctx, &b); !errors.Is(err, store.ErrDuplicateKey) {
		t.Fatalf("Commit err = %v, want ErrDuplicateKey", err)
	}
	if v, err := s.Get(ctx, "inflight", "cmd-1"); err != nil || string(v) != "print" {
		t.Errorf("cmd-1 after failed batch = %q, %v", v, err)
	}
	if _, err := s.Get(ctx, "inflight", "cmd-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cmd-2 after failed batch: %v", err)
	}
	var ok store.Batch
	ok.Append(store.Record{Stream: "bus", Type: "ack", Key: "ack-2"}).Delete("inflight", "cmd-1")
	seqs, err := s.Commit(ctx, &ok)
	if err != nil || len(seqs) != 1 {
		t.Fatalf("Commit = %v, %v", seqs, err)
	}
	if _, err := s.Get(ctx, "inflight", "cmd-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cmd-1 after batch: %v", err)
	}
}

func testKV(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "b", "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get missing: %v", err)
	}
	if l, err := s.List(ctx, "b"); err != nil || len(l) != 0 {
		t.Errorf("List empty = %v, %v", l, err)
	}
	for _, k := range []string{"c", "a", "b"} {
		if err := s.Put(ctx, "b", k, []byte("v-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "other", "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "b", "a", []byte("v-a2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "b", "empty", nil); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, "b", "empty"); err != nil || v == nil || len(v) != 0 {
		t.Errorf("Get empty value = %q (nil %v), %v", v, v == nil, err)
	}
	if err := s.Delete(ctx, "b", "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "b", "never"); err != nil {
		t.Errorf("Delete missing: %v", err)
	}
	l, err := s.List(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(l)
	if want := fmt.Sprint([]store.KV{{Key: "a", Val: []byte("v-a2")}, {Key: "b", Val: []byte("v-b")}, {Key: "empty", Val: []byte{}}}); got != want {
		t.Errorf("List = %s, want %s", got, want)
	}
}

func testSnapshots(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.LatestSnapshot(ctx, "queue"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LatestSnapshot on empty: %v", err)
	}
	if err := s.SaveSnapshot(ctx, "queue", 1, []byte("x")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("snapshot past the end: %v, want ErrInvalid", err)
	}
	var last int64
	for i := range 5 {
		seqs, err := s.Append(ctx, store.Record{Stream: "queue", Type: "t"})
		if err != nil {
			t.Fatal(err)
		}
		last = seqs[0]
		if err := s.SaveSnapshot(ctx, "queue", last, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveSnapshot(ctx, "bus", 2, []byte("bus")); err != nil {
		t.Fatal(err)
	}
	snap, err := s.LatestSnapshot(ctx, "queue")
	if err != nil || snap.Upto != last || !bytes.Equal(snap.Data, []byte{4}) || snap.Stream != "queue" || snap.At.IsZero() {
		t.Errorf("LatestSnapshot = %+v, %v; want upto %d data [4]", snap, err, last)
	}
	if snap, err := s.LatestSnapshot(ctx, "bus"); err != nil || snap.Upto != 2 {
		t.Errorf("bus snapshot = %+v, %v", snap, err)
	}
	if got := readAll(t, s, "queue", snap.Upto); len(got) != 0 {
		t.Errorf("records after the latest snapshot: %d", len(got))
	}
}

func testConcurrentAppend(t *testing.T, s store.Store) {
	ctx := context.Background()
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	acked := make([][]int64, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				seqs, err := s.Append(ctx, store.Record{Stream: "queue", Type: "t", Key: fmt.Sprintf("w%d-%d", w, i),
					Data: []byte{byte(w), byte(i)}})
				if err != nil {
					errs <- err
					return
				}
				acked[w] = append(acked[w], seqs[0])
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	recs := readAll(t, s, "queue", 0)
	if len(recs) != writers*each {
		t.Fatalf("%d records, want %d", len(recs), writers*each)
	}
	bySeq := map[int64]store.Record{}
	for i, r := range recs {
		if i > 0 && r.Seq <= recs[i-1].Seq {
			t.Fatalf("seqs out of order at %d: %d after %d", i, r.Seq, recs[i-1].Seq)
		}
		bySeq[r.Seq] = r
	}
	for w, seqs := range acked {
		for i, seq := range seqs {
			r, ok := bySeq[seq]
			if !ok || r.Data[0] != byte(w) || r.Data[1] != byte(i) {
				t.Errorf("writer %d record %d: acked seq %d holds %+v", w, i, seq, r)
			}
			if i > 0 && seq <= seqs[i-1] {
				t.Errorf("writer %d: seq %d after %d", w, seq, seqs[i-1])
			}
		}
	}
}

func testReadPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 1300
	recs := make([]store.Record, n)
	for i := range recs {
		recs[i] = store.Record{Stream: "queue", Type: "t", Data: []byte(fmt.Sprint(i))}
	}
	if _, err := s.Append(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	i := 0
	err := s.Read(ctx, "queue", 0, func(r store.Record) error {
		if string(r.Data) != fmt.Sprint(i) {
			return fmt.Errorf("record %d holds %q", i, r.Data)
		}
		i++
		// fn may write to the store while reading.
		if i%500 == 0 {
			if _, err := s.Append(ctx, store.Record{Stream: "bus", Type: "t"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || i != n {
		t.Fatalf("read %d of %d: %v", i, n, err)
	}
}

func testReadStops(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Append(ctx, store.Record{Stream: "q", Type: "t"}, store.Record{Stream: "q", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	n := 0
	err := s.Read(ctx, "q", 0, func(store.Record) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("Read = %v after %d calls, want the fn's error after 1", err, n)
	}
}

func testClosed(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Append(ctx, store.Record{Stream: "q", Type: "t"}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if err := s.Read(ctx, "", 0, func(store.Record) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := s.Get(ctx, "b", "k"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
}

func testReplay(t *testing.T, s store.Store) {
	ctx := context.Background()
	restored := 0
	restore := func(store.Snapshot) error { restored++; return nil }
	var applied []int64
	apply := func(r store.Record) error { applied = append(applied, r.Seq); return nil }
	if last, err := store.Replay(ctx, s, "queue", restore, apply); err != nil || last != 0 || restored != 0 || len(applied) != 0 {
		t.Fatalf("empty replay = %d, %v (restored %d, applied %v)", last, err, restored, applied)
	}
	var seqs []int64
	for range 4 {
		got, err := s.Append(ctx, store.Record{Stream: "queue", Type: "t"}, store.Record{Stream: "bus", Type: "t"})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, got[0])
	}
	if last, err := store.Replay(ctx, s, "queue", restore, apply); err != nil || last != seqs[3] || restored != 0 || len(applied) != 4 {
		t.Fatalf("replay without snapshot = %d, %v (restored %d, applied %v)", last, err, restored, applied)
	}
	if err := s.SaveSnapshot(ctx, "queue", seqs[1], []byte("s")); err != nil {
		t.Fatal(err)
	}
	applied = nil
	if last, err := store.Replay(ctx, s, "queue", restore, apply); err != nil || last != seqs[3] || restored != 1 ||
		fmt.Sprint(applied) != fmt.Sprint(seqs[2:]) {
		t.Fatalf("replay from snapshot = %d, %v (restored %d, applied %v, want %v)", last, err, restored, applied, seqs[2:])
	}
	boom := errors.New("boom")
	if _, err := store.Replay(ctx, s, "queue", restore, func(store.Record) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("apply error: %v", err)
	}
	if _, err := store.Replay(ctx, s, "queue", func(store.Snapshot) error { return boom }, apply); !errors.Is(err, boom) {
		t.Errorf("restore error: %v", err)
	}
}
