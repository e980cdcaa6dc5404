package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	_ "modernc.org/sqlite" // registers driver "sqlite"
)

// schema is version 1 of the event log (migrate.go).
const schema = `
CREATE TABLE IF NOT EXISTS events (
	seq    INTEGER PRIMARY KEY,
	at     INTEGER NOT NULL,
	stream TEXT    NOT NULL,
	type   TEXT    NOT NULL,
	key    TEXT    NOT NULL DEFAULT '',
	data   BLOB
);
CREATE INDEX IF NOT EXISTS events_stream ON events(stream, seq);
CREATE UNIQUE INDEX IF NOT EXISTS events_key ON events(stream, key) WHERE key <> '';
CREATE TABLE IF NOT EXISTS snapshots (
	stream TEXT    NOT NULL,
	upto   INTEGER NOT NULL,
	at     INTEGER NOT NULL,
	data   BLOB,
	PRIMARY KEY (stream, upto)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
	bucket  TEXT    NOT NULL,
	key     TEXT    NOT NULL,
	val     BLOB,
	updated INTEGER NOT NULL,
	PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
`

// Options tune a Log. The zero value works.
type Options struct {
	// Logger receives open/close and write-failure lines. Default: discard.
	Logger *slog.Logger
	// Clock stamps records whose At is zero. Default: the real clock.
	Clock clockwork.Clock
	// BusyTimeout is how long SQLite waits for a lock held by another
	// connection (a backup, the sqlite3 shell). Default 5 s.
	BusyTimeout time.Duration
	// MaxBatch caps how many concurrent Commit calls the writer groups into
	// one transaction (one fsync). 1 turns group commit off. Default 256.
	MaxBatch int
	// KeepSnapshots is how many snapshots per stream survive pruning. Default 2.
	KeepSnapshots int
	// ReadConns caps open read connections. Default 4.
	ReadConns int
	// CheckpointEvery is how often a background checkpoint copies the WAL
	// into the database file, off the commit path (SQLite's automatic
	// checkpoint would run inside a commit and add its fsync to that
	// commit's latency). Default 1 s.
	CheckpointEvery time.Duration
	// Hall is the hall whose log a shared database holds (PostgreSQL:
	// every row carries it). Required by OpenPostgres; SQLite ignores it.
	Hall string
	// Epoch, when > 0, fences a PostgreSQL log: every commit first checks
	// that the hall's row of the leaders table holds this epoch, and is
	// refused with ErrFenced when it does not. SQLite ignores it.
	Epoch int64
	// IdleTxTimeout, with Epoch, is how long the server lets one of this
	// log's transactions sit idle before it aborts it and ends the session
	// (PostgreSQL's idle_in_transaction_session_timeout; default 1 s). A
	// leader frozen mid-commit (SIGSTOP, a stalled VM) otherwise holds
	// its share lock on the leaders row, and no standby could take over.
	IdleTxTimeout time.Duration
}

