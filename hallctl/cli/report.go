package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/report"
	"github.com/servicehall/servicehall/hallctl/store"
)

func runReport(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "report", "--config FILE --from DATE --to DATE [--by department|item|window|clerk] [--period day|week|month] [--format csv|xlsx] [--headers zh|keys] [--out FILE] [--db FILE]")
	path := fs.String("config", "", "hall config `file`")
	from := fs.String("from", "", "first local day, YYYY-MM-DD")
	to := fs.String("to", "", "last local day, YYYY-MM-DD (default: --from)")
	by := fs.String("by", "item", "group by department, item, window or clerk")
	period := fs.String("period", "day", "day, week or month")
	format := fs.String("format", "csv", "csv or xlsx")
	headers := fs.String("headers", "zh", "zh: for people (Chinese headers, minutes, percentages, totals row, BOM, chart sheet); keys: the machine-readable columns")
	out := fs.String("out", "", "output `file` (default stdout)")
	db := fs.String("db", "", "event log `file` (default <server.state_dir>/hallctl.db)")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	if *to == "" {
		*to = *from
	}
	if *format != "csv" && *format != "xlsx" {
		fmt.Fprintf(e.stderr, "hallctl report: --format %q: csv or xlsx\n", *format)
		return 2
	}
	if *headers != "zh" && *headers != "keys" {
		fmt.Fprintf(e.stderr, "hallctl report: --headers %q: zh or keys\n", *headers)
		return 2
	}
	dbSet := *db != ""
	if *db == "" {
		dir := cfg.Server.StateDir
		if dir == "" {
			dir = "state"
		}
		*db = filepath.Join(dir, "hallctl.db")
	}
	opts := report.Opts{From: *from, To: *to, Period: *period, By: *by}
	// Bad options are usage errors, found before the log is read.
	if _, err := report.Compute(casesys.NewLedger(cfg), cfg, opts); err != nil {
		fmt.Fprintln(e.stderr, "hallctl report:", err)
		return 2
	}
	led := casesys.NewLedger(cfg)
	apply := func(r store.Record) error { led.Apply(r); return nil }
	var err error
	if cfg.Server.Store != "" && !dbSet {
		// server.store: the hall's log in PostgreSQL, read beside serve.
		var pg *store.PG
		if pg, err = store.OpenPostgresReadOnly(ctx, cfg.Server.Store, cfg.Hall.ID); err == nil {
			err = errors.Join(report.Read(ctx, pg, apply), pg.Close())
		}
	} else {
		err = report.ReadLog(ctx, *db, apply)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl report:", err)
		return 1
	}
	rows, err := report.Compute(led, cfg, opts)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl report:", err)
		return 2
	}
	var w io.Writer = e.stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(e.stderr, "hallctl report:", err)
			return 1
		}
		defer f.Close()
		w = f
	}
	switch {
	case *format == "xlsx" && *headers == "keys":
		err = report.WriteXLSX(w, rows)
	case *format == "xlsx":
		err = report.WriteXLSXZh(w, rows, *by)
	case *headers == "keys":
		err = report.WriteCSV(w, rows)
	default:
		err = report.WriteCSVZh(w, rows, *by)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl report:", err)
		return 1
	}
	return 0
}
