package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/report"
	"github.com/servicehall/servicehall/hallctl/store"
)

// runCases is `hallctl cases …`: today its dead letters, on the running
// controller (the manager routes of docs/api.md, with a one-minute admin
// token from the local key ring; replays and discards are audited as
// CLISubject).
//
//	hallctl cases dead-letters list    --config F [--url URL] [--outbox cases|supervision] [--json]
//	hallctl cases dead-letters show    --config F [--url URL] [--outbox …] KEY
//	hallctl cases dead-letters replay  --config F [--url URL] [--outbox …] KEY|--all
//	hallctl cases dead-letters discard --config F [--url URL] [--outbox …] --reason TEXT KEY
//	hallctl cases supervision-export --config F --date YYYY-MM-DD --format json|csv --out FILE [--db FILE]
//
// --outbox supervision works on the 电子监察 platform's outbox
// (case_system.supervision.url) instead of the case system's webhook.
func runCases(ctx context.Context, e *env, args []string) int {
	if len(args) >= 1 && args[0] == "supervision-export" {
		return runSupervisionExport(ctx, e, args[1:])
	}
	if len(args) < 2 || args[0] != "dead-letters" {
		fmt.Fprintln(e.stderr, "usage: hallctl cases dead-letters list|show|replay|discard --config FILE [--url URL] [--outbox cases|supervision] [KEY]")
		fmt.Fprintln(e.stderr, "       hallctl cases supervision-export --config FILE --date YYYY-MM-DD --format json|csv --out FILE")
		return 2
	}
	op, args := args[1], args[2:]
	fs := newFlags(e, "cases dead-letters "+op, "--config FILE [--url URL] [--outbox cases|supervision] [--all] [--reason TEXT] [--json] [KEY]")
	fs.String("config", "", "hall config `file` (its state_dir's key ring and server.http_addr)")
	base := fs.String("url", "", "the controller's `URL` (default http(s)://$HTTP_ADDR or server.http_addr)")
	all := fs.Bool("all", false, "replay: every dead letter")
	reason := fs.String("reason", "", "discard: why this event may be dropped for good (audited)")
	asJSON := fs.Bool("json", false, "list: JSON instead of a table")
	outbox := fs.String("outbox", "cases", "`cases` (the case system's webhook) or supervision (the 电子监察 platform's)")
	positional := 0
	switch op {
	case "show", "discard":
		positional = 1
	case "replay":
		positional = -1 // KEY or --all
	case "list":
	default:
		fmt.Fprintf(e.stderr, "hallctl cases dead-letters: unknown operation %q (list, show, replay, discard)\n", op)
		return 2
	}
	if positional < 0 { // replay: one KEY, or none with --all
		positional = 1
		for _, a := range args {
			if a == "--all" || a == "-all" || a == "--all=true" {
				positional = 0
			}
		}
	}
	keys, cfg, rest, code := keyRing(e, fs, args, positional)
	if keys == nil {
		return code
	}
	if *outbox != "cases" && *outbox != "supervision" {
		fmt.Fprintf(e.stderr, "hallctl cases dead-letters: --outbox %q: cases or supervision\n", *outbox)
		return 2
	}
	query, what := "", "case"
	if *outbox == "supervision" {
		query, what = "?outbox=supervision", "supervision"
	}
	call := func(method, path string, body any) (int, []byte, bool) {
		var b []byte
		if body != nil {
			b, _ = json.Marshal(body)
		}
		status, out, err := adminCallBody(ctx, e, keys, cfg, *base, method, "/api/v1/manager/dead-letters"+path+query, b)
		if err != nil {
			fmt.Fprintln(e.stderr, "hallctl cases dead-letters "+op+":", err)
			return 0, nil, false
		}
		if status != http.StatusOK {
			fmt.Fprintf(e.stderr, "hallctl cases dead-letters %s: %d %s\n", op, status, strings.TrimSpace(string(out)))
			return status, out, false
		}
		return status, out, true
	}
	key := ""
	if len(rest) > 0 {
		key = rest[0]
	}
	switch op {
	case "list":
		_, out, ok := call("GET", "", nil)
		if !ok {
			return 1
		}
		if *asJSON {
			_, _ = e.stdout.Write(out)
			return 0
		}
		var l struct {
			DeadLetters []casesys.Entry `json:"dead_letters"`
		}
		if err := json.Unmarshal(out, &l); err != nil {
			fmt.Fprintln(e.stderr, "hallctl cases dead-letters list:", err)
			return 1
		}
		if len(l.DeadLetters) == 0 {
			fmt.Fprintf(e.stdout, "no dead letters: every %s event was delivered or is on its way\n", what)
			return 0
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tEVENT\tCASE\tNUMBER\tATTEMPTS\tDEAD AT\tLAST ERROR")
		for _, d := range l.DeadLetters {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.Key, d.Event.Type, d.Event.Case, d.Event.Number, d.Attempts,
				d.DeadAt.Local().Format(time.DateTime), d.LastError)
		}
		_ = tw.Flush()
		receiver := "the case system takes them"
		if *outbox == "supervision" {
			receiver = "the supervision platform takes them"
		}
		fmt.Fprintf(e.stdout, "%d dead letter(s); each holds back its case's later events: replay KEY (or --all) once %s, or discard KEY --reason TEXT\n", len(l.DeadLetters), receiver)
	case "show":
		_, out, ok := call("GET", "/"+url.PathEscape(key), nil)
		if !ok {
			return 1
		}
		var v any
		_ = json.Unmarshal(out, &v)
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
	case "replay":
		path := "/replay"
		if !*all {
			path = "/" + url.PathEscape(key) + "/replay"
		}
		_, out, ok := call("POST", path, struct{}{})
		if !ok {
			return 1
		}
		var r struct{ Replayed int }
		_ = json.Unmarshal(out, &r)
		fmt.Fprintf(e.stdout, "%d dead letter(s) back in the outbox; their cases' later events follow in order\n", r.Replayed)
	case "discard":
		if strings.TrimSpace(*reason) == "" {
			fmt.Fprintln(e.stderr, "hallctl cases dead-letters discard: --reason is required (it goes to the audit log)")
			return 2
		}
		if _, _, ok := call("POST", "/"+url.PathEscape(key)+"/discard", map[string]string{"reason": *reason}); !ok {
			return 1
		}
		fmt.Fprintf(e.stdout, "%s discarded; its case's later events go on\n", key)
	}
	return 0
}

