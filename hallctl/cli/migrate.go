package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/servicehall/servicehall/hallctl/store"
)

// runMigrate is `hallctl migrate --config F`: apply the event log's
// pending schema migrations to the configured store (PostgreSQL when
// server.store is set, else SQLite in server.state_dir) and print
// from→to. serve migrates at start too; this lets an operator do it
// first, e.g. before several controllers share one database.
func runMigrate(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "migrate", "--config FILE")
	path := fs.String("config", "", "hall config `file` (server.store or server.state_dir names the store)")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	var (
		from, to int
		err      error
		what     string
	)
	if cfg.Server.Store != "" {
		what = "postgres"
		from, to, err = store.MigratePostgres(ctx, cfg.Server.Store)
	} else {
		dir := stateDirOf(cfg.Server.StateDir)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			fmt.Fprintln(e.stderr, "hallctl migrate:", err)
			return 1
		}
		db := filepath.Join(dir, "hallctl.db")
		what = "sqlite " + db
		from, to, err = store.MigrateSQLite(ctx, db, store.Options{})
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl migrate:", err)
		return 1
	}
	if from == to {
		fmt.Fprintf(e.stdout, "%s: schema %d→%d (up to date)\n", what, from, to)
		return 0
	}
	fmt.Fprintf(e.stdout, "%s: schema %d→%d\n", what, from, to)
	return 0
}
