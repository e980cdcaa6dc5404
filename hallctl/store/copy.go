package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Copyable is a store whose whole content can be copied (hallctl store
// copy): *Log and *PG.
type Copyable interface {
	Store
	dumpSnapshots(ctx context.Context) ([]Snapshot, error)
	dumpKV(ctx context.Context) ([]bucketKV, error)
	counts(ctx context.Context) (Counts, error)
	importRecords(ctx context.Context, recs []Record) error
	importRest(ctx context.Context, snaps []Snapshot, kvs []bucketKV) error
}

type bucketKV struct {
	Bucket string
	KV
	Updated int64
}

// Counts is what a store holds.
type Counts struct {
	Records, Snapshots, KV int64
	LastSeq                int64
}

func (c Counts) empty() bool { return c.Records == 0 && c.Snapshots == 0 && c.KV == 0 }

// copyChunk is how many records one import transaction writes.
const copyChunk = 2000

// Copy copies the whole log of src (records with their seqs, keys and
// times; snapshots; buckets) into dst, which must be empty, and verifies
// that dst then holds as many records, snapshots and bucket entries as
// src, with the same last seq. Nothing may write to either meanwhile.
func Copy(ctx context.Context, src, dst Copyable) (Counts, error) {
	want, err := src.counts(ctx)
	if err != nil {
		return Counts{}, fmt.Errorf("copy: source: %w", err)
	}
	have, err := dst.counts(ctx)
	if err != nil {
		return want, fmt.Errorf("copy: target: %w", err)
	}
	if !have.empty() {
		return want, fmt.Errorf("%w: the target is not empty (%d records, %d snapshots, %d bucket entries): copy only into a new store",
			ErrInvalid, have.Records, have.Snapshots, have.KV)
	}
	chunk := make([]Record, 0, copyChunk)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		err := dst.importRecords(ctx, chunk)
		chunk = chunk[:0]
		return err
	}
	if err := src.Read(ctx, "", 0, func(r Record) error {
		chunk = append(chunk, r)
		if len(chunk) == copyChunk {
			return flush()
		}
		return nil
	}); err != nil {
		return want, fmt.Errorf("copy records: %w", err)
	}
	if err := flush(); err != nil {
		return want, fmt.Errorf("copy records: %w", err)
	}
	snaps, err := src.dumpSnapshots(ctx)
	if err != nil {
		return want, fmt.Errorf("copy snapshots: %w", err)
	}
	kvs, err := src.dumpKV(ctx)
	if err != nil {
		return want, fmt.Errorf("copy buckets: %w", err)
	}
	if err := dst.importRest(ctx, snaps, kvs); err != nil {
		return want, fmt.Errorf("copy snapshots and buckets: %w", err)
	}
	got, err := dst.counts(ctx)
	if err != nil {
		return want, fmt.Errorf("copy: verify: %w", err)
	}
	if got != want {
		return got, fmt.Errorf("copy: verify: the target holds %+v, the source %+v", got, want)
	}
	return got, nil
}

// --- SQLite ---

func (l *Log) counts(ctx context.Context) (Counts, error) {
	if err := l.readable(); err != nil {
		return Counts{}, err
	}
	var c Counts
	err := l.rdb.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM events), (SELECT COALESCE(MAX(seq), 0) FROM events),
		(SELECT count(*) FROM snapshots), (SELECT count(*) FROM kv)`).Scan(&c.Records, &c.LastSeq, &c.Snapshots, &c.KV)
	return c, err
}

func (l *Log) dumpSnapshots(ctx context.Context) ([]Snapshot, error) {
	rows, err := l.rdb.QueryContext(ctx, `SELECT stream, upto, at, data FROM snapshots ORDER BY stream, upto`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		var s Snapshot
		var at int64
		if err := rows.Scan(&s.Stream, &s.Upto, &at, &s.Data); err != nil {
			return nil, err
		}
		s.At = time.Unix(0, at).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

func (l *Log) dumpKV(ctx context.Context) ([]bucketKV, error) {
	rows, err := l.rdb.QueryContext(ctx, `SELECT bucket, key, val, updated FROM kv ORDER BY bucket, key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bucketKV
	for rows.Next() {
		var e bucketKV
		if err := rows.Scan(&e.Bucket, &e.Key, &e.Val, &e.Updated); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (l *Log) importTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := l.readable(); err != nil {
		return err
	}
	tx, err := l.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func (l *Log) importRecords(ctx context.Context, recs []Record) error {
	return l.importTx(ctx, func(tx *sql.Tx) error {
		for _, r := range recs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO events(seq, at, stream, type, key, data) VALUES (?, ?, ?, ?, ?, ?)`,
				r.Seq, r.At.UnixNano(), r.Stream, r.Type, r.Key, nonNil(r.Data)); err != nil {
				return fmt.Errorf("record %d: %w", r.Seq, err)
			}
		}
		return nil
	})
}

func (l *Log) importRest(ctx context.Context, snaps []Snapshot, kvs []bucketKV) error {
	return l.importTx(ctx, func(tx *sql.Tx) error {
		for _, s := range snaps {
			if _, err := tx.ExecContext(ctx, `INSERT INTO snapshots(stream, upto, at, data) VALUES (?, ?, ?, ?)`,
				s.Stream, s.Upto, s.At.UnixNano(), nonNil(s.Data)); err != nil {
				return err
			}
		}
		for _, e := range kvs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO kv(bucket, key, val, updated) VALUES (?, ?, ?, ?)`,
				e.Bucket, e.Key, nonNil(e.Val), e.Updated); err != nil {
				return err
			}
		}
		return nil
	})
}

