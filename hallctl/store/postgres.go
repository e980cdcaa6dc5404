package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrFenced: the store was opened with an Options.Epoch that is no longer
// the hall's epoch in the leaders table (another controller took over).
// Nothing of the refused commit is written, and the store refuses every
// later write: a fenced controller must stop.
var ErrFenced = errors.New("event log fenced: this controller's epoch is no longer the hall's")

// EventLog is a Store with what a running controller needs beyond it.
// *Log (SQLite) and *PG (PostgreSQL) implement it.
type EventLog interface {
	Store
	// Submit queues a batch in order and returns at once.
	Submit(b *Batch) *Pending
	// OnCommit is told every committed record, in log order.
	OnCommit(f func(recs []Record))
	// Check reports a failed log (SQLite: or a database file replaced).
	Check() error
	// Err is the failure that stopped the log, nil while it is healthy.
	Err() error
	// Stats are the write counters since open.
	Stats() Stats
	// Collector exposes Stats to Prometheus.
	Collector() prometheus.Collector
}

var (
	_ EventLog = (*Log)(nil)
	_ EventLog = (*PG)(nil)
)

// PG is the PostgreSQL event log (server.store: postgres://…). Every row
// carries the hall id, so many halls share one database; within a hall the
// semantics are the SQLite Log's: seqs strictly increasing and visible in
// commit order (a per-hall counter row is locked by every commit), keys
// unique per stream, batches atomic, concurrent commits grouped into one
// transaction by a single writer goroutine, and fail-stop after a failed
// commit. Create it with OpenPostgres.
type PG struct {
	hall     string
	opts     Options
	log      *slog.Logger
	clock    clockwork.Clock
	pool     *pgxpool.Pool
	readOnly bool
	where    string // host:port/database, for messages (never the password)

	records, txs, requests, failed atomic.Uint64

	failure  atomic.Pointer[error]
	onCommit atomic.Pointer[func(recs []Record)]

	lockMu   sync.Mutex // guards lockConn (Check runs from several goroutines)
	lockConn *pgx.Conn  // holds the hall's advisory lock (no Epoch); closed by Close

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	reqs   chan *request
	done   chan struct{}
}

// OpenPostgres opens the event log of hall opts.Hall in the PostgreSQL
// database dsn names, applying pending migrations (MigratePostgres). With
// opts.Epoch > 0 every commit first checks the hall's row of the leaders
// table (ErrFenced when its epoch differs).
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*PG, error) {
	return openPG(ctx, dsn, opts, false)
}

// OpenPostgresReadOnly opens hall's log for reading (reports): it never
// writes or migrates, and refuses a schema it does not know.
func OpenPostgresReadOnly(ctx context.Context, dsn, hall string) (*PG, error) {
	return openPG(ctx, dsn, Options{Hall: hall}, true)
}

func openPG(ctx context.Context, dsn string, opts Options, readOnly bool) (*PG, error) {
	opts = opts.withDefaults()
	if opts.Hall == "" || len(opts.Hall) > MaxNameLen {
		return nil, fmt.Errorf("%w: the PostgreSQL event log needs a hall id", ErrInvalid)
	}
	// A transaction keeps up to 64 subtransactions (the savepoints of a
	// group's requests) in shared memory; past that every reader of the
	// database slows down.
	opts.MaxBatch = min(opts.MaxBatch, 64)
	var idleTx time.Duration
	if opts.Epoch > 0 {
		if opts.IdleTxTimeout <= 0 {
			opts.IdleTxTimeout = time.Second
		}
		idleTx = opts.IdleTxTimeout
	}
	pool, where, err := pgPool(ctx, dsn, opts.ReadConns+1, idleTx)
	if err != nil {
		return nil, err
	}
	p := &PG{
		hall: opts.Hall, opts: opts, log: opts.Logger, clock: opts.Clock, pool: pool, where: where, readOnly: readOnly,
		reqs: make(chan *request, opts.MaxBatch),
		done: make(chan struct{}),
	}
	if readOnly {
		ver, err := pgVersion(ctx, pool)
		if err == nil && (ver == 0 || ver > pgSchemaVersion) {
			err = fmt.Errorf("%w: version %d", ErrSchema, ver)
		}
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("open event log %s read-only: %w", where, err)
		}
		close(p.done)
		return p, nil
	}
	from, err := migratePG(ctx, pool)
	if err == nil {
		_, err = pool.Exec(ctx, `INSERT INTO halls(hall) VALUES ($1) ON CONFLICT DO NOTHING`, p.hall)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open event log %s: %w", where, err)
	}
	if from != 0 && from != pgSchemaVersion {
		p.log.Info("event log migrated", "from", from, "to", pgSchemaVersion)
	}
	if opts.Epoch <= 0 {
		if err := p.lockHall(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open event log %s: %w", where, err)
		}
	}
	go p.writer()
	p.log.Info("event log open", "postgres", where)
	return p, nil
}

