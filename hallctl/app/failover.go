package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/leader"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/hallctl/web"
	"github.com/servicehall/servicehall/internal/secret"
)

// Active/standby controllers (server.failover, docs/failover.md): Start
// waits here until this controller leads the hall, answering HTTP with
// 503 meanwhile, then opens the store fenced by the lease's epoch.

// failover is a controller's part in an active/standby set.
type failover struct {
	pool   *pgxpool.Pool
	lease  *leader.Lease
	closed sync.Once
}

// awaitLeadership blocks until this controller leads cfg's hall (or ctx
// ends), serving 503 on o.HTTPAddr while it stands by.
func awaitLeadership(ctx context.Context, cfg *config.Config, o Options) (*failover, error) {
	f := cfg.Server.Failover
	if o.BrokerURL == "" {
		return nil, errors.New("server.failover needs an external broker (server.broker_url or --broker-url): the standby cannot take over an embedded one")
	}
	if _, _, err := store.MigratePostgres(ctx, cfg.Server.Store); err != nil {
		return nil, fmt.Errorf("server.failover: prepare the PostgreSQL event log: %w", err)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.Server.Store)
	if err != nil {
		return nil, fmt.Errorf("server.store: %w", err)
	}
	pcfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("server.failover: connect to the event log's database: %w", err)
	}
	node := f.Node
	if node == "" {
		node, _ = os.Hostname()
	}
	var suffix [3]byte
	_, _ = rand.Read(suffix[:])
	// The holder is unique per process: two controllers on one host (or a
	// restarted one) never mistake each other's lease for their own.
	holder := node + "#" + hex.EncodeToString(suffix[:])
	ttl := leaseOf(cfg)
	fp, err := keysFingerprint(cfg, o.StateDir)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if err := checkKeys(ctx, pool, cfg.Hall.ID, fp); err != nil {
		pool.Close()
		return nil, err
	}
	sb := &standby{hall: cfg.Hall.ID, node: holder}
	stop, err := sb.serve(o.HTTPAddr, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	lease, err := leader.Acquire(ctx, pool, leader.Options{Hall: cfg.Hall.ID, Holder: holder, TTL: ttl,
		Clock: o.Clock, Logger: o.Logger.With("part", "leader"), OnStandby: sb.set})
	stop() // the controller's own HTTP takes the address
	if err != nil {
		pool.Close()
		return nil, err
	}
	// The hall's keys are this leader's from now on: a standby with other
	// keys refuses to start (checkKeys) rather than lead with them.
	if _, err := pool.Exec(ctx, `INSERT INTO kv(hall, bucket, key, val, updated) VALUES ($1, 'failover', 'keys', $2, $3)
		ON CONFLICT (hall, bucket, key) DO UPDATE SET val = EXCLUDED.val, updated = EXCLUDED.updated`,
		cfg.Hall.ID, []byte(fp), o.Clock.Now().UnixMilli()); err != nil {
		pool.Close()
		return nil, fmt.Errorf("server.failover: record the hall's key fingerprint: %w", err)
	}
	return &failover{pool: pool, lease: lease}, nil
}

// keysFingerprint hashes what browsers, tickets and kiosks hold this
// controller to: the token key ring, the ticket- and case-check keys and
// the hall secret. Active and standby must have the same (copied from
// the first controller's state_dir, docs/failover.md), or every token,
// printed QR code and receipt check breaks at a failover.
func keysFingerprint(cfg *config.Config, stateDir string) (string, error) {
	h := sha256.New()
	sec, err := web.LoadSecret(cfg.Server.SecretFile, stateDir, true)
	if err != nil {
		return "", err
	}
	keys, err := auth.Open(stateDir, cfg.Hall.ID, true)
	if err != nil {
		return "", err
	}
	ents, err := os.ReadDir(keys.Dir())
	if err != nil {
		return "", fmt.Errorf("token key ring: %w", err)
	}
	for _, e := range ents { // sorted by name
		if !strings.HasSuffix(e.Name(), ".key") {
			continue
		}
		b, err := secret.Read(filepath.Join(keys.Dir(), e.Name()))
		if err != nil {
			return "", fmt.Errorf("token key: %w", err)
		}
		fmt.Fprintf(h, "token %s %x\n", e.Name(), sha256.Sum256(bytes.TrimSpace(b)))
	}
	tk, err := loadTicketKey(stateDir)
	if err != nil {
		return "", err
	}
	ck, err := loadCaseKey(stateDir)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "secret %x\nticket %x\ncase %x\n", sha256.Sum256(sec), sha256.Sum256(tk), sha256.Sum256(ck))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkKeys refuses a controller whose keys differ from the ones the
// hall's last leader recorded.
func checkKeys(ctx context.Context, pool *pgxpool.Pool, hall, fp string) error {
	var have []byte
	err := pool.QueryRow(ctx, `SELECT val FROM kv WHERE hall = $1 AND bucket = 'failover' AND key = 'keys'`, hall).Scan(&have)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil // the hall's first controller
	case err != nil:
		return fmt.Errorf("server.failover: read the hall's key fingerprint: %w", err)
	case string(have) != fp:
		return errors.New("server.failover: this controller's keys (in state_dir: token-keys/, ticket-check.key, case-check.key, hall.secret or server.secret_file) differ from the ones the hall's leader uses: copy them from the leader's state_dir (docs/failover.md), or tokens, ticket QR codes and receipt checks would break at a failover")
	}
	return nil
}

// leaseOf is server.failover.lease_s as a duration (default 3 s).
func leaseOf(cfg *config.Config) time.Duration {
	if f := cfg.Server.Failover; f != nil && f.LeaseS > 0 {
		return time.Duration(f.LeaseS * float64(time.Second))
	}
	return 3 * time.Second
}

// close gives the lease up (a clean stop: a standby leads at once) unless
// it was lost, then closes the pool.
func (f *failover) close() {
	if f == nil {
		return
	}
	f.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if f.lease.Check(ctx) == nil {
			_ = f.lease.Release(ctx)
		}
		f.pool.Close()
	})
}

// standby answers every HTTP request with 503 while another controller
// leads: load balancers and kiosks go to the leader, and a person who
// reaches this one is told why.
type standby struct {
	hall, node string
	mu         sync.Mutex
	leader     string
	epoch      int64
}

func (s *standby) set(holder string, epoch int64) {
	s.mu.Lock()
	s.leader, s.epoch = holder, epoch
	s.mu.Unlock()
}

func (s *standby) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body := map[string]any{"error": "standby", "status": "standby", "hall": s.hall, "node": s.node, "leader": s.leader, "epoch": s.epoch,
		"message": "this controller is the hall's standby; the leader answers (it takes over when the leader stops)"}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(body)
}

// serve listens on addr (HTTPS with server.tls) until stop is called.
func (s *standby) serve(addr string, cfg *config.Config) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	tl, err := loadServerTLS(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("standby: listen HTTP on %s (HTTP_ADDR): %w", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		TLSConfig: tl.httpConfig(), MaxHeaderBytes: 16 << 10}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if srv.TLSConfig != nil {
			_ = srv.ServeTLS(ln, "", "")
		} else {
			_ = srv.Serve(ln)
		}
	}()
	return func() { _ = srv.Close(); <-done }, nil
}
