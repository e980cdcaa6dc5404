package leader_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/leader"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// db is a fresh schema with the store's tables and a pool on it.
func db(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	if _, _, err := store.MigratePostgres(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, dsn
}

func acquire(t *testing.T, ctx context.Context, pool *pgxpool.Pool, holder string, ttl time.Duration) *leader.Lease {
	t.Helper()
	l, err := leader.Acquire(ctx, pool, leader.Options{Hall: "h1", Holder: holder, TTL: ttl, Poll: 10 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The first controller leads at epoch 1; a second stands by while the
// lease is live and leads at epoch 2 once it is released; the first is
// then fenced: its Check, its renewals and its store's commits all fail.
func TestStandbyTakesOverAndFencesTheOld(t *testing.T) {
	pool, dsn := db(t)
	ctx := context.Background()
	a := acquire(t, ctx, pool, "a", time.Minute)
	if a.Epoch() != 1 {
		t.Fatalf("first epoch %d", a.Epoch())
	}
	oldLog, err := store.OpenPostgres(ctx, dsn, store.Options{Hall: "h1", Epoch: a.Epoch(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer oldLog.Close()
	if _, err := oldLog.Append(ctx, store.Record{Stream: "q", Type: "issued"}); err != nil {
		t.Fatalf("the leader's append: %v", err)
	}

	// b stands by, telling who leads, until a's lease ends.
	seen := make(chan string, 100)
	got := make(chan *leader.Lease, 1)
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		l, err := leader.Acquire(bctx, pool, leader.Options{Hall: "h1", Holder: "b", TTL: time.Minute, Poll: 10 * time.Millisecond, Logger: quiet(),
			OnStandby: func(h string, _ int64) {
				select {
				case seen <- h:
				default:
				}
			}})
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	if h := <-seen; h != "a" {
		t.Fatalf("standby saw leader %q, want a", h)
	}
	select {
	case <-got:
		t.Fatal("the standby led while the lease was live")
	default:
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b := <-got
	if b == nil || b.Epoch() != 2 || b.Holder() != "b" {
		t.Fatalf("standby's lease %+v", b)
	}
	if err := a.Check(ctx); !errors.Is(err, leader.ErrLost) || !errors.Is(err, store.ErrFenced) {
		t.Fatalf("old leader's check: %v, want ErrLost (ErrFenced)", err)
	}
	if err := b.Check(ctx); err != nil {
		t.Fatalf("new leader's check: %v", err)
	}
	if _, err := oldLog.Append(ctx, store.Record{Stream: "q", Type: "issued"}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("the deposed leader's append: %v, want ErrFenced", err)
	}
	// Releasing a lost lease changes nothing.
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(ctx); err != nil {
		t.Fatalf("after the old leader's release: %v", err)
	}
}

// A lease that is not renewed expires on its own (the leader died): the
// standby leads without anyone releasing it, and a renewing leader keeps
// its lease past several TTLs.
func TestLeaseExpiresUnlessRenewed(t *testing.T) {
	pool, _ := db(t)
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	a := acquire(t, ctx, pool, "a", ttl)
	rctx, stop := context.WithCancel(ctx)
	renewed := make(chan error, 1)
	go func() { renewed <- a.Run(rctx) }()
	// While a renews, b cannot lead: give it 4 TTLs.
	bctx, bcancel := context.WithTimeout(ctx, 4*ttl)
	_, err := leader.Acquire(bctx, pool, leader.Options{Hall: "h1", Holder: "b", TTL: ttl, Poll: 20 * time.Millisecond, Logger: quiet()})
	bcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("standby while the leader renews: %v, want it still waiting", err)
	}
	stop() // a dies: no more renewals, no release
	if err := <-renewed; err != nil {
		t.Fatalf("renewals: %v", err)
	}
	b := acquire(t, ctx, pool, "b", ttl)
	if b.Epoch() != a.Epoch()+1 {
		t.Fatalf("epochs %d then %d", a.Epoch(), b.Epoch())
	}
	// Someone else takes the hall (an operator, a third controller): b's
	// next renewal finds another epoch and b stops leading.
	lost := make(chan error, 1)
	go func() { lost <- b.Run(ctx) }()
	if _, err := pool.Exec(ctx, `UPDATE leaders SET epoch = epoch + 1, holder = 'c' WHERE hall = 'h1'`); err != nil {
		t.Fatal(err)
	}
	if err := <-lost; !errors.Is(err, leader.ErrLost) {
		t.Fatalf("renewals after a takeover: %v, want ErrLost", err)
	}
}

// Bad options are refused at once.
func TestAcquireNeedsHallAndHolder(t *testing.T) {
	if _, err := leader.Acquire(context.Background(), nil, leader.Options{Hall: "h1"}); err == nil {
		t.Fatal("no holder: accepted")
	}
}

// A leader frozen for longer than its lease (SIGSTOP, a stalled VM) gives
// up on waking, before any renewal: a standby may lead by now.
func TestFrozenLeaderGivesUp(t *testing.T) {
	pool, _ := db(t)
	ctx := context.Background()
	clock := clockwork.NewFakeClock()
	l, err := leader.Acquire(ctx, pool, leader.Options{Hall: "h1", Holder: "a", TTL: 3 * time.Second, Clock: clock, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 1)
	go func() { lost <- l.Run(ctx) }()
	clock.BlockUntilContext(ctx, 1)
	clock.Advance(4 * time.Second) // one wake-up, a whole lease late
	if err := <-lost; !errors.Is(err, leader.ErrLost) {
		t.Fatalf("after a freeze longer than the lease: %v, want ErrLost", err)
	}
}
