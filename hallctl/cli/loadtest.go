package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/servicehall/servicehall/hallctl/loadtest"
	"github.com/servicehall/servicehall/internal/pgcluster"
)

func runLoadtest(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "loadtest", "[--mqtt embedded|mosquitto|both|none] [--multiples 10,100,1000] [--seconds S] [--http 1,10,50,100] [--http-seconds S] [--state-dir DIR] [--history N [--history-dir DIR] [--restarts K]] [--abuse all|NAME,... [--abuse-repeat N]] [--halls N [--store postgres://…|--pg-private] [--pg-optional]] [--json]")
	which := fs.String("mqtt", "both", "broker: embedded, mosquitto or both")
	multiples := fs.String("multiples", "10,100,1000", "comma-separated multiples of the peak rate (0.22 tickets/s)")
	seconds := fs.Float64("seconds", 60, "target duration of each run (at least 200 presses each; with --halls 200 over all halls)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	httpClients := fs.String("http", "", "also measure HTTP ticket issue at these client counts (e.g. 1,10,50,100)")
	httpSeconds := fs.Float64("http-seconds", 5, "duration of each HTTP run")
	stateDir := fs.String("state-dir", "", "run the HTTP runs on a copy of this state directory's history (default: an empty hall); with --abuse, where the controllers' state lives (default /dev/shm when writable)")
	histServed := fs.Int("history", 0, "first generate a year of history with N served tickets (then measure restarts, and run the HTTP runs on it)")
	histDir := fs.String("history-dir", "", "state directory for --history (default: a temporary one, removed after); a log already there is reused")
	restarts := fs.Int("restarts", 4, "with --history: how many times to start hallctl on it (the first replays the log)")
	abuse := fs.String("abuse", "", "run the security review's attacks against a hallctl process with default limits: all, or some of "+strings.Join(loadtest.AbuseNames, ","))
	abuseRepeat := fs.Int("abuse-repeat", 3, "with --abuse: runs of each attack (the table gives medians)")
	halls := fs.Int("halls", 0, "run N controllers (halls load-hall-01…) in this process, all with their event log in one PostgreSQL database (--store), each pressed at each multiple; with --mqtt embedded each hall has its own broker, with mosquitto they share one")
	pgStore := fs.String("store", "", "with --halls: the PostgreSQL database (postgres://user@host/database; default $"+pgEnvDSN+"); the run makes a schema of its own there and drops it after")
	pgPrivate := fs.Bool("pg-private", false, "with --halls and no --store: start a private PostgreSQL (initdb in a temporary directory, fsync on, max_connections sized for the halls) and remove it after")
	pgOptional := fs.Bool("pg-optional", false, "with --halls: when no PostgreSQL is given or reachable, say SKIPPED and exit 0 (make bench)")
	// The attacker's own process, started by --abuse (loadtest/attacker.go).
	attacker := fs.String("abuse-attacker", "", "internal: run one attack as the attacker's process")
	attackHTTP := fs.String("abuse-http", "", "internal: with --abuse-attacker, the controller's HTTP address")
	attackMQTT := fs.String("abuse-mqtt", "", "internal: with --abuse-attacker, the controller's MQTT address")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	if *attacker != "" {
		if err := loadtest.RunAttacker(ctx, *attacker, *attackHTTP, *attackMQTT, e.stdin, e.stdout); err != nil {
			fmt.Fprintf(e.stderr, "hallctl loadtest: attacker: %v\n", err)
			return 1
		}
		return 0
	}
	if *abuse != "" {
		return runAbuse(ctx, e, *abuse, *abuseRepeat, *stateDir, *asJSON)
	}
	if *halls > 0 {
		return runHalls(ctx, e, *halls, *pgStore, *pgPrivate, *pgOptional, *which, *multiples, *seconds, *asJSON)
	}
	var restartRuns []loadtest.RestartRun
	if *histServed > 0 {
		dir := *histDir
		if dir == "" {
			d, err := os.MkdirTemp("", "hallctl-history-*")
			if err != nil {
				fmt.Fprintf(e.stderr, "hallctl loadtest: %v\n", err)
				return 1
			}
			defer os.RemoveAll(d)
			dir = d
		}
		if _, err := os.Stat(filepath.Join(dir, "hallctl.db")); err == nil {
			fmt.Fprintf(e.stderr, "  reusing the history in %s\n", dir)
		} else {
			fmt.Fprintf(e.stderr, "  generating history: %d served tickets into %s (load %s)\n", *histServed, dir, loadtest.LoadAvg())
			hs, err := loadtest.GenerateHistory(ctx, dir, *histServed, slog.New(slog.DiscardHandler))
			if err != nil {
				fmt.Fprintf(e.stderr, "hallctl loadtest: history: %v\n", err)
				return 1
			}
			fmt.Fprintf(e.stderr, "  history: %d days, %d served, %d cases, %d ratings, %d records in %.1f s\n",
				hs.Days, hs.Served, hs.Cases, hs.Rated, hs.Records, hs.Elapsed.Seconds())
		}
		bin, err := os.Executable()
		if err != nil {
			fmt.Fprintf(e.stderr, "hallctl loadtest: %v\n", err)
			return 1
		}
		restartRuns, err = loadtest.MeasureRestart(ctx, bin, dir, *restarts)
		if err != nil {
			fmt.Fprintf(e.stderr, "hallctl loadtest: restart: %v\n", err)
			return 1
		}
		*stateDir = dir
	}
	brokers := []string{"embedded", "mosquitto"}
	switch *which {
	case "both":
	case "none":
		brokers = nil
	default:
		brokers = []string{*which}
	}
	quietLog := slog.New(slog.NewTextHandler(io.Discard, nil))
	var httpRuns []loadtest.HTTPRun
	for _, s := range strings.Split(*httpClients, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(s), &n); err != nil || n <= 0 {
			fmt.Fprintf(e.stderr, "hallctl loadtest: bad client count %q\n", s)
			return 2
		}
		dir, cleanup, err := loadtest.CopyState(*stateDir)
		if err != nil {
			fmt.Fprintf(e.stderr, "hallctl loadtest: %v\n", err)
			return 1
		}
		r, err := loadtest.MeasureHTTP(ctx, dir, n, time.Duration(*httpSeconds*float64(time.Second)), quietLog)
		cleanup()
		if err != nil {
			fmt.Fprintf(e.stderr, "hallctl loadtest: HTTP %d clients: %v\n", n, err)
			return 1
		}
		httpRuns = append(httpRuns, r)
	}
	var runs []loadtest.Run
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, b := range brokers {
		for _, m := range strings.Split(*multiples, ",") {
			var mult float64
			if _, err := fmt.Sscan(strings.TrimSpace(m), &mult); err != nil || mult <= 0 {
				fmt.Fprintf(e.stderr, "hallctl loadtest: bad multiple %q\n", m)
				return 2
			}
			n := int(loadtest.PeakRate * mult * *seconds)
			if n < 200 {
				n = 200
			}
			r, err := loadtest.Measure(ctx, b, mult, n, quiet)
			if err != nil {
				fmt.Fprintf(e.stderr, "hallctl loadtest: %s ×%v: %v\n", b, mult, err)
				return 1
			}
			runs = append(runs, r)
			if !*asJSON {
				fmt.Fprintf(e.stderr, "  %s ×%v done: %d samples\n", b, mult, r.Samples)
			}
		}
	}
	if *asJSON {
		_ = json.NewEncoder(e.stdout).Encode(map[string]any{"mqtt": runs, "http": httpRuns, "restart": restartRuns, "loadavg": loadtest.LoadAvg()})
		return 0
	}
	if len(runs) > 0 {
		loadtest.Table(e.stdout, runs)
	}
	if len(httpRuns) > 0 {
		if *histServed > 0 {
			fmt.Fprintf(e.stdout, "with a history of %d served tickets\n", *histServed)
		}
		loadtest.HTTPTable(e.stdout, httpRuns)
	}
	if len(restartRuns) > 0 {
		loadtest.RestartTable(e.stdout, restartRuns)
	}
	fmt.Fprintf(e.stdout, "load average %s\n", loadtest.LoadAvg())
	return 0
}

