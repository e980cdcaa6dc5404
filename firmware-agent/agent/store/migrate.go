package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrNewerSchema: agent.db was written by a newer agent.
var ErrNewerSchema = errors.New("agent state db has a newer schema")

// migration is one schema step, from version i to i+1 (migrations[i]).
type migration struct {
	name string
	up   func(ctx context.Context, tx *sql.Tx) error
}

// migrations are agent.db's schema steps, in order; the schema version
// (PRAGMA user_version) is how many have been applied. Releases before
// versioning left user_version at 0 with the step-1 tables already there:
// step 1 creates what is missing (IF NOT EXISTS) and keeps what is in
// them. Append a step for every schema change; never edit a shipped one.
var migrations = []migration{
	{name: "meta, outbox, commands and kv tables", up: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, schema)
		return err
	}},
}

// SchemaVersion is the version this build writes.
var SchemaVersion = len(migrations)

// migrate brings db to len(steps) in one transaction (the connection
// begins IMMEDIATE): every step and the new version commit together or
// not at all. A file from a newer agent is refused. It returns the
// version found.
func migrate(ctx context.Context, db *sql.DB, steps []migration) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("state db migrate: begin: %w", err)
	}
	defer tx.Rollback()
	var ver int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		return 0, fmt.Errorf("state db migrate: read version: %w", err)
	}
	if ver > len(steps) {
		return ver, fmt.Errorf("%w: version %d, this agent knows up to %d (run the newer agent, or move agent.db away to start a new event session)",
			ErrNewerSchema, ver, len(steps))
	}
	if ver == len(steps) {
		return ver, nil
	}
	for v := ver; v < len(steps); v++ {
		if err := steps[v].up(ctx, tx); err != nil {
			return ver, fmt.Errorf("state db migrate %d→%d (%s): %w", v, v+1, steps[v].name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(steps))); err != nil {
		return ver, fmt.Errorf("state db migrate: set version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return ver, fmt.Errorf("state db migrate: commit: %w", err)
	}
	return ver, nil
}
