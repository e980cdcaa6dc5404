package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/report"
	"github.com/servicehall/servicehall/hallctl/store"
)

func runReport(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "report", "--config FILE --from DATE --to DATE [--by department|item|window|clerk] [--period day|week|month] [--format csv|xlsx] [--out FILE] [--db FILE]")
	path := fs.String("config", "", "hall config `file`")
	from := fs.String("from", "", "first local day, YYYY-MM-DD")
	to := fs.String("to", "", "last local day, YYYY-MM-DD (default: --from)")
	by := fs.String("by", "item", "group by department, item, window or clerk")
	period := fs.String("period", "day", "day, week or month")
	format := fs.String("format", "csv", "csv or xlsx")
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
	if err := report.ReadLog(ctx, *db, func(r store.Record) error { led.Apply(r); return nil }); err != nil {
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
	if *format == "xlsx" {
		err = report.WriteXLSX(w, rows)
	} else {
		err = report.WriteCSV(w, rows)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl report:", err)
		return 1
	}
	return 0
}