// DefaultOptions returns the options with every default filled in.
func DefaultOptions() Options {
	return Options{
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock:           clockwork.NewRealClock(),
		BusyTimeout:     5 * time.Second,
		MaxBatch:        256,
		KeepSnapshots:   2,
		ReadConns:       4,
		CheckpointEvery: time.Second,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	if o.Clock == nil {
		o.Clock = d.Clock
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = d.BusyTimeout
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = d.MaxBatch
	}
	if o.KeepSnapshots <= 0 {
		o.KeepSnapshots = d.KeepSnapshots
	}
	if o.ReadConns <= 0 {
		o.ReadConns = d.ReadConns
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = d.CheckpointEvery
	}
	return o
}

// Log is the SQLite event log. Create it with Open.
type Log struct {
	path  string
	opts  Options
	log   *slog.Logger
	clock clockwork.Clock

	wdb, rdb *sql.DB
	cdb      *sql.DB // the checkpointer's connection
	lock     *os.File

	insEvent, putKV, delKV, keySeq *sql.Stmt

	records, txs, requests, failed atomic.Uint64

	migratedFrom int // the schema version found at Open

	failure  atomic.Pointer[error]               // first I/O failure: the log refuses writes after it
	fileInfo os.FileInfo                         // the database file as opened (Check compares)
	onCommit atomic.Pointer[func(recs []Record)] // see OnCommit

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	reqs   chan *request
	done   chan struct{} // closed when the writer has exited
	stopCk chan struct{} // closed by Close to stop the checkpointer
	ckDone chan struct{} // closed when the checkpointer has exited
}

// request is one Commit (or snapshot save) waiting for the writer.
type request struct {
	batch *Batch
	snap  *Snapshot
	seqs  []int64
	err   error
	reply chan struct{}
}

// Open opens or creates the event log at path (its directory must exist).
// It holds an exclusive lock on path+".lock" so that two processes never
// append to one log: a second Open fails with ErrLocked.
func Open(ctx context.Context, path string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("%w: event log needs a file path", ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	lock, err := lockFile(abs + ".lock")
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", abs, err)
	}
	l := &Log{
		path: abs, opts: opts, log: opts.Logger, clock: opts.Clock, lock: lock,
		reqs:   make(chan *request, opts.MaxBatch),
		done:   make(chan struct{}),
		stopCk: make(chan struct{}),
		ckDone: make(chan struct{}),
	}
	if err := l.open(ctx); err != nil {
		l.closeDBs()
		return nil, fmt.Errorf("open event log %s: %w", abs, err)
	}
	if l.fileInfo, err = os.Stat(abs); err != nil {
		l.closeDBs()
		return nil, fmt.Errorf("open event log %s: %w", abs, err)
	}
	go l.writer()
	go l.checkpointer()
	l.log.Info("event log open", "path", abs)
	return l, nil
}

func (l *Log) dsn(readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", l.opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	if readOnly {
		q.Add("_pragma", "query_only(ON)")
	} else {
		q.Set("_txlock", "immediate")
		q.Add("_pragma", "wal_autocheckpoint(0)") // see checkpointer
	}
	return "file:" + (&url.URL{Path: l.path}).EscapedPath() + "?" + q.Encode()
}

