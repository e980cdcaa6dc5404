package cli

import (
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/pgtest"
)

// pgHallFile is hallFile with server.store set to dsn.
func pgHallFile(t *testing.T, dsn string) (path, stateDir string) {
	t.Helper()
	path, stateDir = hallFile(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(b), "server: {state_dir: ", "server: {store: \""+dsn+"\", state_dir: ", 1)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, stateDir
}

// hallctl migrate prints from→to for both backends; store copy moves a
// log SQLite → PostgreSQL and back, refuses a non-empty target; report
// reads PostgreSQL; backup refuses it, naming pg_dump.
func TestMigrateAndStoreCopy(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	path, stateDir := pgHallFile(t, dsn)

	if code, out, errs := runCLI(t, "migrate", "--config", path); code != 0 || !strings.Contains(out, "postgres: schema 0→2") {
		t.Fatalf("migrate postgres: exit %d %q %q", code, out, errs)
	}
	if code, out, errs := runCLI(t, "migrate", "--config", path); code != 0 || !strings.Contains(out, "schema 2→2 (up to date)") {
		t.Fatalf("migrate again: exit %d %q %q", code, out, errs)
	}
	sqlPath, _ := hallFile(t)
	if code, out, errs := runCLI(t, "migrate", "--config", sqlPath); code != 0 || !strings.Contains(out, "sqlite ") || !strings.Contains(out, "schema 0→1") {
		t.Fatalf("migrate sqlite: exit %d %q %q", code, out, errs)
	}

	// A SQLite log with records, a snapshot and a bucket entry.
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	l, err := store.Open(ctx, filepath.Join(stateDir, "hallctl.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := l.Append(ctx, store.Record{Stream: "queue", Type: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SaveSnapshot(ctx, "queue", 3, []byte("s")); err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "b", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	l.Close()

	code, out, errs := runCLI(t, "store", "copy", "--config", path, "--from", "sqlite", "--to", "postgres")
	if code != 0 || !strings.Contains(out, "5 records (last seq 5), 1 snapshots, 1 bucket entries; verified") {
		t.Fatalf("store copy: exit %d %q %q", code, out, errs)
	}
	if code, _, errs := runCLI(t, "store", "copy", "--config", path, "--from", "sqlite", "--to", "postgres"); code != 1 || !strings.Contains(errs, "not empty") {
		t.Errorf("copy into a non-empty target: exit %d %q", code, errs)
	}
	back := t.TempDir()
	code, out, errs = runCLI(t, "store", "copy", "--config", path, "--from", "postgres", "--to", "sqlite", "--state-dir", back)
	if code != 0 || !strings.Contains(out, "5 records (last seq 5)") {
		t.Fatalf("store copy back: exit %d %q %q", code, out, errs)
	}
	if code, _, errs := runCLI(t, "store", "copy", "--config", path, "--from", "sqlite", "--to", "sqlite"); code != 2 {
		t.Errorf("sqlite to sqlite: exit %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "backup", "--config", path, "--out", filepath.Join(t.TempDir(), "b.tar.gz")); code != 1 || !strings.Contains(errs, "pg_dump") {
		t.Errorf("backup on postgres: exit %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "report", "--config", path, "--from", "2026-11-23"); code != 0 {
		t.Errorf("report on postgres: exit %d %q", code, errs)
	}
}

// hallctl check: server.store must be a postgres URL naming a database;
// a password in it is a warning.
func TestCheckStore(t *testing.T) {
	path, _ := pgHallFile(t, "mysql://x@h/db")
	if code, _, errs := runCLI(t, "check", "--config", path); code != 1 || !strings.Contains(errs, "server.store") {
		t.Errorf("check of a mysql URL: exit %d %q", code, errs)
	}
	path, _ = pgHallFile(t, "postgres://hallctl:s3cret@db/halls")
	code, out, errs := runCLI(t, "check", "--config", path)
	if code != 0 || !strings.Contains(out+errs, "passfile") || strings.Contains(out+errs, "s3cret") {
		t.Errorf("check of a URL with a password: exit %d %q %q", code, out, errs)
	}
}

// `hallctl report` with server.store reads the hall's rows in PostgreSQL;
// restore refuses, naming pg_restore.
func TestReportPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	path, _ := pgHallFile(t, dsn)
	cfg, err := config.Load(path, ctl.CheckConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, dsn, store.Options{Hall: cfg.Hall.ID})
	if err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 9, 0, 0, 0, cfg.Loc))
	c, err := ctl.New(ctx, ctl.Options{Config: cfg, Clock: clock, Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Manage(ctx, ctl.ManagerAction{Type: "open", Window: 1}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.Issue(ctx, ctl.IssueRequest{Item: "HR-001"}, "", ""); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "report", "--config", path, "--from", "2026-11-23", "--by", "item", "--headers", "keys")
	if code != 0 {
		t.Fatalf("report: exit %d %s", code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 2 || !slices.Contains(rows[1], "HR-001") || !slices.Contains(rows[1], "2") {
		t.Fatalf("report CSV (%v):\n%s", err, out)
	}
	if code, _, errs := runCLI(t, "restore", "--config", path, "--in", filepath.Join(t.TempDir(), "b.tar.gz")); code != 1 || !strings.Contains(errs, "pg_restore") {
		t.Errorf("restore on postgres: exit %d %q", code, errs)
	}
}
