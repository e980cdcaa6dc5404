package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migration is one schema step, from version i to i+1 (migrations[i]).
type migration struct {
	name string
	up   func(ctx context.Context, tx *sql.Tx) error
}

// execStep is a migration that runs SQL statements.
func execStep(name, stmts string) migration {
	return migration{name: name, up: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, stmts)
		return err
	}}
}

// migrations are the event log's schema steps, in order; the schema
// version (PRAGMA user_version) is how many have been applied. Append a
// step for every schema change; never edit one that has shipped. Version
// 0 is a new, empty file.
var migrations = []migration{
	execStep("events, snapshots and kv tables", schema),
}

// schemaVersion is the version this build writes (PRAGMA user_version).
var schemaVersion = len(migrations)

// migrate brings the database to len(steps) in one transaction (the
// caller's connection begins IMMEDIATE): every step and the new version
// commit together or not at all. A file from a newer build is refused.
// It returns the version found.
func migrate(ctx context.Context, db *sql.DB, steps []migration) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback()
	var ver int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		return 0, fmt.Errorf("migrate: read version: %w", err)
	}
	if ver > len(steps) {
		return ver, fmt.Errorf("%w: the file has schema version %d, this build knows up to %d: it was written by a newer hallctl (restore a backup or run the newer release)",
			ErrSchema, ver, len(steps))
	}
	if ver == len(steps) {
		return ver, nil
	}
	for v := ver; v < len(steps); v++ {
		if err := steps[v].up(ctx, tx); err != nil {
			return ver, fmt.Errorf("%w: migrate %d→%d (%s): %w", ErrSchema, v, v+1, steps[v].name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(steps))); err != nil {
		return ver, fmt.Errorf("migrate: set version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return ver, fmt.Errorf("migrate: commit: %w", err)
	}
	return ver, nil
}
