package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/servicehall/servicehall/hallctl/app"
	"github.com/servicehall/servicehall/hallctl/config"
)

// HTTPRun is one measurement of ticket issue over HTTP (POST /api/v1/tickets,
// no printer: the durable log and the API are what is measured).
type HTTPRun struct {
	Clients        int           `json:"clients"`
	Tickets        int           `json:"tickets"`
	Errors         int           `json:"errors"`
	PerSec         float64       `json:"tickets_per_s"`
	P50, P99       time.Duration `json:"-"`
	P50ms          float64       `json:"p50_ms"`
	P99ms          float64       `json:"p99_ms"`
	FsyncPerTicket float64       `json:"fsyncs_per_ticket"`
	ElapsedSec     float64       `json:"elapsed_s"`
}

// MeasureHTTP runs hallctl on stateDir (a fresh temporary one when empty)
// and has clients concurrent HTTP clients take tickets for dur, each
// waiting for its answer before the next request (closed loop).
func MeasureHTTP(ctx context.Context, stateDir string, clients int, dur time.Duration, logger *slog.Logger) (HTTPRun, error) {
	cfg, err := config.Parse("loadtest.yaml", []byte(hallYAML))
	if err != nil {
		return HTTPRun{}, err
	}
	cfg.Server.Demo = true // the simulated devices connect anonymously over loopback
	raiseLimits(cfg)
	if stateDir == "" {
		dir, err := os.MkdirTemp("", "hallctl-http-*")
		if err != nil {
			return HTTPRun{}, err
		}
		defer os.RemoveAll(dir)
		stateDir = dir
	}
	a, stop, err := serve(ctx, app.Options{Config: cfg, Logger: logger, MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: stateDir})
	if err != nil {
		return HTTPRun{}, err
	}
	defer stop()
	url := "http://" + a.HTTPAddr() + "/api/v1/tickets"
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	items := []string{"HR-001", "HR-002"}

	before := a.Store.Stats()
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(dur)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1024)
			bad := 0
			for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
				body := []byte(fmt.Sprintf(`{"item":%q}`, items[(c+i)%len(items)]))
				t0 := time.Now()
				resp, err := cl.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					bad++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	after := a.Store.Stats()
	r := HTTPRun{Clients: clients, Tickets: len(lat), Errors: errs, ElapsedSec: elapsed.Seconds()}
	r.PerSec = float64(len(lat)) / elapsed.Seconds()
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		r.P50, r.P99 = lat[rank(0.50, len(lat))], lat[rank(0.99, len(lat))]
		r.P50ms, r.P99ms = ms(r.P50), ms(r.P99)
		r.FsyncPerTicket = float64(after.Transactions-before.Transactions) / float64(len(lat))
	}
	return r, nil
}

// HTTPTable prints HTTP runs as the bench table.
func HTTPTable(w io.Writer, runs []HTTPRun) {
	fmt.Fprintln(w, "HTTP ticket issue (POST /api/v1/tickets, durable log, closed loop)")
	fmt.Fprintf(w, "%8s %9s %10s %9s %9s %13s %7s\n", "clients", "tickets", "tickets/s", "p50 ms", "p99 ms", "fsyncs/ticket", "errors")
	for _, r := range runs {
		fmt.Fprintf(w, "%8d %9d %10.0f %9.2f %9.2f %13.3f %7d\n", r.Clients, r.Tickets, r.PerSec, r.P50ms, r.P99ms, r.FsyncPerTicket, r.Errors)
	}
}

// CopyState copies a state directory's event log into a fresh temporary
// directory (so a benchmark with history never changes the original); an
// empty src gives an empty directory.
func CopyState(src string) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", "hallctl-state-*")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	if src == "" {
		return dir, cleanup, nil
	}
	for _, name := range []string{"hallctl.db", "hallctl.db-wal", "hallctl.db.lock", "hall.secret"} {
		b, err := os.ReadFile(src + "/" + name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			cleanup()
			return "", nil, err
		}
		// Written and synced before the run: a copy the kernel is still
		// flushing in the background would slow every fsync measured.
		if err := writeSynced(dir+"/"+name, b); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	return dir, cleanup, nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// raiseLimits lifts the per-client and per-item limits for a load run:
// its clients all share one address and issue far more than a hall's day.
func raiseLimits(cfg *config.Config) {
	l := &cfg.Limits
	l.PublicPerMin, l.PublicBurst = 1<<30, 1<<20
	l.TicketsPerClientPerMin, l.TicketsPerItemPerDay = 1<<30, 1<<30
	l.LogLinesPerS, l.LogBurst = 1<<20, 1<<20
}
