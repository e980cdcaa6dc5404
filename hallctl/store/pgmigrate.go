package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgMigrations are the PostgreSQL schema's steps, in order; the version
// (the one row of schema_migrations) is how many have been applied.
// Append a step for every schema change; never edit one that has shipped.
// Every table has the hall id in its primary key, so many halls share one
// database. Text that is sorted (kv keys) uses the "C" collation: byte
// order, as SQLite sorts.
var pgMigrations = []string{
	`CREATE TABLE halls (
		hall     text COLLATE "C" PRIMARY KEY,
		last_seq bigint NOT NULL DEFAULT 0
	);
	CREATE TABLE events (
		hall   text COLLATE "C" NOT NULL,
		seq    bigint NOT NULL,
		at     bigint NOT NULL,
		stream text COLLATE "C" NOT NULL,
		type   text COLLATE "C" NOT NULL,
		key    text COLLATE "C" NOT NULL DEFAULT '',
		data   bytea NOT NULL,
		PRIMARY KEY (hall, seq)
	);
	CREATE INDEX events_stream ON events(hall, stream, seq);
	CREATE UNIQUE INDEX events_key ON events(hall, stream, key) WHERE key <> '';
	CREATE TABLE snapshots (
		hall   text COLLATE "C" NOT NULL,
		stream text COLLATE "C" NOT NULL,
		upto   bigint NOT NULL,
		at     bigint NOT NULL,
		data   bytea NOT NULL,
		PRIMARY KEY (hall, stream, upto)
	);
	CREATE TABLE kv (
		hall    text COLLATE "C" NOT NULL,
		bucket  text COLLATE "C" NOT NULL,
		key     text COLLATE "C" NOT NULL,
		val     bytea NOT NULL,
		updated bigint NOT NULL,
		PRIMARY KEY (hall, bucket, key)
	);
	CREATE TABLE leaders (
		hall    text COLLATE "C" PRIMARY KEY,
		epoch   bigint NOT NULL,
		holder  text,
		expires timestamptz
	);`,
	// 2: the city view's projection (hallctl/city): one row per ticket of
	// every hall, folded from events by casesys.Ledger, and each hall's
	// cursor (the last seq folded). The summary queries filter by local
	// issue day (tickets, waits, ratings) or by due day (按期办结率).
	`CREATE TABLE city_cursors (
		hall      text COLLATE "C" PRIMARY KEY,
		last_seq  bigint NOT NULL DEFAULT 0,
		folded_at timestamptz
	);
	CREATE TABLE city_tickets (
		hall        text COLLATE "C" NOT NULL,
		ticket      bigint NOT NULL,
		day         date,
		dept        text COLLATE "C" NOT NULL DEFAULT '-',
		item        text COLLATE "C" NOT NULL DEFAULT '',
		issued_at   timestamptz,
		called_at   timestamptz,
		finished_at timestamptz,
		wait_s      double precision,
		no_show     boolean NOT NULL DEFAULT false,
		served      boolean NOT NULL DEFAULT false,
		rating      smallint NOT NULL DEFAULT 0,
		rated       boolean NOT NULL DEFAULT false,
		good        boolean NOT NULL DEFAULT false,
		bad         boolean NOT NULL DEFAULT false,
		rectified   boolean NOT NULL DEFAULT false,
		due_day     date,
		due_on_time boolean NOT NULL DEFAULT false,
		seq         bigint NOT NULL DEFAULT 0,
		PRIMARY KEY (hall, ticket)
	);
	CREATE INDEX city_tickets_day ON city_tickets(day, hall, dept);
	CREATE INDEX city_tickets_due ON city_tickets(due_day, hall, dept) WHERE due_day IS NOT NULL;`,
}

// pgSchemaVersion is the PostgreSQL schema version this build writes.
var pgSchemaVersion = len(pgMigrations)

// pgMigrateLock is the advisory lock key that serialises migrations of
// one database (two controllers starting at once).
const pgMigrateLock = 0x5e41ce4a11

// pgVersion reads the schema version, 0 for a database without the tables.
func pgVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var ver int
	err := q.QueryRow(ctx, `SELECT version FROM schema_migrations`).Scan(&ver)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return ver, nil
}

// migratePG brings the database to len(pgMigrations) in one transaction:
// every step and the new version commit together or not at all. A
// database from a newer build is refused with ErrSchema. It returns the
// version found.
func migratePG(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	return migratePGSteps(ctx, pool, pgMigrations)
}

func migratePGSteps(ctx context.Context, pool *pgxpool.Pool, steps []string) (int, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(pgMigrateLock)); err != nil {
		return 0, fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer NOT NULL)`); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	ver, err := pgVersion(ctx, tx)
	if err != nil {
		return 0, err
	}
	if ver > len(steps) {
		return ver, fmt.Errorf("%w: the database has schema version %d, this build knows up to %d: it was written by a newer hallctl (run the newer release)",
			ErrSchema, ver, len(steps))
	}
	if ver == len(steps) {
		return ver, nil
	}
	for v := ver; v < len(steps); v++ {
		if _, err := tx.Exec(ctx, steps[v]); err != nil {
			return ver, fmt.Errorf("%w: migrate %d→%d: %w", ErrSchema, v, v+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM schema_migrations`); err != nil {
		return ver, fmt.Errorf("migrate: set version: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version) VALUES ($1)`, len(steps)); err != nil {
		return ver, fmt.Errorf("migrate: set version: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return ver, fmt.Errorf("migrate: commit: %w", err)
	}
	return ver, nil
}

// MigratePostgres applies pending migrations to the database dsn names
// and returns the versions before and after (hallctl migrate).
func MigratePostgres(ctx context.Context, dsn string) (from, to int, err error) {
	pool, where, err := pgPool(ctx, dsn, 1, 0)
	if err != nil {
		return 0, 0, err
	}
	defer pool.Close()
	from, err = migratePG(ctx, pool)
	if err != nil {
		return from, from, fmt.Errorf("migrate %s: %w", where, err)
	}
	return from, pgSchemaVersion, nil
}

// MigrateSQLite applies pending migrations to the SQLite event log at
// path and returns the versions before and after (hallctl migrate). It
// takes the log's lock: ErrLocked while a hallctl has it open.
func MigrateSQLite(ctx context.Context, path string, opts Options) (from, to int, err error) {
	l, err := Open(ctx, path, opts)
	if err != nil {
		return 0, 0, err
	}
	defer l.Close()
	return l.migratedFrom, schemaVersion, nil
}
