package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/wire"
)

// testdata/agent-v0.db was written by the agent before schema versioning
// (commit fc11b92, user_version 0): three events appended and the first
// published (two left in the outbox), command cmd-done finished, command
// cmd-running begun and never finished, and a lease in button-1's state.
const fixtureV0 = "testdata/agent-v0.db"

const fixtureSession = "01a19b7c-a680-7000-a48a-bacfccd628ca"

func fixtureDir(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(fixtureV0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func version(t *testing.T, s *Store) int {
	t.Helper()
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The previous release's agent.db opens, is migrated, and every record
// reads back: the session and seq continue, the outbox keeps its two
// unpublished events, the ledger both commands, the device its state.
func TestOpenPreviousReleaseAgentDB(t *testing.T) {
	ctx := context.Background()
	dir := fixtureDir(t)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s, err := Open(ctx, dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if v := version(t, s); v != SchemaVersion {
		t.Fatalf("version %d, want %d", v, SchemaVersion)
	}
	if s.Session() != fixtureSession {
		t.Fatalf("session %s: a migration must not start a new event session", s.Session())
	}
	ps, err := s.Peek(ctx, 0, 10)
	if err != nil || len(ps) != 2 || ps[0].Key != 2 || ps[1].Key != 3 {
		t.Fatalf("outbox %+v %v", ps, err)
	}
	for i, p := range ps {
		var m wire.EventMsg
		if err := json.Unmarshal(p.Payload, &m); err != nil || m.Seq != uint64(i+2) || m.Session != fixtureSession || p.Topic != "hall/t/agent/a1/evt/button" {
			t.Fatalf("event %d: %+v %v", i, m, err)
		}
	}
	cmds, err := s.LoadCommands(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmds["cmd-done"]; d.State != StateDone || d.Ack.Status != wire.AckDone || d.Device != "printer-1" {
		t.Fatalf("cmd-done %+v", d)
	}
	if r := cmds["cmd-running"]; r.State != StateDone || r.Ack.Code != CodeInterrupted || r.Device != "speaker-1" {
		t.Fatalf("cmd-running %+v", r)
	}
	if v, ok, err := s.Get(ctx, "button-1", "lease"); err != nil || !ok || !strings.Contains(string(v), "2026-11-02T09:05:00Z") {
		t.Fatalf("kv %s %v %v", v, ok, err)
	}
	m, err := s.Append(ctx, "hall/t/agent/a1/evt/button", now, []byte(`{"n":4}`))
	if err != nil || m.Seq != 4 {
		t.Fatalf("append after upgrade: %+v %v", m, err)
	}
	s.Close()

	// Opening again applies nothing.
	s2, err := Open(ctx, dir, now)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n, _ := s2.Len(ctx); n != 3 || s2.Session() != fixtureSession {
		t.Fatalf("reopen: %d events, session %s", n, s2.Session())
	}
}

// A file from a newer agent is refused with a clear error and left as it
// is; a failing step rolls back.
func TestAgentDBNewerRefusedAndRollback(t *testing.T) {
	ctx := context.Background()
	dir := fixtureDir(t)
	s, err := Open(ctx, dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	broken := migration{name: "test: fails", up: func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox`); err != nil {
			return err
		}
		return errors.New("no space")
	}}
	if _, err := migrate(ctx, s.db, append(migrations[:len(migrations):len(migrations)], broken)); err == nil || !strings.Contains(err.Error(), "no space") {
		t.Fatalf("broken step: %v", err)
	}
	if n, _ := s.Len(ctx); n != 2 || version(t, s) != SchemaVersion {
		t.Fatalf("after a failed step: %d events, version %d", n, version(t, s))
	}
	if _, err := s.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(ctx, dir, time.Now())
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("newer file: %v", err)
	}
}
