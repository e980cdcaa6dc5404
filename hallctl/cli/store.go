package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/servicehall/servicehall/hallctl/store"
)

// runStore is `hallctl store copy`: move a hall's whole event log between
// SQLite (server.state_dir/hallctl.db) and PostgreSQL (server.store).
func runStore(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] != "copy" {
		fmt.Fprintln(e.stderr, "usage: hallctl store copy --config FILE --from sqlite|postgres --to sqlite|postgres [--dsn URL] [--state-dir DIR]")
		return 2
	}
	fs := newFlags(e, "store copy", "--config FILE --from sqlite|postgres --to sqlite|postgres [--dsn URL] [--state-dir DIR]")
	path := fs.String("config", "", "hall config `file` (hall.id names the hall)")
	from := fs.String("from", "", "source: sqlite or postgres")
	to := fs.String("to", "", "target: sqlite or postgres (must be empty)")
	dsn := fs.String("dsn", "", "PostgreSQL `URL` (default server.store)")
	stateDir := fs.String("state-dir", "", "`dir` of the SQLite log hallctl.db (default server.state_dir)")
	if ok, code := parseFlagsOnly(fs, args[1:]); !ok {
		return code
	}
	kinds := map[string]bool{"sqlite": true, "postgres": true}
	if !kinds[*from] || !kinds[*to] || *from == *to {
		fmt.Fprintln(e.stderr, "hallctl store copy: --from and --to must be sqlite and postgres, one each")
		return 2
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	if *dsn == "" {
		*dsn = cfg.Server.Store
	}
	if *dsn == "" {
		fmt.Fprintln(e.stderr, "hallctl store copy: no PostgreSQL database: set server.store or --dsn")
		return 2
	}
	if *stateDir == "" {
		*stateDir = stateDirOf(cfg.Server.StateDir)
	}
	if err := os.MkdirAll(*stateDir, 0o750); err != nil {
		fmt.Fprintln(e.stderr, "hallctl store copy:", err)
		return 1
	}
	db := filepath.Join(*stateDir, "hallctl.db")
	lg := e.logger().With("part", "store")
	sl, err := store.Open(ctx, db, store.Options{Logger: lg})
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl store copy: sqlite:", err)
		return 1
	}
	defer sl.Close()
	pg, err := store.OpenPostgres(ctx, *dsn, store.Options{Logger: lg, Hall: cfg.Hall.ID})
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl store copy: postgres:", err)
		return 1
	}
	defer pg.Close()
	var src, dst store.Copyable = sl, pg
	if *from == "postgres" {
		src, dst = pg, sl
	}
	n, err := store.Copy(ctx, src, dst)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl store copy:", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "copied hall %s from %s to %s: %d records (last seq %d), %d snapshots, %d bucket entries; verified\n",
		cfg.Hall.ID, *from, *to, n.Records, n.LastSeq, n.Snapshots, n.KV)
	return 0
}