func (l *Log) open(ctx context.Context) error {
	// The log holds the hall's history: readable by its owner only.
	// SQLite gives the -wal and -shm files the database file's mode, so
	// creating it 0600 first covers all three.
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if l.wdb, err = sql.Open("sqlite", l.dsn(false)); err != nil {
		return err
	}
	l.wdb.SetMaxOpenConns(1)
	l.wdb.SetMaxIdleConns(1)
	l.wdb.SetConnMaxLifetime(0)
	l.wdb.SetConnMaxIdleTime(0)

	var mode string
	if err := l.wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	from, err := migrate(ctx, l.wdb, migrations)
	if err != nil {
		return err
	}
	l.migratedFrom = from
	if from != 0 && from != schemaVersion {
		l.log.Info("event log migrated", "from", from, "to", schemaVersion)
	}
	prep := func(dst **sql.Stmt, q string) {
		if err == nil {
			*dst, err = l.wdb.PrepareContext(ctx, q)
		}
	}
	prep(&l.insEvent, `INSERT INTO events(at, stream, type, key, data) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	prep(&l.putKV, `INSERT INTO kv(bucket, key, val, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT(bucket, key) DO UPDATE SET val = excluded.val, updated = excluded.updated`)
	prep(&l.delKV, `DELETE FROM kv WHERE bucket = ? AND key = ?`)
	prep(&l.keySeq, `SELECT seq FROM events WHERE stream = ? AND key = ?`)
	if err != nil {
		return err
	}

	if l.rdb, err = sql.Open("sqlite", l.dsn(true)); err != nil {
		return err
	}
	if l.cdb, err = sql.Open("sqlite", l.dsn(false)); err != nil {
		return err
	}
	l.cdb.SetMaxOpenConns(1)
	l.rdb.SetMaxOpenConns(l.opts.ReadConns)
	l.rdb.SetMaxIdleConns(l.opts.ReadConns)
	return l.rdb.PingContext(ctx)
}

func (l *Log) closeDBs() {
	for _, s := range []*sql.Stmt{l.insEvent, l.putKV, l.delKV, l.keySeq} {
		if s != nil {
			s.Close()
		}
	}
	if l.rdb != nil {
		l.rdb.Close()
	}
	if l.cdb != nil {
		l.cdb.Close()
	}
	if l.wdb != nil {
		l.wdb.Close()
	}
	if l.lock != nil {
		l.lock.Close() // releases the flock
	}
}

// Path is the absolute path of the database file.
func (l *Log) Path() string { return l.path }

// Close waits for submitted writes to finish, then closes the database.
// It is safe to call more than once.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closed = true
	close(l.reqs)
	close(l.stopCk)
	l.mu.Unlock()
	<-l.done
	<-l.ckDone
	l.closeDBs()
	l.log.Info("event log closed", "path", l.path)
	return nil
}

// submit hands r to the writer and waits for its outcome.
func (l *Log) submit(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.Err(); err != nil {
		return err
	}
	r.reply = make(chan struct{})
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	select {
	case l.reqs <- r:
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	}
	l.mu.RUnlock()
	select {
	case <-r.reply:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer is the only goroutine that writes. It takes one request, gathers
// whatever else is already waiting (up to MaxBatch) and commits them all in
// one transaction, each request in its own savepoint so one failing request
// does not fail the others.
func (l *Log) writer() {
	defer close(l.done)
	group := make([]*request, 0, l.opts.MaxBatch)
	for r := range l.reqs {
		group = append(group[:0], r)
	gather:
		for len(group) < l.opts.MaxBatch {
			select {
			case r2, ok := <-l.reqs:
				if !ok {
					break gather
				}
				group = append(group, r2)
			default:
				break gather
			}
		}
		l.commitGroup(group)
		for _, r := range group {
			if r.err != nil {
				l.failed.Add(1)
			}
			close(r.reply)
		}
		clear(group)
	}
}

func (l *Log) commitGroup(group []*request) {
	ctx := context.Background() // requests are already accepted; finish them
	fail := func(err error) {
		for _, r := range group {
			if r.err == nil {
				r.err = err
			}
			r.seqs = nil
		}
	}
	if err := l.Err(); err != nil {
		fail(err)
		return
	}
	// ioFail: the log could not write. Nothing of the group is committed and
	// nothing after it will be (it could depend on what was lost).
	ioFail := func(tx *sql.Tx, err error) {
		if tx != nil {
			tx.Rollback()
		}
		l.fail(err)
		fail(l.Err())
	}
	tx, err := l.wdb.BeginTx(ctx, nil)
	if err != nil {
		ioFail(nil, fmt.Errorf("begin: %w", err))
		return
	}
	now := l.clock.Now()
	single := len(group) == 1
	ok := 0
	for _, r := range group {
		if !single {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT req"); err != nil {
				ioFail(tx, fmt.Errorf("savepoint: %w", err))
				return
			}
		}
		r.err = l.apply(ctx, tx, r, now)
		if r.err != nil && !isLogical(r.err) {
			ioFail(tx, r.err)
			return
		}
		if single {
			break
		}
		if r.err != nil {
			r.seqs = nil
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO req; RELEASE req"); err != nil {
				ioFail(tx, fmt.Errorf("rollback to savepoint: %w", err))
				return
			}
			continue
		}
		ok++
		if _, err := tx.ExecContext(ctx, "RELEASE req"); err != nil {
			ioFail(tx, fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if single && group[0].err != nil {
		group[0].seqs = nil
		tx.Rollback()
		return
	}
	if !single && ok == 0 {
		tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		ioFail(tx, fmt.Errorf("commit: %w", err))
		return
	}
	l.txs.Add(1)
	var recs []Record
	hook := l.onCommit.Load()
	for _, r := range group {
		if r.err == nil {
			l.requests.Add(1)
			l.records.Add(uint64(len(r.seqs)))
			if hook != nil && r.batch != nil {
				recs = r.batch.appended(recs, r.seqs, now)
			}
		}
	}
	if hook != nil && len(recs) > 0 {
		(*hook)(recs)
	}
}

// apply performs one request inside tx.
func (l *Log) apply(ctx context.Context, tx *sql.Tx, r *request, now time.Time) error {
	if r.snap != nil {
		return l.applySnapshot(ctx, tx, r.snap, now)
	}
	ins := tx.StmtContext(ctx, l.insEvent)
	r.seqs = make([]int64, 0, r.batch.nrec)
	for i := range r.batch.ops {
		o := &r.batch.ops[i]
		switch o.kind {
		case opAppend:
			at := o.rec.At
			if at.IsZero() {
				at = now
			}
			res, err := ins.ExecContext(ctx, at.UnixNano(), o.rec.Stream, o.rec.Type, o.rec.Key, o.rec.Data)
			if err != nil {
				return fmt.Errorf("append %s/%s: %w", o.rec.Stream, o.rec.Type, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("append: %w", err)
			}
			if n == 0 {
				d := &DuplicateKeyError{Stream: o.rec.Stream, Key: o.rec.Key}
				if err := tx.StmtContext(ctx, l.keySeq).QueryRowContext(ctx, o.rec.Stream, o.rec.Key).Scan(&d.Seq); err != nil {
					return fmt.Errorf("append: look up duplicate key: %w", err)
				}
				return d
			}
			seq, err := res.LastInsertId()
			if err != nil {
				return fmt.Errorf("append: %w", err)
			}
			r.seqs = append(r.seqs, seq)
		case opPut:
			if _, err := tx.StmtContext(ctx, l.putKV).ExecContext(ctx, o.bucket, o.key, nonNil(o.val), now.UnixNano()); err != nil {
				return fmt.Errorf("put %s/%s: %w", o.bucket, o.key, err)
			}
		case opDelete:
			if _, err := tx.StmtContext(ctx, l.delKV).ExecContext(ctx, o.bucket, o.key); err != nil {
				return fmt.Errorf("delete %s/%s: %w", o.bucket, o.key, err)
			}
		}
	}
	return nil
}

func (l *Log) applySnapshot(ctx context.Context, tx *sql.Tx, s *Snapshot, now time.Time) error {
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&last); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	if s.Upto > last {
		return fmt.Errorf("%w: snapshot of %q up to %d is past the last record %d", ErrInvalid, s.Stream, s.Upto, last)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO snapshots(stream, upto, at, data) VALUES (?, ?, ?, ?)
		ON CONFLICT(stream, upto) DO UPDATE SET at = excluded.at, data = excluded.data`,
		s.Stream, s.Upto, now.UnixNano(), nonNil(s.Data)); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE stream = ? AND upto NOT IN
		(SELECT upto FROM snapshots WHERE stream = ? ORDER BY upto DESC LIMIT ?)`,
		s.Stream, s.Stream, l.opts.KeepSnapshots); err != nil {
		return fmt.Errorf("prune snapshots: %w", err)
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Commit applies b atomically and durably; see Store.Commit.
func (l *Log) Commit(ctx context.Context, b *Batch) ([]int64, error) {
	if b == nil || len(b.ops) == 0 {
		return nil, nil
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	r := &request{batch: b}
	if err := l.submit(ctx, r); err != nil {
		return nil, err
	}
	return r.seqs, nil
}

// Append appends recs in one transaction; see Store.Append.
func (l *Log) Append(ctx context.Context, recs ...Record) ([]int64, error) {
	var b Batch
	return l.Commit(ctx, b.Append(recs...))
}

// Put sets bucket/key durably.
func (l *Log) Put(ctx context.Context, bucket, key string, val []byte) error {
	var b Batch
	_, err := l.Commit(ctx, b.Put(bucket, key, val))
	return err
}

// Delete removes bucket/key durably; a missing key is not an error.
func (l *Log) Delete(ctx context.Context, bucket, key string) error {
	var b Batch
	_, err := l.Commit(ctx, b.Delete(bucket, key))
	return err
}

// SaveSnapshot stores a snapshot of stream up to uptoSeq; see Store.SaveSnapshot.
func (l *Log) SaveSnapshot(ctx context.Context, stream string, uptoSeq int64, data []byte) error {
	if stream == "" || len(stream) > MaxNameLen {
		return fmt.Errorf("%w: snapshot stream %q", ErrInvalid, stream)
	}
	if uptoSeq < 0 {
		return fmt.Errorf("%w: snapshot up to %d", ErrInvalid, uptoSeq)
	}
	return l.submit(ctx, &request{snap: &Snapshot{Stream: stream, Upto: uptoSeq, Data: data}})
}

func (l *Log) readable() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return nil
}

// readPage is how many records Read fetches per query; between pages no
// read transaction is held, so fn may write and checkpoints can proceed.
const readPage = 512

// Read calls fn for each record of stream ("" = all) after afterSeq, in order.
func (l *Log) Read(ctx context.Context, stream string, afterSeq int64, fn func(Record) error) error {
	if err := l.readable(); err != nil {
		return err
	}
	q := `SELECT seq, at, stream, type, key, data FROM events WHERE seq > ? AND stream = ? ORDER BY seq LIMIT ?`
	if stream == "" {
		q = `SELECT seq, at, stream, type, key, data FROM events WHERE seq > ? AND ? = '' ORDER BY seq LIMIT ?`
	}
	page := make([]Record, 0, readPage)
	for {
		page = page[:0]
		rows, err := l.rdb.QueryContext(ctx, q, afterSeq, stream, readPage)
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		for rows.Next() {
			var r Record
			var at int64
			if err := rows.Scan(&r.Seq, &at, &r.Stream, &r.Type, &r.Key, &r.Data); err != nil {
				rows.Close()
				return fmt.Errorf("read events: %w", err)
			}
			r.At = time.Unix(0, at).UTC()
			page = append(page, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
			afterSeq = r.Seq
		}
		if len(page) < readPage {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// LastSeq is the highest seq in stream ("" = any), 0 when empty.
func (l *Log) LastSeq(ctx context.Context, stream string) (int64, error) {
	if err := l.readable(); err != nil {
		return 0, err
	}
	var seq int64
	var err error
	if stream == "" {
		err = l.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&seq)
	} else {
		err = l.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events WHERE stream = ?`, stream).Scan(&seq)
	}
	if err != nil {
		return 0, fmt.Errorf("last seq: %w", err)
	}
	return seq, nil
}