// --- PostgreSQL ---

func (p *PG) counts(ctx context.Context) (Counts, error) {
	if err := p.readable(); err != nil {
		return Counts{}, err
	}
	var c Counts
	err := p.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events WHERE hall = $1), (SELECT COALESCE(MAX(seq), 0) FROM events WHERE hall = $1),
		(SELECT count(*) FROM snapshots WHERE hall = $1), (SELECT count(*) FROM kv WHERE hall = $1)`, p.hall).Scan(&c.Records, &c.LastSeq, &c.Snapshots, &c.KV)
	return c, err
}

func (p *PG) dumpSnapshots(ctx context.Context) ([]Snapshot, error) {
	rows, err := p.pool.Query(ctx, `SELECT stream, upto, at, data FROM snapshots WHERE hall = $1 ORDER BY stream, upto`, p.hall)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		var s Snapshot
		var at int64
		if err := rows.Scan(&s.Stream, &s.Upto, &at, &s.Data); err != nil {
			return nil, err
		}
		s.At = time.Unix(0, at).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

func (p *PG) dumpKV(ctx context.Context) ([]bucketKV, error) {
	rows, err := p.pool.Query(ctx, `SELECT bucket, key, val, updated FROM kv WHERE hall = $1 ORDER BY bucket, key`, p.hall)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bucketKV
	for rows.Next() {
		var e bucketKV
		if err := rows.Scan(&e.Bucket, &e.Key, &e.Val, &e.Updated); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (p *PG) importTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if err := p.readable(); err != nil {
		return err
	}
	if p.readOnly {
		return fmt.Errorf("%w: event log opened read-only", ErrInvalid)
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (p *PG) importRecords(ctx context.Context, recs []Record) error {
	return p.importTx(ctx, func(tx pgx.Tx) error {
		rows := make([][]any, len(recs))
		var last int64
		for i, r := range recs {
			rows[i] = []any{p.hall, r.Seq, r.At.UnixNano(), r.Stream, r.Type, r.Key, nonNil(r.Data)}
			last = max(last, r.Seq)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"hall", "seq", "at", "stream", "type", "key", "data"},
			pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE halls SET last_seq = GREATEST(last_seq, $2) WHERE hall = $1`, p.hall, last)
		return err
	})
}

func (p *PG) importRest(ctx context.Context, snaps []Snapshot, kvs []bucketKV) error {
	return p.importTx(ctx, func(tx pgx.Tx) error {
		for _, s := range snaps {
			if _, err := tx.Exec(ctx, `INSERT INTO snapshots(hall, stream, upto, at, data) VALUES ($1, $2, $3, $4, $5)`,
				p.hall, s.Stream, s.Upto, s.At.UnixNano(), nonNil(s.Data)); err != nil {
				return err
			}
		}
		for _, e := range kvs {
			if _, err := tx.Exec(ctx, `INSERT INTO kv(hall, bucket, key, val, updated) VALUES ($1, $2, $3, $4, $5)`,
				p.hall, e.Bucket, e.Key, nonNil(e.Val), e.Updated); err != nil {
				return err
			}
		}
		return nil
	})
}

var (
	_ Copyable = (*Log)(nil)
	_ Copyable = (*PG)(nil)
)
