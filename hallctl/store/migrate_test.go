package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// fixtureV1 is testdata/eventlog-v1.db: an event log written by the
// schema-1 build (GEN_FIXTURE=1 go test -run TestGenFixtureV1 rewrites it
// while schemaVersion is 1).
const fixtureV1 = "testdata/eventlog-v1.db"

var fixtureAt = time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)

// fixtureRecords are the records of the fixture, in seq order.
func fixtureRecords() []Record {
	var out []Record
	for i := range 40 {
		r := Record{At: fixtureAt.Add(time.Duration(i) * time.Second), Stream: []string{"queue", "bus", "audit", "case"}[i%4],
			Type: fmt.Sprintf("type-%d", i%3), Data: []byte(fmt.Sprintf(`{"i":%d}`, i)), Seq: int64(i + 1)}
		if i%2 == 0 {
			r.Key = fmt.Sprintf("key-%d", i)
		}
		out = append(out, r)
	}
	return out
}

var fixtureKV = []KV{{Key: "a", Val: []byte("1")}, {Key: "b", Val: []byte(`{"x":2}`)}}

func TestGenFixtureV1(t *testing.T) {
	if os.Getenv("GEN_FIXTURE") == "" || schemaVersion != 1 {
		t.Skip("GEN_FIXTURE=1 rewrites the schema-1 fixture, only in a schema-1 build")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	l, err := Open(ctx, path, Options{Clock: clockwork.NewFakeClockAt(fixtureAt)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fixtureRecords() {
		r.Seq = 0
		if _, err := l.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range fixtureKV {
		if err := l.Put(ctx, "bucket", kv.Key, kv.Val); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SaveSnapshot(ctx, "queue", 20, []byte(`{"snap":20}`)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fixtureV1, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// copyFixture copies a fixture into a temporary directory (Open writes).
func copyFixture(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "hallctl.db")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// checkFixture reads every record, snapshot and kv entry of the fixture
// back from r.
func checkFixture(t *testing.T, r Reader) {
	t.Helper()
	ctx := context.Background()
	var got []Record
	if err := r.Read(ctx, "", 0, func(rec Record) error { got = append(got, rec); return nil }); err != nil {
		t.Fatal(err)
	}
	want := fixtureRecords()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || !g.At.Equal(w.At) || g.Stream != w.Stream || g.Type != w.Type || g.Key != w.Key || string(g.Data) != string(w.Data) {
			t.Fatalf("record %d: %+v, want %+v", i, g, w)
		}
	}
	if rec, err := r.ByKey(ctx, "audit", "key-2"); err != nil || rec.Seq != 3 {
		t.Fatalf("by key: %+v %v", rec, err)
	}
	kvs, err := r.List(ctx, "bucket")
	if err != nil || len(kvs) != len(fixtureKV) {
		t.Fatalf("kv: %+v %v", kvs, err)
	}
	for i := range kvs {
		if kvs[i].Key != fixtureKV[i].Key || string(kvs[i].Val) != string(fixtureKV[i].Val) {
			t.Fatalf("kv %d: %+v", i, kvs[i])
		}
	}
	if s, err := r.LatestSnapshot(ctx, "queue"); err != nil || s.Upto != 20 || string(s.Data) != `{"snap":20}` {
		t.Fatalf("snapshot: %+v %v", s, err)
	}
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A log written by the schema-1 release opens, reads back whole, and takes
// new records after it.
func TestOpenPreviousRelease(t *testing.T) {
	ctx := context.Background()
	path := copyFixture(t, fixtureV1)
	l, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkFixture(t, l)
	l.Close()
	if v := userVersion(t, path); v != schemaVersion {
		t.Fatalf("version %d after open, want %d", v, schemaVersion)
	}
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	checkFixture(t, ro)
	ro.Close()
	if l, err = Open(ctx, path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	seqs, err := l.Append(ctx, Record{Stream: "queue", Type: "after-upgrade"})
	if err != nil || seqs[0] != 41 {
		t.Fatalf("append after upgrade: %v %v", seqs, err)
	}
}

// The migration runner applies the missing steps in order in one
// transaction: a failing step leaves the file as it was.
func TestMigrationRunner(t *testing.T) {
	ctx := context.Background()
	path := copyFixture(t, fixtureV1)
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	v2 := execStep("test: a column for a v2", `ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT 'v1';
		UPDATE events SET origin = 'migrated'`)
	broken := migration{name: "test: fails half way", up: func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM events`); err != nil {
			return err
		}
		return errors.New("disk on fire")
	}}

	// v1 → v3 with a failing third step: nothing changes.
	if _, err := migrate(ctx, db, append(migrations[:1:1], v2, broken)); err == nil || !errors.Is(err, ErrSchema) ||
		!strings.Contains(err.Error(), "migrate 2→3") || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("broken step: %v", err)
	}
	var n, ver int
	db.QueryRow("SELECT count(*) FROM events").Scan(&n)
	db.QueryRow("PRAGMA user_version").Scan(&ver)
	if n != 40 || ver != 1 {
		t.Fatalf("after a failed migration: %d records, version %d", n, ver)
	}
	if _, err := db.Exec("SELECT origin FROM events"); err == nil {
		t.Fatal("the v2 step's column survived the rollback")
	}

	// v1 → v2: applied once, the version follows, the records stay.
	steps := append(migrations[:1:1], v2)
	if from, err := migrate(ctx, db, steps); err != nil || from != 1 {
		t.Fatalf("migrate: from %d: %v", from, err)
	}
	if from, err := migrate(ctx, db, steps); err != nil || from != 2 {
		t.Fatalf("second migrate: from %d: %v", from, err)
	}
	var origins []string
	rows, err := db.Query("SELECT DISTINCT origin FROM events")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o string
		rows.Scan(&o)
		origins = append(origins, o)
	}
	rows.Close()
	db.QueryRow("SELECT count(*) FROM events").Scan(&n)
	db.QueryRow("PRAGMA user_version").Scan(&ver)
	if n != 40 || ver != 2 || !reflect.DeepEqual(origins, []string{"migrated"}) {
		t.Fatalf("after v2: %d records, version %d, origins %v", n, ver, origins)
	}
	db.Close()

	// This build knows only up to schemaVersion: the v2 file is refused,
	// read-write and read-only, with a clear error, and left untouched.
	if schemaVersion < 2 {
		_, err := Open(ctx, path, Options{})
		if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "schema version 2") || !strings.Contains(err.Error(), "newer hallctl") {
			t.Fatalf("newer file: %v", err)
		}
		if _, err := OpenReadOnly(ctx, path); !errors.Is(err, ErrSchema) {
			t.Fatalf("newer file read-only: %v", err)
		}
		if v := userVersion(t, path); v != 2 {
			t.Fatalf("refused file changed to version %d", v)
		}
	}
}

// A new file gets every step.
func TestMigrateNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	l, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if v := userVersion(t, path); v != schemaVersion {
		t.Fatalf("new file version %d", v)
	}
}
