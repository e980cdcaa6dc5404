package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	randv2 "math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/servicehall/servicehall/hallctl/app"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/internal/mosquitto"
)

// Many halls on one PostgreSQL (issue 13): N controllers in this process,
// each its own hall (load-hall-01…), all with server.store on the same
// database, each fed presses by its own device client at a multiple of
// PeakRate. With the embedded broker each hall has its own (as in a hall:
// the broker runs inside that hall's hallctl); with Mosquitto all halls
// share one instance (topics carry the hall id). What they share, and what
// is measured, is the database: every hall's group commits land on it.

// HallsOptions say how to run MeasureHalls.
type HallsOptions struct {
	// Halls is how many controllers (halls) run at once.
	Halls int
	// DSN is the PostgreSQL database every hall's event log is in.
	DSN string
	// FreshSchema makes the run create a schema of its own in DSN's
	// database (hallctl_load_<random>) and drop it after, so that halls
	// start empty and a run leaves nothing behind. Without it the halls
	// use DSN as it is (its search_path), and their rows stay.
	FreshSchema bool
	// Broker is "embedded" (one embedded broker per hall) or "mosquitto"
	// (one Mosquitto shared by every hall).
	Broker string
	// Multiple of PeakRate each hall is pressed at.
	Multiple float64
	// Presses per hall.
	Presses int
	Logger  *slog.Logger
}

// HallsRun is one multi-hall measurement: the round trips of every hall's
// presses together, and what the database did.
type HallsRun struct {
	Run // Rate is each hall's; Samples and Lost are over all halls
	// Halls is how many controllers shared the database.
	Halls int `json:"halls"`
	// TotalRate is the presses per second all halls together sent.
	TotalRate float64 `json:"total_rate_per_s"`
	// StartSec is how long starting the controllers took (migrations,
	// replay, broker, device announce).
	StartSec float64 `json:"start_s"`
	// WorstHall is the hall with the highest p99 and that p99.
	WorstHall      string  `json:"worst_hall"`
	WorstHallP99ms float64 `json:"worst_hall_p99_ms"`
	// Commits and Transactions are the halls' event logs' counters over
	// the presses (store.Stats summed): writes acknowledged, and the
	// PostgreSQL transactions that carried them (group commit).
	Commits      uint64 `json:"store_commits"`
	Transactions uint64 `json:"store_transactions"`
	// XactCommit is the database's committed transactions over the whole
	// run (pg_stat_database: every session, reads included, start and
	// stop too); WALSyncs the server's WAL flushes over it (pg_stat_wal,
	// all databases; PostgreSQL 14+, -1 when unknown).
	XactCommit int64 `json:"db_xact_commit"`
	WALSyncs   int64 `json:"wal_syncs"`
	// Conns is the number of sessions on the database while the halls ran
	// (their pools and advisory-lock sessions), against MaxConns, the
	// server's max_connections.
	Conns    int `json:"db_conns"`
	MaxConns int `json:"db_max_conns"`
	// Schema is where the halls' rows were (dropped after with FreshSchema).
	Schema string `json:"schema"`
}

// HallID is the hall id of hall i (1-based) of a multi-hall run.
func HallID(i int) string { return fmt.Sprintf("load-hall-%02d", i) }

