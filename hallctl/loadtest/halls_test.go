package loadtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/servicehall/servicehall/internal/pgtest"
)

// TestMain drops the PostgreSQL test database after the run.
func TestMain(m *testing.M) { pgtest.Main(m) }

// Three halls on one PostgreSQL schema, pressed at once: every press is
// printed by its own hall, and the events table holds each hall's tickets
// under its own hall id, no more and no fewer.
func TestMeasureHallsOnePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const halls, presses = 3, 30
	r, err := MeasureHalls(ctx, HallsOptions{Halls: halls, DSN: dsn, Broker: "embedded", Multiple: 100, Presses: presses})
	if err != nil {
		t.Fatal(err)
	}
	if r.Lost != 0 || r.Samples != halls*presses {
		t.Fatalf("samples %d, lost %d: want %d and 0", r.Samples, r.Lost, halls*presses)
	}
	if r.P99 <= 0 || r.Max < r.P99 || r.P99 < r.P50 {
		t.Errorf("p50 %v p99 %v max %v: not ordered", r.P50, r.P99, r.Max)
	}
	if r.Transactions == 0 || r.Commits < uint64(halls*presses) {
		t.Errorf("store commits %d in %d transactions: want at least one commit per ticket", r.Commits, r.Transactions)
	}

	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT hall, count(*) FILTER (WHERE type = 'issued'), count(*) FROM events GROUP BY hall ORDER BY hall`)
	if err != nil {
		t.Fatal(err)
	}
	issued := map[string]int{}
	for rows.Next() {
		var hall string
		var n, all int
		if err := rows.Scan(&hall, &n, &all); err != nil {
			t.Fatal(err)
		}
		issued[hall] = n
		t.Logf("%s: %d tickets issued, %d events", hall, n, all)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(issued) != halls {
		t.Errorf("events of %d halls %v: want %d", len(issued), issued, halls)
	}
	for i := 1; i <= halls; i++ {
		if n := issued[HallID(i)]; n != presses {
			t.Errorf("%s: %d tickets issued in its rows, want %d", HallID(i), n, presses)
		}
	}
	// The tickets are numbered per hall: each hall's A001…A030 once.
	var dup int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM (SELECT hall, convert_from(data, 'UTF8')::jsonb->>'number' AS num, count(*) FROM events
		WHERE type = 'issued' GROUP BY 1, 2 HAVING count(*) > 1) d`).Scan(&dup); err != nil {
		t.Fatal(err)
	}
	if dup != 0 {
		t.Errorf("%d ticket numbers issued twice within a hall", dup)
	}
	var numbered int
	if err := c.QueryRow(ctx, `SELECT count(DISTINCT hall || '/' || (convert_from(data, 'UTF8')::jsonb->>'number')) FROM events WHERE type = 'issued'`).Scan(&numbered); err != nil {
		t.Fatal(err)
	}
	if numbered != halls*presses {
		t.Errorf("%d distinct (hall, number) pairs, want %d", numbered, halls*presses)
	}
}

// A fresh schema is dropped after the run.
func TestMeasureHallsFreshSchemaDropped(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := MeasureHalls(ctx, HallsOptions{Halls: 2, DSN: dsn, FreshSchema: true, Broker: "embedded", Multiple: 100, Presses: 5})
	if err != nil {
		t.Fatal(err)
	}
	if r.Lost != 0 {
		t.Fatalf("lost %d", r.Lost)
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, r.Schema).Scan(&n); err != nil || n != 0 {
		t.Fatalf("schema %s: %d left (%v), want dropped", r.Schema, n, err)
	}
}

// A server whose max_connections cannot hold the halls is refused before
// any hall starts (a shared server keeps its connections).
func TestMeasureHallsRefusesTooFewConnections(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var s string
	if err := c.QueryRow(ctx, "SHOW max_connections").Scan(&s); err != nil {
		t.Fatal(err)
	}
	var maxConns int
	fmt.Sscan(s, &maxConns)
	halls := maxConns/ConnsPerHall + 1
	_, err = MeasureHalls(ctx, HallsOptions{Halls: halls, DSN: dsn, Broker: "embedded", Multiple: 10, Presses: 1})
	if !errors.Is(err, ErrTooFewConns) {
		t.Fatalf("%d halls on max_connections %d: err %v, want ErrTooFewConns", halls, maxConns, err)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM halls").Scan(&n); err == nil && n != 0 {
		t.Errorf("%d halls registered: want none started", n)
	}
}