// runSupervisionExport is `hallctl cases supervision-export`: the day's
// 电子监察 records (alert transitions, window pauses, follow-up
// transitions) from the event log, read-only (the controller may run),
// as FILE and its detached signature FILE.sig (hex HMAC-SHA256 of FILE's
// bytes with the supervision secret; docs/casesys.md).
func runSupervisionExport(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "cases supervision-export", "--config FILE --date YYYY-MM-DD --format json|csv --out FILE [--db FILE]")
	path := fs.String("config", "", "hall config `file`")
	date := fs.String("date", "", "the hall's local `day`, YYYY-MM-DD")
	format := fs.String("format", "json", "json or csv")
	out := fs.String("out", "", "output `file`; its signature goes to FILE.sig")
	db := fs.String("db", "", "event log `file` (default <server.state_dir>/hallctl.db)")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	if *format != "json" && *format != "csv" {
		fmt.Fprintf(e.stderr, "hallctl cases supervision-export: --format %q: json or csv\n", *format)
		return 2
	}
	if *out == "" {
		fmt.Fprintln(e.stderr, "hallctl cases supervision-export: --out is required (the signature goes beside it)")
		return 2
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	day, err := casesys.NewSupervisionDay(cfg.Hall.ID, *date, cfg.Loc)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl cases supervision-export:", err)
		return 2
	}
	cs, _, ps := ctl.CaseConfig(cfg)
	if len(ps) > 0 {
		fmt.Fprintln(e.stderr, "hallctl cases supervision-export:", &config.Error{Problems: ps})
		return 1
	}
	key, err := cs.SupervisionSecret()
	if err != nil || len(key) == 0 {
		fmt.Fprintln(e.stderr, "hallctl cases supervision-export: no secret to sign with: set case_system.supervision.secret_file (or a webhook secret)", err)
		return 1
	}
	if *db == "" {
		dir := cfg.Server.StateDir
		if dir == "" {
			dir = "state"
		}
		*db = filepath.Join(dir, "hallctl.db")
	}
	if err := report.ReadLog(ctx, *db, func(r store.Record) error { day.Add(r); return nil }); err != nil {
		fmt.Fprintln(e.stderr, "hallctl cases supervision-export:", err)
		return 1
	}
	var buf bytes.Buffer
	if *format == "csv" {
		err = day.WriteCSV(&buf)
	} else {
		err = day.WriteJSON(&buf)
	}
	if err == nil {
		err = os.WriteFile(*out, buf.Bytes(), 0o644)
	}
	if err == nil {
		err = os.WriteFile(*out+".sig", []byte(casesys.SignExport(key, buf.Bytes())+"\n"), 0o644)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl cases supervision-export:", err)
		return 1
	}
	if day.Skipped > 0 {
		fmt.Fprintf(e.stderr, "hallctl cases supervision-export: %d unreadable record(s) skipped\n", day.Skipped)
	}
	fmt.Fprintf(e.stdout, "%d supervision record(s) of %s written to %s, signature %s.sig\n", len(day.Records), *date, *out, *out)
	return 0
}