// runAbuse runs `hallctl loadtest --abuse`: exit status 1 when any run
// misses issue 10's bar (issue within 20%, RSS within 50 MB, devices
// reconnect).
func runAbuse(ctx context.Context, e *env, which string, repeats int, stateDir string, asJSON bool) int {
	var names []string
	if which != "all" {
		for _, n := range strings.Split(which, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	bin, err := os.Executable()
	if err != nil {
		fmt.Fprintf(e.stderr, "hallctl loadtest: %v\n", err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if stateDir == "" {
		stateDir = loadtest.AbuseStateDir()
	}
	fmt.Fprintf(e.stdout, "abuse runs: the controller's state under %s\n", stateDir)
	runs, err := loadtest.MeasureAbuse(ctx, bin, names, repeats, stateDir, logger)
	if asJSON {
		_ = json.NewEncoder(e.stdout).Encode(map[string]any{"abuse": runs, "loadavg": loadtest.LoadAvg()})
	} else {
		loadtest.AbuseTable(e.stdout, runs)
		fmt.Fprintf(e.stdout, "load average %s\n", loadtest.LoadAvg())
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "hallctl loadtest: abuse: %v\n", err)
		return 1
	}
	for _, r := range runs {
		if !r.OK() {
			return 1
		}
	}
	return 0
}

// pgEnvDSN is the environment variable --halls falls back to without
// --store (the tests' PostgreSQL, internal/pgtest).
const pgEnvDSN = "SERVICEHALL_PG_DSN"

// runHalls runs `hallctl loadtest --halls N`: N halls on one PostgreSQL
// database at each multiple of the peak rate, for each broker kind.
func runHalls(ctx context.Context, e *env, n int, dsn string, private, optional bool, which, multiples string, seconds float64, asJSON bool) int {
	if dsn == "" && !private {
		dsn = e.getenv(pgEnvDSN)
	}
	skip := func(why string) int {
		msg := fmt.Sprintf("*** SKIPPED: hallctl loadtest --halls %d: %s ***", n, why)
		fmt.Fprintln(e.stdout, msg)
		fmt.Fprintln(e.stderr, msg)
		return 0
	}
	if dsn == "" && private {
		if !pgcluster.Available() {
			if optional {
				return skip("--pg-private needs initdb (install postgresql)")
			}
			fmt.Fprintln(e.stderr, "hallctl loadtest: --pg-private needs initdb (install postgresql)")
			return 1
		}
		maxConns := n*loadtest.ConnsPerHall + 20 // the halls, the run's own session, room for psql
		c, err := pgcluster.Start(ctx, pgcluster.Options{Durable: true, MaxConns: maxConns})
		if err != nil {
			fmt.Fprintf(e.stderr, "hallctl loadtest: --pg-private: %v\n", err)
			return 1
		}
		defer c.Stop()
		dsn = c.DSN
		fmt.Fprintf(e.stderr, "  private PostgreSQL on 127.0.0.1:%d (fsync on, max_connections %d)\n", c.Port, maxConns)
	}
	if dsn == "" {
		why := "--halls needs PostgreSQL: give --store postgres://user@host/database (or set " + pgEnvDSN + ", or --pg-private)"
		if optional {
			return skip(why)
		}
		fmt.Fprintf(e.stderr, "hallctl loadtest: %s\n", why)
		return 2
	}
	if err := loadtest.PingPostgres(ctx, dsn); err != nil {
		why := fmt.Sprintf("PostgreSQL not reachable: %v", err)
		if optional {
			return skip(why)
		}
		fmt.Fprintf(e.stderr, "hallctl loadtest: --halls: %s\n", why)
		return 1
	}
	brokers := []string{"embedded", "mosquitto"}
	switch which {
	case "both":
	case "none":
		brokers = nil
	default:
		brokers = []string{which}
	}
	var runs []loadtest.HallsRun
	for _, b := range brokers {
		for _, m := range strings.Split(multiples, ",") {
			var mult float64
			if _, err := fmt.Sscan(strings.TrimSpace(m), &mult); err != nil || mult <= 0 {
				fmt.Fprintf(e.stderr, "hallctl loadtest: bad multiple %q\n", m)
				return 2
			}
			// seconds of presses per hall, and at least 200 samples in all.
			presses := max(int(loadtest.PeakRate*mult*seconds), (200+n-1)/n, 1)
			if !asJSON {
				fmt.Fprintf(e.stderr, "  %d halls on one PostgreSQL, %s ×%v: %d presses each (load %s)\n", n, b, mult, presses, loadtest.LoadAvg())
			}
			r, err := loadtest.MeasureHalls(ctx, loadtest.HallsOptions{Halls: n, DSN: dsn, FreshSchema: true, Broker: b, Multiple: mult, Presses: presses,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				fmt.Fprintf(e.stderr, "hallctl loadtest: %d halls, %s ×%v: %v\n", n, b, mult, err)
				return 1
			}
			runs = append(runs, r)
		}
	}
	if asJSON {
		_ = json.NewEncoder(e.stdout).Encode(map[string]any{"halls": runs, "loadavg": loadtest.LoadAvg()})
	} else {
		loadtest.HallsTable(e.stdout, runs)
		fmt.Fprintf(e.stdout, "load average %s\n", loadtest.LoadAvg())
	}
	for _, r := range runs {
		if r.Lost > 0 {
			fmt.Fprintf(e.stderr, "hallctl loadtest: %d halls, %s ×%v: %d presses lost\n", n, r.Broker, r.Multiple, r.Lost)
			return 1
		}
	}
	return 0
}
