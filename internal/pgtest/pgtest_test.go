package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/servicehall/servicehall/internal/pgcluster"
)

// The fallback when no server is reachable: an isolated cluster on a
// free port, which answers queries and is removed again.
func TestIsolatedCluster(t *testing.T) {
	if !pgcluster.Available() {
		t.Skip("SKIPPING: no initdb (install postgresql)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn, err := startCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stop := stopFn
	stopFn = nil
	defer stop()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

// DSN gives each caller its own schema.
func TestDSNSchemaPerCall(t *testing.T) {
	a, b := DSN(t), DSN(t)
	if a == b {
		t.Fatalf("two calls gave one DSN %s", a)
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE TABLE x (i int)"); err != nil {
		t.Fatal(err)
	}
	d, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	if _, err := d.Exec(ctx, "CREATE TABLE x (i int)"); err != nil {
		t.Errorf("the second schema sees the first's table: %v", err)
	}
}

func TestMain(m *testing.M) { Main(m) }