// ByKey finds the record of stream with key.
func (l *Log) ByKey(ctx context.Context, stream, key string) (Record, error) {
	if err := l.readable(); err != nil {
		return Record{}, err
	}
	if key == "" {
		return Record{}, fmt.Errorf("%w: empty key", ErrInvalid)
	}
	var r Record
	var at int64
	err := l.rdb.QueryRowContext(ctx, `SELECT seq, at, stream, type, key, data FROM events WHERE stream = ? AND key = ?`,
		stream, key).Scan(&r.Seq, &at, &r.Stream, &r.Type, &r.Key, &r.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("record %s/%s: %w", stream, key, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("record %s/%s: %w", stream, key, err)
	}
	r.At = time.Unix(0, at).UTC()
	return r, nil
}

// LatestSnapshot returns the newest snapshot of stream.
func (l *Log) LatestSnapshot(ctx context.Context, stream string) (Snapshot, error) {
	if err := l.readable(); err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{Stream: stream}
	var at int64
	err := l.rdb.QueryRowContext(ctx, `SELECT upto, at, data FROM snapshots WHERE stream = ? ORDER BY upto DESC LIMIT 1`,
		stream).Scan(&s.Upto, &at, &s.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return Snapshot{}, fmt.Errorf("snapshot of %q: %w", stream, ErrNotFound)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot of %q: %w", stream, err)
	}
	s.At = time.Unix(0, at).UTC()
	return s, nil
}

// Get returns the value at bucket/key, or ErrNotFound.
func (l *Log) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	if err := checkBucketKey(bucket, key); err != nil {
		return nil, err
	}
	if err := l.readable(); err != nil {
		return nil, err
	}
	var v []byte
	err := l.rdb.QueryRowContext(ctx, `SELECT val FROM kv WHERE bucket = ? AND key = ?`, bucket, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s/%s: %w", bucket, key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	return nonNil(v), nil
}

// List returns every entry of bucket in key order.
func (l *Log) List(ctx context.Context, bucket string) ([]KV, error) {
	if bucket == "" {
		return nil, fmt.Errorf("%w: empty bucket", ErrInvalid)
	}
	if err := l.readable(); err != nil {
		return nil, err
	}
	rows, err := l.rdb.QueryContext(ctx, `SELECT key, val FROM kv WHERE bucket = ? ORDER BY key`, bucket)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", bucket, err)
	}
	defer rows.Close()
	var out []KV
	for rows.Next() {
		var kv KV
		if err := rows.Scan(&kv.Key, &kv.Val); err != nil {
			return nil, fmt.Errorf("list %s: %w", bucket, err)
		}
		kv.Val = nonNil(kv.Val)
		out = append(out, kv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", bucket, err)
	}
	return out, nil
}

// Stats are a Log's counters since Open.
type Stats struct {
	Records      uint64 // records appended
	Commits      uint64 // successful Commit, Put, Delete and SaveSnapshot calls
	Transactions uint64 // durable transactions (fsyncs); Commits/Transactions is the group-commit factor
	Failed       uint64 // calls that returned an error from the writer (duplicates included)
}

// Stats returns the counters.
func (l *Log) Stats() Stats {
	return Stats{Records: l.records.Load(), Commits: l.requests.Load(), Transactions: l.txs.Load(), Failed: l.failed.Load()}
}

var _ Store = (*Log)(nil)

// checkpointer copies the WAL into the database file every CheckpointEvery
// while records are being written (a PASSIVE checkpoint: it never blocks
// the writer or readers), so commits do not pay for checkpoints.
func (l *Log) checkpointer() {
	defer close(l.ckDone)
	t := l.clock.NewTicker(l.opts.CheckpointEvery)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-l.stopCk:
			return
		case <-t.Chan():
		}
		n := l.txs.Load()
		if n == last || l.Err() != nil {
			continue
		}
		last = n
		if _, err := l.cdb.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			l.log.Warn("event log: checkpoint", "err", err)
		}
	}
}