// MeasureHalls runs o.Halls controllers on one PostgreSQL database and
// sends each o.Presses presses at o.Multiple × PeakRate (Poisson arrivals,
// all halls at once), returning the round trips of all presses together.
func MeasureHalls(ctx context.Context, o HallsOptions) (r HallsRun, err error) {
	if o.Halls < 1 || o.Presses < 1 || o.Multiple <= 0 {
		return r, fmt.Errorf("loadtest: halls %d, presses %d, multiple %v: want positive", o.Halls, o.Presses, o.Multiple)
	}
	if o.DSN == "" {
		return r, errors.New("loadtest: several halls need a PostgreSQL database (server.store)")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	admin, err := pgx.Connect(ctx, o.DSN)
	if err != nil {
		return r, fmt.Errorf("loadtest: connect to PostgreSQL: %w", err)
	}
	defer admin.Close(context.Background())
	dsn := o.DSN
	if o.FreshSchema {
		var b [4]byte
		rand.Read(b[:])
		r.Schema = "hallctl_load_" + hex.EncodeToString(b[:])
		if _, err := admin.Exec(ctx, "CREATE SCHEMA "+r.Schema); err != nil {
			return r, fmt.Errorf("loadtest: create schema: %w", err)
		}
		defer admin.Exec(context.Background(), "DROP SCHEMA "+r.Schema+" CASCADE")
		if dsn, err = withSearchPath(dsn, r.Schema); err != nil {
			return r, err
		}
	} else if err := admin.QueryRow(ctx, "SELECT current_schema()").Scan(&r.Schema); err != nil {
		return r, fmt.Errorf("loadtest: %w", err)
	}
	if err := checkConns(ctx, admin, o.Halls); err != nil {
		return r, err
	}
	xact0, wal0 := dbCounters(ctx, admin)

	var brokerURL string
	if o.Broker == "mosquitto" {
		dir, err := os.MkdirTemp("", "hallctl-halls-mosquitto-*")
		if err != nil {
			return r, err
		}
		defer os.RemoveAll(dir)
		u, stop, err := mosquitto.Start(ctx, dir)
		if err != nil {
			return r, err
		}
		defer stop()
		brokerURL = u
	}

	// Start the halls, a few at a time (each migrates, under one lock,
	// and replays).
	t0 := time.Now()
	halls := make([]*runningHall, o.Halls)
	defer func() {
		for _, h := range halls {
			if h != nil {
				h.close()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, o.Halls)
	sem := make(chan struct{}, 8)
	for i := range halls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			halls[i], errs[i] = startHall(ctx, HallID(i+1), dsn, o.Broker, brokerURL, o.Presses, o.Logger)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	r.StartSec = time.Since(t0).Seconds()
	var commits0, txs0 uint64
	for _, h := range halls {
		s := h.app.Store.Stats()
		commits0, txs0 = commits0+s.Commits, txs0+s.Transactions
	}

	// Press, every hall at once, each with its own arrivals.
	rate := PeakRate * o.Multiple
	start := time.Now()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, h := range halls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.dev.pressPoisson(pctx, o.Presses, rate, randv2.NewPCG(uint64(i+1), uint64(o.Multiple*1000)))
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	deadline := time.After(30 * time.Second)
	var all []time.Duration
	for _, h := range halls {
		h.dev.wait(ctx, o.Presses, deadline)
	}
	r.ElapsedSec = time.Since(start).Seconds()
	for _, h := range halls {
		lat := h.dev.latencies()
		all = append(all, lat...)
		var hr Run
		hr.setPercentiles(lat)
		if len(lat) > 0 && hr.P99ms >= r.WorstHallP99ms {
			r.WorstHall, r.WorstHallP99ms = h.id, hr.P99ms
		}
		s := h.app.Store.Stats()
		r.Commits, r.Transactions = r.Commits+s.Commits, r.Transactions+s.Transactions
	}
	r.Commits -= commits0
	r.Transactions -= txs0
	_ = admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&r.Conns)
	var maxConns string
	if admin.QueryRow(ctx, `SHOW max_connections`).Scan(&maxConns) == nil {
		fmt.Sscan(maxConns, &r.MaxConns)
	}

	r.Broker, r.Multiple, r.Rate, r.Halls = o.Broker, o.Multiple, rate, o.Halls
	r.TotalRate = rate * float64(o.Halls)
	r.Samples, r.Lost = len(all), o.Presses*o.Halls-len(all)
	r.setPercentiles(all)

	// Stop the halls before reading the server's counters: a session
	// reports its statistics when it ends (or every few seconds).
	for i, h := range halls {
		h.close()
		halls[i] = nil
	}
	xact1, wal1 := dbCounters(ctx, admin)
	r.XactCommit, r.WALSyncs = xact1-xact0, -1
	if wal0 >= 0 && wal1 >= 0 {
		r.WALSyncs = wal1 - wal0
	}
	return r, nil
}

// ConnsPerHall is the most sessions one hall's PostgreSQL event log opens:
// its pool (the writer and store.Options.ReadConns, default 4, readers)
// and the session holding the hall's advisory lock.
const ConnsPerHall = 4 + 1 + 1

// checkConns refuses a run the server cannot hold: halls × ConnsPerHall
// sessions beyond those already open, within max_connections. Without it
// a run on a shared server takes its last connections and fails halfway.
func checkConns(ctx context.Context, c *pgx.Conn, halls int) error {
	var maxConns, inUse int
	var s string
	if err := c.QueryRow(ctx, `SHOW max_connections`).Scan(&s); err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	fmt.Sscan(s, &maxConns)
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'`).Scan(&inUse); err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	if need := halls * ConnsPerHall; inUse+need > maxConns {
		return fmt.Errorf("loadtest: %w: %d halls may open up to %d sessions (%d each: the writer, 4 readers and the hall lock's), and the server has %d of max_connections %d in use: raise max_connections to at least %d, or run fewer halls (or --pg-private)",
			ErrTooFewConns, halls, need, ConnsPerHall, inUse, maxConns, inUse+need)
	}
	return nil
}

// ErrTooFewConns: the server's max_connections cannot hold the halls.
var ErrTooFewConns = errors.New("PostgreSQL max_connections too low")

// dbCounters reads the database's committed transactions and the
// server's WAL flushes (-1 when pg_stat_wal is missing).
func dbCounters(ctx context.Context, c *pgx.Conn) (xact, walSyncs int64) {
	_ = c.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&xact)
	if c.QueryRow(ctx, `SELECT wal_sync FROM pg_stat_wal`).Scan(&walSyncs) != nil {
		walSyncs = -1
	}
	return xact, walSyncs
}

