// Package store is the agent's durable state in state_dir: the event outbox
// (events written before Emit returns, deleted only after the broker's
// PUBACK), the ledger of executed command ids with their stored acks, and
// each device's own key-value state (a ticket button's leases).
//
// Both live in one SQLite database (modernc.org/sqlite, pure Go) in WAL mode
// with synchronous=FULL, so a committed insert survives a power cut. SQLite
// was chosen over an append-only file because the outbox needs three things
// a file would need hand-written code for: an atomic "next seq + insert",
// deletion from the head after each PUBACK without compaction, and a second
// keyed table (command ids with bounded retention) that must be crash-safe
// too. The cost is build time and ~3 MB of binary, paid once.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/servicehall/servicehall/wire"
)

// FileName is the database file inside state_dir.
const FileName = "agent.db"

// schema is version 1 of agent.db (migrate.go).
const schema = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	topic   TEXT NOT NULL,
	payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
	id     TEXT PRIMARY KEY,
	device TEXT NOT NULL,
	state  TEXT NOT NULL,
	ack    BLOB,
	at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_at ON commands(at);
CREATE TABLE IF NOT EXISTS kv (
	device TEXT NOT NULL,
	k      TEXT NOT NULL,
	v      BLOB NOT NULL,
	PRIMARY KEY (device, k)
);
`

// Store is the open database. Its methods are safe for concurrent use.
type Store struct {
	db *sql.DB

	mu      sync.Mutex // serialises seq assignment with its insert
	session string
	seq     uint64
}

// Open opens (creating if needed) the database in dir. A new database gets
// a new event session (UUIDv7 made at now); an existing one continues its
// session and seq, so the controller sees no gap across agent restarts and
// a new session only when the state was lost.
func Open(ctx context.Context, dir string, now time.Time) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	// The outbox holds card events: readable by its owner only. SQLite
	// gives the -wal and -shm files the database file's mode, so creating
	// it 0600 first covers all three.
	f, err := os.OpenFile(filepath.Join(dir, FileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state db: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open state db: %w", err)
	}
	dsn := "file:" + filepath.Join(dir, FileName) +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open state db: %w", err)
	}
	// One connection: writes are serial anyway, and it keeps the pragmas
	// on the only connection there is.
	db.SetMaxOpenConns(1)
	if _, err := migrate(ctx, db, migrations); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db}
	if err := s.loadMeta(ctx, now); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) loadMeta(ctx context.Context, now time.Time) error {
	var sess string
	err := s.db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k='session'`).Scan(&sess)
	if errors.Is(err, sql.ErrNoRows) {
		sess = wire.NewID(now)
		if _, err := s.db.ExecContext(ctx, `INSERT INTO meta(k,v) VALUES('session',?),('seq','0')`, sess); err != nil {
			return fmt.Errorf("state db: new session: %w", err)
		}
		s.session, s.seq = sess, 0
		return nil
	}
	if err != nil {
		return fmt.Errorf("state db: read session: %w", err)
	}
	var seq string
	if err := s.db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k='seq'`).Scan(&seq); err != nil {
		return fmt.Errorf("state db: read seq: %w", err)
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return fmt.Errorf("state db: seq %q: %w", seq, err)
	}
	s.session, s.seq = sess, n
	return nil
}

// Session is the event session id carried by every event.
func (s *Store) Session() string { return s.session }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Pending is one event waiting in the outbox.
type Pending struct {
	Key     int64 // outbox position; pass to Delete
	Topic   string
	Payload []byte
	Seq     uint64
}

// Append builds the event envelope (fresh UUIDv7 id, ts = now, this
// session, next seq) and commits it to the outbox before returning. Events
// are published in the order Append was called.
func (s *Store) Append(ctx context.Context, topic string, now time.Time, data []byte) (wire.EventMsg, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := wire.EventMsg{V: wire.Version, ID: wire.NewID(now), TS: wire.At(now), Session: s.session, Seq: s.seq + 1, Data: data}
	payload := wire.Marshal(msg)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return msg, fmt.Errorf("outbox: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox(topic,payload) VALUES(?,?)`, topic, payload); err != nil {
		return msg, fmt.Errorf("outbox: insert: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET v=? WHERE k='seq'`, strconv.FormatUint(msg.Seq, 10)); err != nil {
		return msg, fmt.Errorf("outbox: seq: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return msg, fmt.Errorf("outbox: commit: %w", err)
	}
	s.seq = msg.Seq
	return msg, nil
}

// Peek returns up to n events after key (0 = from the head), oldest first.
func (s *Store) Peek(ctx context.Context, after int64, n int) ([]Pending, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, topic, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?`, after, n)
	if err != nil {
		return nil, fmt.Errorf("outbox: peek: %w", err)
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		var p Pending
		if err := rows.Scan(&p.Key, &p.Topic, &p.Payload); err != nil {
			return nil, fmt.Errorf("outbox: scan: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeleteThrough removes the published events up to and including key
// (after their PUBACKs), in one transaction.
func (s *Store) DeleteThrough(ctx context.Context, key int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM outbox WHERE id<=?`, key); err != nil {
		return fmt.Errorf("outbox: delete: %w", err)
	}
	return nil
}

