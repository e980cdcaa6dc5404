package report

import (
	"context"
	"errors"
	"fmt"

	"github.com/servicehall/servicehall/hallctl/store"
)

// ReadLog calls fn for every record of the event log at path, in seq
// order, without disturbing a running hallctl: it opens the log through
// store.OpenReadOnly (no lock taken, nothing written), so it works while
// the controller appends.
func ReadLog(ctx context.Context, path string, fn func(store.Record) error) error {
	r, err := store.OpenReadOnly(ctx, path)
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	return errors.Join(Read(ctx, r, fn), r.Close())
}

// Read calls fn for every record of a log, in seq order: any store's read
// side will do (the embedded SQLite log, a read-only open of it, or
// another backend).
func Read(ctx context.Context, r store.Reader, fn func(store.Record) error) error {
	if err := r.Read(ctx, "", 0, fn); err != nil {
		return fmt.Errorf("read event log: %w", err)
	}
	return nil
}