// withSearchPath is dsn with its search_path set to schema.
func withSearchPath(dsn, schema string) (string, error) {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("loadtest: the PostgreSQL URL does not parse")
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil // key=value form
}

// runningHall is one controller of a multi-hall run and its device.
type runningHall struct {
	id   string
	app  *app.App
	stop func()
	dev  *device
	dir  string
}

func startHall(ctx context.Context, id, dsn, brokerKind, brokerURL string, presses int, logger *slog.Logger) (*runningHall, error) {
	y := strings.Replace(hallYAML, "id: load-hall,", "id: "+id+",", 1)
	cfg, err := config.Parse(id+".yaml", []byte(y))
	if err != nil {
		return nil, err
	}
	cfg.Server.Demo = true // the simulated devices connect anonymously over loopback
	cfg.Server.Store = dsn
	raiseLimits(cfg)
	dir, err := os.MkdirTemp("", "hallctl-halls-*") // keys and secrets; the log is in PostgreSQL
	if err != nil {
		return nil, err
	}
	h := &runningHall{id: id, dir: dir}
	ao := app.Options{Config: cfg, Logger: logger.With("hall", id), MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: dir, BrokerURL: brokerURL}
	if h.app, h.stop, err = serve(ctx, ao); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("hall %s: %w", id, err)
	}
	agent, clientID := "load-kiosk", "load-kiosk"
	if brokerKind == "mosquitto" { // one broker for all halls: client ids must differ
		clientID = id + "-load-kiosk"
	}
	if h.dev, err = startDevice(ctx, h.app, id, agent, clientID, presses); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

func (h *runningHall) close() {
	if h.dev != nil {
		h.dev.close()
	}
	h.stop()
	os.RemoveAll(h.dir)
}

// HallsTable prints multi-hall runs.
func HallsTable(w io.Writer, runs []HallsRun) {
	fmt.Fprintln(w, "press → print round trip, many halls on one PostgreSQL (each hall its own controller and device)")
	fmt.Fprintf(w, "%-10s %5s %6s %7s %8s %9s %9s %9s %5s %-18s %8s %7s %9s %9s %10s %7s\n",
		"broker", "halls", "× peak", "rate/s", "samples", "p50 ms", "p99 ms", "max ms", "lost", "worst hall p99", "commits", "txs", "db xacts", "WAL syncs", "db conns", "start s")
	for _, r := range runs {
		fmt.Fprintf(w, "%-10s %5d %6.0f %7.1f %8d %9.2f %9.2f %9.2f %5d %-18s %8d %7d %9d %9d %10s %7.1f\n",
			r.Broker, r.Halls, r.Multiple, r.TotalRate, r.Samples, r.P50ms, r.P99ms, r.MaxMs, r.Lost,
			fmt.Sprintf("%s %.1f", strings.TrimPrefix(r.WorstHall, "load-"), r.WorstHallP99ms),
			r.Commits, r.Transactions, r.XactCommit, r.WALSyncs, fmt.Sprintf("%d/%d", r.Conns, r.MaxConns), r.StartSec)
	}
	fmt.Fprintln(w, "(commits/txs: the halls' event-log writes and their PostgreSQL transactions over the presses; db xacts and WAL syncs: the server's counters over the whole run)")
}

// PingPostgres reports whether dsn's database answers within 5 s.
func PingPostgres(ctx context.Context, dsn string) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.Ping(cctx)
}