// Len counts events waiting in the outbox.
func (s *Store) Len(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
	return n, err
}

// Command ledger states.
const (
	StateRunning = "running" // execution started, outcome not yet stored
	StateDone    = "done"    // final ack stored
)

// CodeInterrupted is the ack code of a command the agent was executing when
// it stopped: its outcome is unknown, and it is never run again.
const CodeInterrupted = "interrupted"

// Entry is one command id in the ledger.
type Entry struct {
	ID     string
	Device string
	State  string
	Ack    wire.AckMsg // valid when State is StateDone
	At     time.Time
}

// LoadCommands returns every remembered command. Commands left running by
// a previous process are first turned into a stored failed ack with code
// "interrupted" (at most once: never executed twice, even across crashes).
func (s *Store) LoadCommands(ctx context.Context) (map[string]Entry, error) {
	interrupted := wire.Marshal(wire.AckMsg{Status: wire.AckFailed, Code: CodeInterrupted, Error: "the agent stopped while the command ran; its outcome is unknown"})
	// The id is filled in when read; store the template without it.
	if _, err := s.db.ExecContext(ctx, `UPDATE commands SET state=?, ack=? WHERE state=?`, StateDone, interrupted, StateRunning); err != nil {
		return nil, fmt.Errorf("ledger: recover: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, device, state, ack, at FROM commands`)
	if err != nil {
		return nil, fmt.Errorf("ledger: load: %w", err)
	}
	defer rows.Close()
	out := map[string]Entry{}
	for rows.Next() {
		var e Entry
		var ack []byte
		var at int64
		if err := rows.Scan(&e.ID, &e.Device, &e.State, &ack, &at); err != nil {
			return nil, fmt.Errorf("ledger: scan: %w", err)
		}
		e.At = time.UnixMilli(at)
		if len(ack) > 0 {
			if err := json.Unmarshal(ack, &e.Ack); err != nil {
				return nil, fmt.Errorf("ledger: ack of %s: %w", e.ID, err)
			}
		}
		e.Ack.ID = e.ID
		out[e.ID] = e
	}
	return out, rows.Err()
}

// Begin records that command id starts executing now.
func (s *Store) Begin(ctx context.Context, id, dev string, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO commands(id,device,state,ack,at) VALUES(?,?,?,NULL,?)`, id, dev, StateRunning, now.UnixMilli()); err != nil {
		return fmt.Errorf("ledger: begin %s: %w", id, err)
	}
	return nil
}

// Finish stores the final ack of a command.
func (s *Store) Finish(ctx context.Context, dev string, ack wire.AckMsg, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO commands(id,device,state,ack,at) VALUES(?,?,?,?,?)`, ack.ID, dev, StateDone, wire.Marshal(ack), now.UnixMilli()); err != nil {
		return fmt.Errorf("ledger: finish %s: %w", ack.ID, err)
	}
	return nil
}

// Prune forgets commands older than cutoff and keeps at most max of the
// newest; it returns the ids forgotten.
func (s *Store) Prune(ctx context.Context, cutoff time.Time, max int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM commands WHERE state=? AND (at < ? OR id IN (SELECT id FROM commands ORDER BY at DESC LIMIT -1 OFFSET ?))`, StateDone, cutoff.UnixMilli(), max)
	if err != nil {
		return nil, fmt.Errorf("ledger: prune: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ledger: prune: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM commands WHERE id=?`, id); err != nil {
			return nil, fmt.Errorf("ledger: prune %s: %w", id, err)
		}
	}
	return ids, nil
}

// Get reads a device's state value; ok is false when the key is absent.
func (s *Store) Get(ctx context.Context, dev, key string) (val []byte, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT v FROM kv WHERE device=? AND k=?`, dev, key).Scan(&val)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("state %s/%s: %w", dev, key, err)
	}
	return val, true, nil
}

// Put writes a device's state value, durably before it returns.
func (s *Store) Put(ctx context.Context, dev, key string, val []byte) error {
	if val == nil {
		val = []byte{}
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO kv(device,k,v) VALUES(?,?,?)
		ON CONFLICT(device,k) DO UPDATE SET v=excluded.v`, dev, key, val)
	if err != nil {
		return fmt.Errorf("state %s/%s: %w", dev, key, err)
	}
	return nil
}
