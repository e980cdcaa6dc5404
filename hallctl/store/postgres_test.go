package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/hallctl/store/storetest"
	"github.com/servicehall/servicehall/internal/pgtest"
)

func openPG(t *testing.T, dsn string, o store.Options) *store.PG {
	t.Helper()
	if o.Hall == "" {
		o.Hall = "h1"
	}
	p, err := store.OpenPostgres(context.Background(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPostgresConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return openPG(t, pgtest.DSN(t), store.Options{}) })
}

func TestPostgresConformanceNoGroupCommit(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return openPG(t, pgtest.DSN(t), store.Options{MaxBatch: 1}) })
}

// Two halls in one database share nothing: seqs, keys, buckets and
// snapshots are each hall's own.
func TestPostgresHallsApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a := openPG(t, dsn, store.Options{Hall: "a"})
	b := openPG(t, dsn, store.Options{Hall: "b"})
	for range 3 {
		if _, err := a.Append(ctx, store.Record{Stream: "queue", Type: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	seqs, err := b.Append(ctx, store.Record{Stream: "queue", Type: "t", Key: "k"})
	if err != nil || seqs[0] != 1 {
		t.Fatalf("hall b's first seq = %v, %v; want 1", seqs, err)
	}
	if _, err := a.Append(ctx, store.Record{Stream: "queue", Type: "t", Key: "k"}); err != nil {
		t.Errorf("same key in another hall: %v", err)
	}
	if err := a.Put(ctx, "b", "k", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "b", "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("hall b sees hall a's bucket: %v", err)
	}
	if last, _ := a.LastSeq(ctx, ""); last != 4 {
		t.Errorf("hall a's last seq = %d, want 4", last)
	}
	if last, _ := b.LastSeq(ctx, ""); last != 1 {
		t.Errorf("hall b's last seq = %d, want 1", last)
	}
}

// An epoch bumped by another connection (a takeover) fences the store:
// the next commit is refused with ErrFenced and nothing is appended, and
// the store refuses writes from then on.
func TestPostgresFencing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	p := openPG(t, dsn, store.Options{Hall: "h1", Epoch: 7})
	// No leaders row: fenced.
	if _, err := p.Append(ctx, store.Record{Stream: "q", Type: "t"}); !errors.Is(err, store.ErrFenced) || store.Code(err) != "fenced" {
		t.Fatalf("commit without a leaders row: %v (code %q), want ErrFenced", err, store.Code(err))
	}
	p.Close()
	p = openPG(t, dsn, store.Options{Hall: "h1", Epoch: 7})
	if _, err := admin.Exec(ctx, `INSERT INTO leaders(hall, epoch, holder) VALUES ('h1', 7, 'me')`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(ctx, store.Record{Stream: "q", Type: "t", Key: "before"}); err != nil {
		t.Fatalf("commit at our epoch: %v", err)
	}
	if _, err := admin.Exec(ctx, `UPDATE leaders SET epoch = 8, holder = 'other' WHERE hall = 'h1'`); err != nil {
		t.Fatal(err)
	}
	_, err = p.Append(ctx, store.Record{Stream: "q", Type: "t", Key: "after"})
	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("commit after takeover: %v, want ErrFenced", err)
	}
	if err := p.Put(ctx, "b", "k", nil); !errors.Is(err, store.ErrFenced) {
		t.Errorf("later write: %v, want ErrFenced", err)
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM events WHERE hall = 'h1'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("events after fencing = %d, %v; want 1", n, err)
	}
	if _, err := p.ByKey(ctx, "q", "after"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("fenced record written: %v", err)
	}
	// Another store at the new epoch goes on.
	q := openPG(t, dsn, store.Options{Hall: "h1", Epoch: 8})
	if seqs, err := q.Append(ctx, store.Record{Stream: "q", Type: "t", Key: "after"}); err != nil || seqs[0] != 2 {
		t.Errorf("new leader's append = %v, %v; want seq 2", seqs, err)
	}
}

// A database migrated by a newer build is refused; an up-to-date one
// reports from = to.
func TestPostgresMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	from, to, err := store.MigratePostgres(ctx, dsn)
	if err != nil || from != 0 || to < 1 {
		t.Fatalf("MigratePostgres on empty = %d→%d, %v", from, to, err)
	}
	if f2, t2, err := store.MigratePostgres(ctx, dsn); err != nil || f2 != to || t2 != to {
		t.Fatalf("second MigratePostgres = %d→%d, %v; want %d→%d", f2, t2, err, to, to)
	}
	p := openPG(t, dsn, store.Options{})
	if _, err := p.Append(ctx, store.Record{Stream: "q", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `UPDATE schema_migrations SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenPostgres(ctx, dsn, store.Options{Hall: "h1"}); !errors.Is(err, store.ErrSchema) {
		t.Errorf("open of a newer schema: %v, want ErrSchema", err)
	}
	if _, _, err := store.MigratePostgres(ctx, dsn); !errors.Is(err, store.ErrSchema) {
		t.Errorf("migrate of a newer schema: %v, want ErrSchema", err)
	}
	if _, err := store.OpenPostgresReadOnly(ctx, dsn, "h1"); !errors.Is(err, store.ErrSchema) {
		t.Errorf("read-only open of a newer schema: %v, want ErrSchema", err)
	}
}

// A failed step leaves the database as it was: nothing of the migration commits.
func TestPostgresMigrateAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	from, err := store.MigratePGSteps(ctx, dsn, []string{`CREATE TABLE one (x int)`, `CREATE TABLE two (x nosuchtype)`})
	if !errors.Is(err, store.ErrSchema) || from != 0 {
		t.Fatalf("failing migration = %d, %v; want ErrSchema", from, err)
	}
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT to_regclass('one') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Errorf("table of the first step exists after a failed migration: %v, %v", exists, err)
	}
}

// A commit PostgreSQL refuses for a reason not about the batch itself
// stops the log, as with SQLite: that write and every later one fail with
// ErrFailed (the write that failed returns its cause) until it is reopened, and nothing of the failed write is kept.
func TestPostgresFailStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	p := openPG(t, dsn, store.Options{})
	if _, err := p.Append(ctx, store.Record{Stream: "q", Type: "t", Key: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `ALTER TABLE events RENAME TO events_gone`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(ctx, store.Record{Stream: "q", Type: "t", Key: "b"}); err == nil {
		t.Fatal("append to a missing table succeeded")
	}
	if _, err := admin.Exec(ctx, `ALTER TABLE events_gone RENAME TO events`); err != nil {
		t.Fatal(err)
	}
	if err := p.Put(ctx, "b", "k", nil); !errors.Is(err, store.ErrFailed) || !errors.Is(p.Check(), store.ErrFailed) {
		t.Errorf("write after the failure: %v (check %v), want ErrFailed", err, p.Check())
	}
	p.Close()
	p = openPG(t, dsn, store.Options{})
	if _, err := p.ByKey(ctx, "q", "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("failed record kept: %v", err)
	}
	if seqs, err := p.Append(ctx, store.Record{Stream: "q", Type: "t", Key: "b"}); err != nil || seqs[0] != 2 {
		t.Errorf("append after reopening = %v, %v; want seq 2", seqs, err)
	}
}

// Two hallctls never append to one hall's log: a second open of the hall
// (without an epoch) fails with ErrLocked until the first is closed;
// another hall in the same database opens.
func TestPostgresHallLocked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	p := openPG(t, dsn, store.Options{Hall: "h1"})
	if _, err := store.OpenPostgres(ctx, dsn, store.Options{Hall: "h1"}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open of hall h1: %v, want ErrLocked", err)
	}
	openPG(t, dsn, store.Options{Hall: "h2"})
	if err := p.Check(); err != nil {
		t.Errorf("Check with the lock held: %v", err)
	}
	p.Close()
	q := openPG(t, dsn, store.Options{Hall: "h1"})
	if _, err := q.Append(ctx, store.Record{Stream: "q", Type: "t"}); err != nil {
		t.Errorf("append after reopening: %v", err)
	}
}
