package casesys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/servicehall/servicehall/hallctl/store"
)

var secret = []byte("0123456789abcdef-test-secret")

// receiver is a fake case system. It verifies signatures, honours the
// idempotency key, and misbehaves on request: fail, stall, answer slowly.
type receiver struct {
	t      *testing.T
	clock  clockwork.Clock
	mu     sync.Mutex
	seen   map[string]bool
	got    []Event // each event once, in arrival order
	byCase map[string][]int64
	posts  int
	dups   int
	nonces map[string]bool
	// behave decides what the n-th POST (1-based) does: "ok", "fail",
	// "stall" (accept then hang past the client timeout), "slow", "reject".
	behave func(n int, ev Event) string
}

func newReceiver(t *testing.T, clock clockwork.Clock) (*receiver, *httptest.Server) {
	r := &receiver{t: t, clock: clock, seen: map[string]bool{}, byCase: map[string][]int64{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := Verify(req.Header, secret, r.clock.Now(), body); err != nil {
		r.t.Errorf("receiver: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	// The V2 signature binds the method and the path it was sent to:
	// the same request replayed at another path of the receiver fails.
	nonce, err := VerifyWebhook(req.Header, secret, req.Method, req.URL.EscapedPath(), r.clock.Now(), body)
	if err != nil {
		r.t.Errorf("receiver: V2: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if _, err := VerifyWebhook(req.Header, secret, req.Method, req.URL.EscapedPath()+"/other", r.clock.Now(), body); err == nil {
		r.t.Error("receiver: a V2 signature verified at another path")
	}
	r.mu.Lock()
	if r.nonces == nil {
		r.nonces = map[string]bool{}
	}
	if r.nonces[nonce] {
		r.t.Errorf("receiver: nonce %s used twice", nonce)
	}
	r.nonces[nonce] = true
	r.mu.Unlock()
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID != req.Header.Get(HeaderIdempotency) {
		r.t.Errorf("receiver: bad body or idempotency key: %v", err)
		return
	}
	r.mu.Lock()
	r.posts++
	mode := "ok"
	if r.behave != nil {
		mode = r.behave(r.posts, ev)
	}
	if mode == "fail" {
		r.mu.Unlock()
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if mode == "reject" {
		r.mu.Unlock()
		http.Error(w, "no", http.StatusUnprocessableEntity)
		return
	}
	if r.seen[ev.ID] {
		r.dups++
	} else {
		r.seen[ev.ID] = true
		r.got = append(r.got, ev)
		r.byCase[ev.Case] = append(r.byCase[ev.Case], ev.Seq)
	}
	r.mu.Unlock()
	switch mode {
	case "stall":
		<-req.Context().Done() // the sender gives up; we did process it
		return
	case "slow":
		time.Sleep(5 * time.Millisecond) // a slow answer, not synchronisation
	}
	w.WriteHeader(http.StatusNoContent)
}

// hallLog appends a small day: n tickets, each issued, called, started,
// accepted, finished and rated (6 case events per ticket).
func hallLog(t *testing.T, st store.Store, n int, at time.Time) int {
	return hallLogFrom(t, st, 1, n, at)
}

func hallLogFrom(t *testing.T, st store.Store, first, n int, at time.Time) int {
	t.Helper()
	ctx := context.Background()
	events := 0
	for i := first; i < first+n; i++ {
		id := int64(i)
		num := fmt.Sprintf("A%03d", i)
		q := func(typ string, extra map[string]any) store.Record {
			m := map[string]any{"type": typ, "at": at, "ticket": id, "window": 1 + i%3}
			for k, v := range extra {
				m[k] = v
			}
			b, _ := json.Marshal(m)
			return store.Record{Stream: QueueStream, Type: typ, At: at, Data: b}
		}
		c := Case{Serial: fmt.Sprintf("000000HR-00120261121%06d", i), Ticket: id, Number: num, Item: "HR-001", AcceptedAt: at, Status: StatusAccepted}
		rt, _ := json.Marshal(map[string]any{"ticket": id, "number": num, "item": "HR-001", "window": 1 + i%3, "level": 5, "at": at})
		_, err := st.Append(ctx,
			q("issued", map[string]any{"number": num, "item": "HR-001"}),
			q("called", map[string]any{"number": num, "item": "HR-001"}),
			q("started", nil),
			store.Record{Stream: CaseStream, Type: "accepted", Key: c.Serial, At: at, Data: mustJSON(c)},
			q("finished", nil),
			store.Record{Stream: RatingStream, Type: "rated", At: at, Data: rt},
		)
		if err != nil {
			t.Fatal(err)
		}
		events += 6
	}
	return events
}

func openStore(t *testing.T, path string) *store.Log {
	t.Helper()
	st, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func openOutbox(t *testing.T, st store.Store, url string, clock clockwork.Clock) *Outbox {
	t.Helper()
	ob, err := OpenOutbox(context.Background(), st, OutboxOpts{Hall: "test", Secret: secret, Clock: clock,
		Webhook: Webhook{URL: url, TimeoutS: 0.2, MaxAttempts: 50, BackoffS: 1, MaxBackoffS: 30, Workers: 4}})
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

// drain scans and delivers, advancing the fake clock to each retry, until
// the outbox is empty or maxRounds pass.
func drain(t *testing.T, ob *Outbox, fc *clockwork.FakeClock, maxRounds int) {
	t.Helper()
	ctx := context.Background()
	for range maxRounds {
		if _, err := ob.Scan(ctx); err != nil {
			t.Fatal(err)
		}
		_, next := ob.DeliverDue(ctx)
		s := ob.Stats()
		if s.Pending == 0 || s.Pending == s.Blocked {
			return
		}
		if !next.IsZero() {
			fc.Advance(next.Sub(fc.Now()))
		}
	}
	t.Fatalf("outbox not drained: %+v", ob.Stats())
}

func checkOrder(t *testing.T, r *receiver) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for c, seqs := range r.byCase {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Errorf("case %s: events out of order: %v", c, seqs)
				break
			}
		}
	}
}

func TestOutboxUnreliableReceiverAndRestart(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC))
	r, srv := newReceiver(t, fc)
	r.behave = func(n int, ev Event) string {
		switch {
		case n%7 == 0:
			return "stall"
		case n%5 == 0:
			return "fail"
		case n%3 == 0:
			return "slow"
		}
		return "ok"
	}
	path := filepath.Join(t.TempDir(), "hallctl.db")
	st := openStore(t, path)
	want := hallLog(t, st, 20, fc.Now())
	ob := openOutbox(t, st, srv.URL, fc)

	// Deliver part of it, then "restart": close the store mid-way.
	if _, err := ob.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	ob.DeliverDue(context.Background())
	before := ob.Stats()
	if before.Delivered == 0 || before.Pending == 0 {
		t.Fatalf("want a partial delivery before the restart, got %+v", before)
	}
	st.Close()

	st = openStore(t, path)
	defer st.Close()
	// More records arrive after the restart.
	want += hallLogFrom(t, st, 21, 5, fc.Now())
	ob = openOutbox(t, st, srv.URL, fc)
	if got := ob.Stats().Pending; got != before.Pending {
		t.Fatalf("after restart %d pending, want %d", got, before.Pending)
	}
	drain(t, ob, fc, 200)

	r.mu.Lock()
	got, dups, posts := len(r.got), r.dups, r.posts
	r.mu.Unlock()
	if got != want {
		t.Fatalf("receiver has %d distinct events, want %d", got, want)
	}
	if dups == 0 {
		t.Errorf("stalls should have caused duplicates the receiver de-duplicated")
	}
	checkOrder(t, r)
	kvs, _ := st.List(context.Background(), OutboxBucket)
	if len(kvs) != 0 {
		t.Errorf("outbox bucket still holds %d entries", len(kvs))
	}
	t.Logf("events %d, posts %d, duplicates seen by receiver %d", got, posts, dups)
}

func TestOutboxDeadLetterBlocksCaseAndReplays(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC))
	r, srv := newReceiver(t, fc)
	down := true
	r.behave = func(_ int, ev Event) string {
		if ev.Ticket == 2 && ev.Type == EvTicketCalled && down {
			return "fail"
		}
		if ev.Ticket == 3 && ev.Type == EvTicketIssued && down {
			return "reject" // a 4xx: dead at once
		}
		return "ok"
	}
	st := openStore(t, filepath.Join(t.TempDir(), "hallctl.db"))
	defer st.Close()
	want := hallLog(t, st, 4, fc.Now())
	ob, err := OpenOutbox(context.Background(), st, OutboxOpts{Hall: "test", Secret: secret, Clock: fc,
		Webhook: Webhook{URL: srv.URL, TimeoutS: 1, MaxAttempts: 3, BackoffS: 1, MaxBackoffS: 4}})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, ob, fc, 50)
	s := ob.Stats()
	if s.Dead != 2 {
		t.Fatalf("dead = %d, want 2 (%+v)", s.Dead, s)
	}
	// Ticket 2: issued delivered, called dead, 4 later events held back.
	// Ticket 3: everything held behind its dead issued event.
	if s.Blocked != 4+5 {
		t.Fatalf("blocked = %d, want 9", s.Blocked)
	}
	dead, err := ob.DeadLetters(context.Background())
	if err != nil || len(dead) != 2 || dead[0].Event.Ticket != 2 || dead[0].Attempts != 3 || dead[1].Attempts != 1 {
		t.Fatalf("dead letters: %+v %v", dead, err)
	}
	r.mu.Lock()
	if n := len(r.byCase["ticket-2"]); n != 1 {
		t.Fatalf("ticket 2 delivered %d events past its dead letter", n)
	}
	r.mu.Unlock()

	down = false
	if n, err := ob.Replay(context.Background(), ""); err != nil || n != 2 {
		t.Fatalf("replay: %d %v", n, err)
	}
	if _, err := ob.Replay(context.Background(), "nope"); err == nil {
		t.Fatal("replay of an unknown key should fail")
	}
	drain(t, ob, fc, 50)
	r.mu.Lock()
	got := len(r.got)
	r.mu.Unlock()
	if got != want {
		t.Fatalf("after replay %d events, want %d", got, want)
	}
	checkOrder(t, r)
}