// pgPool connects to dsn. where names the server and database without
// credentials.
func pgPool(ctx context.Context, dsn string, conns int, idleTx time.Duration) (*pgxpool.Pool, string, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message hides the password.
		return nil, "", fmt.Errorf("%w: server.store: %w", ErrInvalid, err)
	}
	if idleTx > 0 {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(max(idleTx.Milliseconds(), 1))
	}
	where := fmt.Sprintf("postgres://%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	cfg.MaxConns = int32(conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, where, fmt.Errorf("open event log %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, where, fmt.Errorf("open event log %s: %w", where, err)
	}
	return pool, where, nil
}

// pgLockClass is the first key of the hall advisory locks (the second is
// hashtext(schema.hall): advisory locks are per database, and each schema
// holds logs of its own).
const pgLockClass = 0x5e41

// lockHall takes the hall's session advisory lock on a connection of its
// own, held until Close, so that two controllers never append to one
// hall's log (as the SQLite log's file lock): a second open fails with
// ErrLocked. A store opened with an Epoch takes no lock: the leaders
// row fences it instead, and a new leader must not wait for an old one.
func (p *PG) lockHall(ctx context.Context) error {
	c, err := p.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	var got bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext(current_schema() || '.' || $2))`, pgLockClass, p.hall).Scan(&got); err != nil {
		c.Release()
		return fmt.Errorf("lock the hall: %w", err)
	}
	conn := c.Hijack() // out of the pool: the lock lives as long as this session
	if !got {
		conn.Close(ctx)
		return fmt.Errorf("%w: hall %s's log in this database is open in another hallctl", ErrLocked, p.hall)
	}
	p.lockConn = conn
	return nil
}

// Hall is the hall whose log this is.
func (p *PG) Hall() string { return p.hall }

// Where names the database (no credentials).
func (p *PG) Where() string { return p.where }

// Close waits for submitted writes to finish, then closes the pool. It is
// safe to call more than once.
func (p *PG) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	if !p.readOnly {
		close(p.reqs)
	}
	p.mu.Unlock()
	<-p.done
	p.lockMu.Lock()
	if p.lockConn != nil {
		p.lockConn.Close(context.Background()) // releases the hall's lock
		p.lockConn = nil
	}
	p.lockMu.Unlock()
	p.pool.Close()
	if !p.readOnly {
		p.log.Info("event log closed", "postgres", p.where)
	}
	return nil
}

// Err is the failure that stopped the log, nil while it is healthy.
func (p *PG) Err() error {
	if f := p.failure.Load(); f != nil {
		return *f
	}
	return nil
}

// Check reports a failed (or fenced) log, or the loss of the session
// holding the hall's lock (then another hallctl could take the hall: the
// log fails, and the controller restarts).
func (p *PG) Check() error {
	if err := p.Err(); err != nil {
		return err
	}
	p.lockMu.Lock()
	defer p.lockMu.Unlock()
	if p.lockConn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.lockConn.Ping(ctx); err != nil {
		p.fail(fmt.Errorf("lost the session holding the hall's lock: %w", err))
	}
	return p.Err()
}

func (p *PG) fail(cause error) {
	var pe *pgconn.PgError
	if p.opts.Epoch > 0 && errors.As(cause, &pe) && pe.Code == "25P03" && !errors.Is(cause, ErrFenced) {
		// The server ended a transaction of this leader's that sat idle
		// past IdleTxTimeout (the process was frozen): another controller
		// may lead by now, so this one is fenced as surely as by the epoch.
		cause = fmt.Errorf("%w: a transaction sat idle past %v (frozen?) and the server ended it: %w", ErrFenced, p.opts.IdleTxTimeout, cause)
	}
	err := fmt.Errorf("%w: %s: %w", ErrFailed, p.where, cause)
	if p.failure.CompareAndSwap(nil, &err) {
		p.log.Error("event log failed; it refuses writes until restarted", "postgres", p.where, "err", cause)
	}
}

// Stats returns the counters.
func (p *PG) Stats() Stats {
	return Stats{Records: p.records.Load(), Commits: p.requests.Load(), Transactions: p.txs.Load(), Failed: p.failed.Load()}
}

// Collector exposes Stats to Prometheus.
func (p *PG) Collector() prometheus.Collector { return collector{p} }

// OnCommit sets f to run on the writer goroutine after every transaction
// with the records it appended, in log order (see Log.OnCommit).
func (p *PG) OnCommit(f func(recs []Record)) { p.onCommit.Store(&f) }

func (p *PG) submit(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.readOnly {
		return fmt.Errorf("%w: event log opened read-only", ErrInvalid)
	}
	if err := p.Err(); err != nil {
		return err
	}
	r.reply = make(chan struct{})
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ErrClosed
	}
	select {
	case p.reqs <- r:
	case <-ctx.Done():
		p.mu.RUnlock()
		return ctx.Err()
	}
	p.mu.RUnlock()
	select {
	case <-r.reply:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Submit queues b for the writer and returns at once (see Log.Submit).
func (p *PG) Submit(b *Batch) *Pending {
	if b == nil || len(b.ops) == 0 {
		return &Pending{}
	}
	if err := b.validate(); err != nil {
		return &Pending{err: err}
	}
	if p.readOnly {
		return &Pending{err: fmt.Errorf("%w: event log opened read-only", ErrInvalid)}
	}
	if err := p.Err(); err != nil {
		return &Pending{err: err}
	}
	r := &request{batch: b, reply: make(chan struct{})}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return &Pending{err: ErrClosed}
	}
	p.reqs <- r
	return &Pending{r: r}
}

// Commit applies b atomically and durably; see Store.Commit.
func (p *PG) Commit(ctx context.Context, b *Batch) ([]int64, error) {
	if b == nil || len(b.ops) == 0 {
		return nil, nil
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	r := &request{batch: b}
	if err := p.submit(ctx, r); err != nil {
		return nil, err
	}
	return r.seqs, nil
}

// Append appends recs in one transaction.
func (p *PG) Append(ctx context.Context, recs ...Record) ([]int64, error) {
	var b Batch
	return p.Commit(ctx, b.Append(recs...))
}

// Put sets bucket/key durably.
func (p *PG) Put(ctx context.Context, bucket, key string, val []byte) error {
	var b Batch
	_, err := p.Commit(ctx, b.Put(bucket, key, val))
	return err
}

// Delete removes bucket/key durably; a missing key is not an error.
func (p *PG) Delete(ctx context.Context, bucket, key string) error {
	var b Batch
	_, err := p.Commit(ctx, b.Delete(bucket, key))
	return err
}

// SaveSnapshot stores a snapshot of stream up to uptoSeq.
func (p *PG) SaveSnapshot(ctx context.Context, stream string, uptoSeq int64, data []byte) error {
	if stream == "" || len(stream) > MaxNameLen {
		return fmt.Errorf("%w: snapshot stream %q", ErrInvalid, stream)
	}
	if uptoSeq < 0 {
		return fmt.Errorf("%w: snapshot up to %d", ErrInvalid, uptoSeq)
	}
	return p.submit(ctx, &request{snap: &Snapshot{Stream: stream, Upto: uptoSeq, Data: data}})
}

// writer is the only goroutine that writes (see Log.writer).
func (p *PG) writer() {
	defer close(p.done)
	group := make([]*request, 0, p.opts.MaxBatch)
	for r := range p.reqs {
		group = append(group[:0], r)
	gather:
		for len(group) < p.opts.MaxBatch {
			select {
			case r2, ok := <-p.reqs:
				if !ok {
					break gather
				}
				group = append(group, r2)
			default:
				break gather
			}
		}
		p.commitGroup(group)
		for _, r := range group {
			if r.err != nil {
				p.failed.Add(1)
			}
			close(r.reply)
		}
		clear(group)
	}
}

func (p *PG) commitGroup(group []*request) {
	ctx := context.Background() // requests are already accepted; finish them
	fail := func(err error) {
		for _, r := range group {
			if r.err == nil {
				r.err = err
			}
			r.seqs = nil
		}
	}
	if err := p.Err(); err != nil {
		fail(err)
		return
	}
	ioFail := func(tx pgx.Tx, err error) {
		if tx != nil {
			tx.Rollback(ctx)
		}
		p.fail(err)
		fail(p.Err())
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		ioFail(nil, fmt.Errorf("begin: %w", err))
		return
	}
	if err := p.fence(ctx, tx); err != nil {
		ioFail(tx, err)
		return
	}
	var last int64
	if err := tx.QueryRow(ctx, `SELECT last_seq FROM halls WHERE hall = $1 FOR UPDATE`, p.hall).Scan(&last); err != nil {
		ioFail(tx, fmt.Errorf("lock the hall's sequence: %w", err))
		return
	}
	now := p.clock.Now()
	// Each request of a group runs after a savepoint, so a failing one is
	// undone alone. The savepoint statements travel in the request's own
	// round trip (apply); only a failure costs one more.
	single := len(group) == 1
	ok, open := 0, false
	for _, r := range group {
		var pre []string
		if !single {
			if open {
				pre = append(pre, "RELEASE SAVEPOINT req")
			}
			pre, open = append(pre, "SAVEPOINT req"), true
		}
		before := last
		r.err = p.apply(ctx, tx, r, now, &last, pre)
		if r.err != nil && !isLogical(r.err) {
			ioFail(tx, r.err)
			return
		}
		if r.err != nil {
			r.seqs, last = nil, before
			if single {
				break
			}
			if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT req"); err != nil {
				ioFail(tx, fmt.Errorf("rollback to savepoint: %w", err))
				return
			}
			continue
		}
		ok++
	}
	if ok == 0 {
		tx.Rollback(ctx)
		return
	}
	if _, err := tx.Exec(ctx, `UPDATE halls SET last_seq = $2 WHERE hall = $1`, p.hall, last); err != nil {
		ioFail(tx, fmt.Errorf("advance the hall's sequence: %w", err))
		return
	}
	if err := tx.Commit(ctx); err != nil {
		ioFail(nil, fmt.Errorf("commit: %w", err))
		return
	}
	p.txs.Add(1)
	var recs []Record
	hook := p.onCommit.Load()
	for _, r := range group {
		if r.err == nil {
			p.requests.Add(1)
			p.records.Add(uint64(len(r.seqs)))
			if hook != nil && r.batch != nil {
				recs = r.batch.appended(recs, r.seqs, now)
			}
		}
	}
	if hook != nil && len(recs) > 0 {
		(*hook)(recs)
	}
}

// fence refuses the transaction when the store has an epoch and the
// hall's leaders row holds another (or none). The row stays share-locked
// until the commit, so a takeover waits for it.
func (p *PG) fence(ctx context.Context, tx pgx.Tx) error {
	if p.opts.Epoch <= 0 {
		return nil
	}
	var epoch int64
	err := tx.QueryRow(ctx, `SELECT epoch FROM leaders WHERE hall = $1 FOR SHARE`, p.hall).Scan(&epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: the hall has no leaders row (this controller's epoch is %d)", ErrFenced, p.opts.Epoch)
	}
	if err != nil {
		return fmt.Errorf("fencing check: %w", err)
	}
	if epoch != p.opts.Epoch {
		return fmt.Errorf("%w: epoch %d, this controller's is %d", ErrFenced, epoch, p.opts.Epoch)
	}
	return nil
}

const (
	pgInsEvent = `INSERT INTO events(hall, seq, at, stream, type, key, data) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`
	pgPutKV    = `INSERT INTO kv(hall, bucket, key, val, updated) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (hall, bucket, key) DO UPDATE SET val = excluded.val, updated = excluded.updated`
	pgDelKV = `DELETE FROM kv WHERE hall = $1 AND bucket = $2 AND key = $3`
)

// apply performs one request inside tx, after the statements pre (the
// group's savepoints); last is the hall's last seq, advanced by the
// records appended. The request's statements go to the server in one
// round trip.
func (p *PG) apply(ctx context.Context, tx pgx.Tx, r *request, now time.Time, last *int64, pre []string) error {
	if r.snap != nil {
		for _, q := range pre {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return p.applySnapshot(ctx, tx, r.snap, now, *last)
	}
	var b pgx.Batch
	for _, q := range pre {
		b.Queue(q)
	}
	r.seqs = make([]int64, 0, r.batch.nrec)
	next := *last
	for i := range r.batch.ops {
		o := &r.batch.ops[i]
		switch o.kind {
		case opAppend:
			at := o.rec.At
			if at.IsZero() {
				at = now
			}
			next++
			r.seqs = append(r.seqs, next)
			b.Queue(pgInsEvent, p.hall, next, at.UnixNano(), o.rec.Stream, o.rec.Type, o.rec.Key, nonNil(o.rec.Data))
		case opPut:
			b.Queue(pgPutKV, p.hall, o.bucket, o.key, nonNil(o.val), now.UnixNano())
		case opDelete:
			b.Queue(pgDelKV, p.hall, o.bucket, o.key)
		}
	}
	br := tx.SendBatch(ctx, &b)
	for _, q := range pre {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	var dup *DuplicateKeyError
	for i := range r.batch.ops {
		o := &r.batch.ops[i]
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return fmt.Errorf("write %s: %w", opName(o), err)
		}
		if o.kind == opAppend && tag.RowsAffected() == 0 && dup == nil {
			dup = &DuplicateKeyError{Stream: o.rec.Stream, Key: o.rec.Key}
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	if dup != nil {
		if err := tx.QueryRow(ctx, `SELECT seq FROM events WHERE hall = $1 AND stream = $2 AND key = $3`,
			p.hall, dup.Stream, dup.Key).Scan(&dup.Seq); err != nil {
			return fmt.Errorf("append: look up duplicate key: %w", err)
		}
		return dup
	}
	*last = next
	return nil
}

func opName(o *op) string {
	switch o.kind {
	case opAppend:
		return "append " + o.rec.Stream + "/" + o.rec.Type
	case opPut:
		return "put " + o.bucket + "/" + o.key
	default:
		return "delete " + o.bucket + "/" + o.key
	}
}

func (p *PG) applySnapshot(ctx context.Context, tx pgx.Tx, s *Snapshot, now time.Time, last int64) error {
	if s.Upto > last {
		return fmt.Errorf("%w: snapshot of %q up to %d is past the last record %d", ErrInvalid, s.Stream, s.Upto, last)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO snapshots(hall, stream, upto, at, data) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (hall, stream, upto) DO UPDATE SET at = excluded.at, data = excluded.data`,
		p.hall, s.Stream, s.Upto, now.UnixNano(), nonNil(s.Data)); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM snapshots WHERE hall = $1 AND stream = $2 AND upto NOT IN
		(SELECT upto FROM snapshots WHERE hall = $1 AND stream = $2 ORDER BY upto DESC LIMIT $3)`,
		p.hall, s.Stream, p.opts.KeepSnapshots); err != nil {
		return fmt.Errorf("prune snapshots: %w", err)
	}
	return nil
}

func (p *PG) readable() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	return nil
}

// Read calls fn for each record of stream ("" = all) after afterSeq, in
// order, a page at a time (no transaction is held while fn runs).
func (p *PG) Read(ctx context.Context, stream string, afterSeq int64, fn func(Record) error) error {
	if err := p.readable(); err != nil {
		return err
	}
	q := `SELECT seq, at, stream, type, key, data FROM events WHERE hall = $1 AND seq > $2 AND stream = $3 ORDER BY seq LIMIT $4`
	if stream == "" {
		q = `SELECT seq, at, stream, type, key, data FROM events WHERE hall = $1 AND seq > $2 AND $3 = '' ORDER BY seq LIMIT $4`
	}
	page := make([]Record, 0, readPage)
	for {
		page = page[:0]
		rows, err := p.pool.Query(ctx, q, p.hall, afterSeq, stream, readPage)
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
		rows.Close()
		if err := rows.Err(); err != nil {
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
func (p *PG) LastSeq(ctx context.Context, stream string) (int64, error) {
	if err := p.readable(); err != nil {
		return 0, err
	}
	var seq int64
	var err error
	if stream == "" {
		err = p.pool.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events WHERE hall = $1`, p.hall).Scan(&seq)
	} else {
		err = p.pool.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events WHERE hall = $1 AND stream = $2`, p.hall, stream).Scan(&seq)
	}
	if err != nil {
		return 0, fmt.Errorf("last seq: %w", err)
	}
	return seq, nil
}

// ByKey finds the record of stream with key.
func (p *PG) ByKey(ctx context.Context, stream, key string) (Record, error) {
	if err := p.readable(); err != nil {
		return Record{}, err
	}
	if key == "" {
		return Record{}, fmt.Errorf("%w: empty key", ErrInvalid)
	}
	var r Record
	var at int64
	err := p.pool.QueryRow(ctx, `SELECT seq, at, stream, type, key, data FROM events WHERE hall = $1 AND stream = $2 AND key = $3`,
		p.hall, stream, key).Scan(&r.Seq, &at, &r.Stream, &r.Type, &r.Key, &r.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, fmt.Errorf("record %s/%s: %w", stream, key, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("record %s/%s: %w", stream, key, err)
	}
	r.At = time.Unix(0, at).UTC()
	return r, nil
}

// LatestSnapshot returns the newest snapshot of stream.
func (p *PG) LatestSnapshot(ctx context.Context, stream string) (Snapshot, error) {
	if err := p.readable(); err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{Stream: stream}
	var at int64
	err := p.pool.QueryRow(ctx, `SELECT upto, at, data FROM snapshots WHERE hall = $1 AND stream = $2 ORDER BY upto DESC LIMIT 1`,
		p.hall, stream).Scan(&s.Upto, &at, &s.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return Snapshot{}, fmt.Errorf("snapshot of %q: %w", stream, ErrNotFound)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot of %q: %w", stream, err)
	}
	s.At = time.Unix(0, at).UTC()
	return s, nil
}

// Get returns the value at bucket/key, or ErrNotFound.
func (p *PG) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	if err := checkBucketKey(bucket, key); err != nil {
		return nil, err
	}
	if err := p.readable(); err != nil {
		return nil, err
	}
	var v []byte
	err := p.pool.QueryRow(ctx, `SELECT val FROM kv WHERE hall = $1 AND bucket = $2 AND key = $3`, p.hall, bucket, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s/%s: %w", bucket, key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	return nonNil(v), nil
}

// List returns every entry of bucket in key order.
func (p *PG) List(ctx context.Context, bucket string) ([]KV, error) {
	if bucket == "" {
		return nil, fmt.Errorf("%w: empty bucket", ErrInvalid)
	}
	if err := p.readable(); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, `SELECT key, val FROM kv WHERE hall = $1 AND bucket = $2 ORDER BY key COLLATE "C"`, p.hall, bucket)
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