// Lock takes the event log's lock (path+".lock") as Open does, for a tool
// that must not run beside a controller (hallctl restore): ErrLocked while
// a hallctl has the log at path open. Close the result to release it.
func Lock(path string) (io.Closer, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return lockFile(abs + ".lock")
}

// BackupTo writes a consistent copy of the event log at path to dst (a
// new file) with VACUUM INTO on a read-only connection: safe while a
// hallctl has the log open, whose writes go on (in WAL mode a reader
// never blocks the writer). The copy has every record committed when the
// copy's read transaction began, and no WAL.
func BackupTo(ctx context.Context, path, dst string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("back up event log: %w", err)
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("back up event log: %s exists", dst)
	}
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", DefaultOptions().BusyTimeout.Milliseconds()))
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("back up event log %s: %w", abs, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		os.Remove(dst)
		return fmt.Errorf("back up event log %s: %w", abs, err)
	}
	return nil
}

// Verify checks a closed event log file (a backup): SQLite's
// integrity_check passes and its schema version is one this build reads
// (older ones are migrated when opened). It returns the version.
func Verify(ctx context.Context, path string) (int, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(abs); err != nil {
		return 0, fmt.Errorf("verify event log: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?mode=ro")
	if err != nil {
		return 0, fmt.Errorf("verify event log %s: %w", abs, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check(1)").Scan(&res); err != nil {
		return 0, fmt.Errorf("verify event log %s: %w: %w", abs, ErrSchema, err)
	}
	if res != "ok" {
		return 0, fmt.Errorf("verify event log %s: %w: integrity check: %s", abs, ErrSchema, res)
	}
	var ver int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		return 0, fmt.Errorf("verify event log %s: %w", abs, err)
	}
	if ver < 1 || ver > schemaVersion {
		return ver, fmt.Errorf("verify event log %s: %w: schema version %d, this build reads 1 to %d", abs, ErrSchema, ver, schemaVersion)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
		return ver, fmt.Errorf("verify event log %s: %w: %w", abs, ErrSchema, err)
	}
	return ver, nil
}
