package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/servicehall/servicehall/wire"
)

var t0 = time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOutboxOrderSeqAndReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	sess := s.Session()
	for i := 0; i < 5; i++ {
		m, err := s.Append(ctx, "t/x", t0, json.RawMessage(`{"n":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if m.Seq != uint64(i+1) || m.Session != sess || !wire.ValidUUID(m.ID) {
			t.Fatalf("event %d = %+v", i, m)
		}
	}
	ps, err := s.Peek(ctx, 0, 3)
	if err != nil || len(ps) != 3 {
		t.Fatalf("peek %d %v", len(ps), err)
	}
	if err := s.DeleteThrough(ctx, ps[1].Key); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2 := open(t, dir)
	if s2.Session() != sess {
		t.Fatalf("session changed across reopen: %s → %s", sess, s2.Session())
	}
	ps, err = s2.Peek(ctx, 0, 10)
	if err != nil || len(ps) != 3 {
		t.Fatalf("after reopen %d pending, %v", len(ps), err)
	}
	var seqs []uint64
	for _, p := range ps {
		e, err := wire.DecodeEvent(p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
	if seqs[0] != 3 || seqs[2] != 5 {
		t.Fatalf("pending seqs %v", seqs)
	}
	m, err := s2.Append(ctx, "t/x", t0, json.RawMessage(`{}`))
	if err != nil || m.Seq != 6 {
		t.Fatalf("next seq after reopen = %d, %v", m.Seq, err)
	}
	if n, _ := s2.Len(ctx); n != 4 {
		t.Fatalf("len = %d", n)
	}
}

func TestLedgerInterruptedAndPrune(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	id1, id2, id3 := wire.NewID(t0), wire.NewID(t0), wire.NewID(t0)
	if err := s.Finish(ctx, "p1", wire.AckMsg{ID: id1, Status: wire.AckDone}, t0.Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, "p1", wire.AckMsg{ID: id2, Status: wire.AckFailed, Code: "paper_out"}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(ctx, id3, "p1", t0); err != nil { // then the process dies
		t.Fatal(err)
	}
	s.Close()

	s2 := open(t, dir)
	es, err := s2.LoadCommands(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e := es[id3]; e.State != StateDone || e.Ack.Status != wire.AckFailed || e.Ack.Code != CodeInterrupted || e.Ack.ID != id3 {
		t.Fatalf("interrupted entry = %+v", e)
	}
	if e := es[id2]; e.Ack != (wire.AckMsg{ID: id2, Status: wire.AckFailed, Code: "paper_out"}) {
		t.Fatalf("stored ack = %+v", e.Ack)
	}
	gone, err := s2.Prune(ctx, t0.Add(-24*time.Hour), 10)
	if err != nil || len(gone) != 1 || gone[0] != id1 {
		t.Fatalf("prune by age: %v %v", gone, err)
	}
	gone, err = s2.Prune(ctx, t0.Add(-24*time.Hour), 1)
	if err != nil || len(gone) != 1 {
		t.Fatalf("prune by count: %v %v", gone, err)
	}
	es, _ = s2.LoadCommands(ctx)
	if len(es) != 1 {
		t.Fatalf("%d entries left", len(es))
	}
}