func TestOutboxRun(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC))
	r, srv := newReceiver(t, fc)
	st := openStore(t, filepath.Join(t.TempDir(), "hallctl.db"))
	defer st.Close()
	ob := openOutbox(t, st, srv.URL, fc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- ob.Run(ctx) }()
	want := hallLog(t, st, 3, fc.Now())
	ob.Notify()
	deadline := time.Now().Add(10 * time.Second)
	for ob.Stats().Delivered < int64(want) {
		if time.Now().After(deadline) {
			t.Fatalf("Run delivered %+v", ob.Stats())
		}
		// Let Run's timer fire if it is waiting on it.
		if err := fc.BlockUntilContext(ctx, 1); err == nil {
			fc.Advance(time.Second)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkOrder(t, r)
}

func TestOpenOutboxRefusesBadOpts(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "hallctl.db"))
	defer st.Close()
	for _, o := range []OutboxOpts{{Secret: secret}, {Webhook: Webhook{URL: "http://x"}}} {
		if _, err := OpenOutbox(context.Background(), st, o); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// A discarded dead letter is gone for good: its case's held-back events
// go on without it, also after a restart, and the list is empty.
func TestOutboxDiscardUnblocksCase(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC))
	r, srv := newReceiver(t, fc)
	r.behave = func(_ int, ev Event) string {
		if ev.Ticket == 3 && ev.Type == EvTicketIssued {
			return "reject" // this one event the case system will never take
		}
		return "ok"
	}
	path := filepath.Join(t.TempDir(), "hallctl.db")
	st := openStore(t, path)
	want := hallLog(t, st, 4, fc.Now())
	opts := OutboxOpts{Hall: "test", Secret: secret, Clock: fc, Webhook: Webhook{URL: srv.URL, TimeoutS: 1, MaxAttempts: 3, BackoffS: 1, MaxBackoffS: 4}}
	ob, err := OpenOutbox(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, ob, fc, 50)
	dead, err := ob.DeadLetters(context.Background())
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters: %+v %v", dead, err)
	}
	if _, err := ob.Discard(context.Background(), "nope"); !errors.Is(err, ErrNoDeadLetter) {
		t.Fatalf("discard of an unknown key: %v", err)
	}
	if e, err := ob.Discard(context.Background(), dead[0].Key); err != nil || e.Event.Ticket != 3 {
		t.Fatalf("discard: %+v %v", e, err)
	}
	drain(t, ob, fc, 50)
	if s := ob.Stats(); s.Dead != 0 || s.Blocked != 0 || s.Pending != 0 {
		t.Fatalf("after the discard: %+v", s)
	}
	r.mu.Lock()
	got := len(r.got)
	r.mu.Unlock()
	if got != want-1 {
		t.Fatalf("delivered %d events, want every one but the discarded (%d)", got, want-1)
	}
	st.Close()
	st = openStore(t, path)
	defer st.Close()
	ob, err = OpenOutbox(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := ob.DeadLetters(context.Background()); len(d) != 0 {
		t.Fatalf("a restart brought a discarded dead letter back: %+v", d)
	}
}
