package app

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/pgtest"
)

// With server.store set, hallctl keeps its event log in PostgreSQL: the
// tickets it issues are there (under the hall's id), and a restart replays
// them; no SQLite log is made in the state dir.
func TestPostgresStoreIssuesAndReplays(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	cfg.Server.Store = pgtest.DSN(t)
	dir := t.TempDir()
	a, stop := startWith(t, dir, cfg, nil)
	if _, ok := a.Store.(*store.PG); !ok {
		t.Fatalf("store is %T, want *store.PG", a.Store)
	}
	var numbers []string
	for range 3 {
		tk, err := a.Controller.Issue(ctx, ctl.IssueRequest{Item: "HR-001"}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		numbers = append(numbers, tk.Number)
	}
	last, err := a.Store.LastSeq(ctx, "")
	if err != nil || last == 0 {
		t.Fatalf("last seq in PostgreSQL = %d, %v", last, err)
	}
	stop()

	a, stop = startWith(t, dir, cfg, nil)
	defer stop()
	var waiting, count int
	a.Controller.View(func(e *queue.Engine) { waiting, count = e.Waiting(), e.TicketCount() })
	if waiting != 3 || count != 3 {
		t.Errorf("after restart: %d waiting of %d tickets, want 3 of 3 (issued %v)", waiting, count, numbers)
	}
	tk, err := a.Controller.Issue(ctx, ctl.IssueRequest{Item: "HR-001"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Number == numbers[0] || tk.Number == numbers[2] {
		t.Errorf("ticket after restart reuses number %s (before: %v)", tk.Number, numbers)
	}
	if _, err := os.Stat(filepath.Join(dir, "hallctl.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a SQLite log was made in the state dir beside server.store: %v", err)
	}
}
