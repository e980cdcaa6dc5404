// Package app assembles a running hallctl from its parts: the event store,
// the embedded broker (or an external one), the controller, and HTTP. The
// CLI's serve and demo commands and the integration tests all start hallctl
// through Start, so what the tests run is what a hall runs.
package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/broker"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/enrol"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/hallctl/web"
	"github.com/servicehall/servicehall/internal/mqtturl"
)

// Options say how to run hallctl. Zero values take the defaults beside them.
type Options struct {
	Config *config.Config
	Logger *slog.Logger    // default slog.Default()
	Clock  clockwork.Clock // default real clock
	// BrokerURL selects an external broker; empty runs the embedded one.
	BrokerURL string
	// Username/Password for the external broker.
	Username, Password string
	// MQTTAddr is the embedded broker's address; default from the config,
	// then 127.0.0.1:1883. Env MQTT_ADDR is applied by the CLI.
	MQTTAddr string
	// HTTPAddr; default from the config, then 127.0.0.1:8080.
	HTTPAddr string
	// StateDir holds the event log; default from the config, then ./state.
	StateDir string
	// Mux lets other parts mount HTTP handlers beside /healthz and /metrics.
	Mux *http.ServeMux
}

// App is a started hallctl.
type App struct {
	Controller *ctl.Controller
	Store      store.EventLog // SQLite in the state dir, or PostgreSQL (server.store)
	Broker     *broker.Broker
	Registry   *prometheus.Registry
	// Web is the mounted HTTP API (its routes).
	Web *web.Handler
	// Keys is the token key ring (state_dir/token-keys).
	Keys      *auth.Keys
	brokerURL string
	tls       bool
	log       *slog.Logger
	clock     clockwork.Clock
	// failover is this controller's lease in an active/standby set
	// (server.failover); nil otherwise.
	failover *failover
	// enrolment is what the embedded broker admits from the config and
	// the enrolment file (hallctl agent add/revoke); see enrol.go.
	enrolment *enrolment
}

// Start opens the store, starts the broker and builds the controller. Call
// Run to serve, Close when done (Close works after a failed Start too).
func Start(ctx context.Context, o Options) (a *App, err error) {
	if o.Config == nil {
		return nil, errors.New("app: no config")
	}
	// The caller's config is not changed: the defaults filled in below go
	// into a copy the controller owns.
	cfgCopy := *o.Config
	cfg := &cfgCopy
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	o.MQTTAddr = first(o.MQTTAddr, cfg.Server.MQTTAddr, "127.0.0.1:1883")
	o.HTTPAddr = first(o.HTTPAddr, cfg.Server.HTTPAddr, "127.0.0.1:8080")
	o.StateDir = first(o.StateDir, cfg.Server.StateDir, "state")
	o.BrokerURL = first(o.BrokerURL, cfg.Server.BrokerURL)

	a = &App{log: o.Logger, clock: o.Clock, Registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			a.Close()
			a = nil
		}
	}()
	if err := os.MkdirAll(o.StateDir, 0o750); err != nil {
		return a, fmt.Errorf("state dir: %w", err)
	}
	var epoch int64
	if cfg.Server.Failover != nil {
		// Active/standby: wait to lead, then open the log fenced by the
		// lease (failover.go).
		if a.failover, err = awaitLeadership(ctx, cfg, o); err != nil {
			return a, err
		}
		epoch = a.failover.lease.Epoch()
	}
	if a.Store, err = openStore(ctx, cfg, o, epoch); err != nil {
		return a, err
	}
	a.Registry.MustRegister(a.Store.Collector())
	// Agents enrolled with hallctl agent add join the config's agents:
	// and server.users (a conflict refuses to start).
	if a.enrolment, err = loadEnrolment(cfg, o.StateDir); err != nil {
		return a, err
	}
	a.brokerURL = o.BrokerURL
	if a.brokerURL != "" {
		// One URL or a cluster's nodes separated by commas: all checked here,
		// as paho skips a URL it cannot parse without a word.
		if _, err := mqtturl.Parse(a.brokerURL); err != nil {
			return a, fmt.Errorf("server.broker_url / --broker-url: %w", err)
		}
	}
	tl, err := loadServerTLS(cfg)
	if err != nil {
		return a, err
	}
	a.tls = tl != nil
	var mqttTLS *tls.Config
	if a.brokerURL != "" && tl != nil && cfg.Server.TLS.CAFile != "" {
		mqttTLS = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: tl.ca} // an external ssl:// broker of the same hall CA
	}
	if a.brokerURL != "" && o.Username == "" {
		if o.Username, o.Password, err = controllerCredential(cfg, o.StateDir); err != nil {
			return a, err
		}
	}
	if a.brokerURL == "" {
		// The controller's own credential on its embedded broker: random
		// per start, never written anywhere.
		o.Username = "hallctl-" + cfg.Hall.ID
		o.Password = randomSecret()
		a.enrolment.controller = broker.User{Username: o.Username, Password: o.Password, Controller: true, NoClientCert: true}
		users, err := a.enrolment.users()
		if err != nil {
			return a, err
		}
		bo := brokerOptions(cfg, o, users)
		if tl != nil {
			bo.TLS, bo.RequireClientCert = tl.broker, tl.broker.ClientCAs != nil
		}
		a.Broker, err = broker.New(bo)
		if err != nil {
			return a, err
		}
		if err := a.Broker.Start(ctx); err != nil {
			if errors.Is(err, broker.ErrAddrInUse) {
				return a, fmt.Errorf("MQTT address %s is taken; set MQTT_ADDR to another address (or --broker-url to use a running broker): %w", o.MQTTAddr, err)
			}
			return a, fmt.Errorf("start MQTT broker on %s (MQTT_ADDR): %w", o.MQTTAddr, err)
		}
		a.brokerURL = "tcp://" + a.Broker.Addr()
		if tl != nil {
			a.brokerURL, mqttTLS = "ssl://"+a.Broker.Addr(), tl.self
		}
		a.Registry.MustRegister(a.Broker.Collector())
	}
	if o.Mux == nil {
		o.Mux = http.NewServeMux()
	}
	// The hall secret is the ID-hash key kiosks hold: made here so an
	// installer finds it, and refused when readable by others; it signs
	// nothing. Tokens are signed by the key ring, kept only here.
	if _, err := web.LoadSecret(cfg.Server.SecretFile, o.StateDir, true); err != nil {
		return a, err
	}
	if a.Keys, err = auth.Open(o.StateDir, cfg.Hall.ID, true); err != nil {
		return a, err
	}
	a.Registry.MustRegister(a.Keys.Collector())
	ticketKey, err := loadTicketKey(o.StateDir)
	if err != nil {
		return a, err
	}
	caseKey, err := loadCaseKey(o.StateDir)
	if err != nil {
		return a, err
	}
	a.Controller, err = ctl.New(ctx, ctl.Options{
		Config: cfg, Logger: o.Logger, Clock: o.Clock,
		BrokerURL: a.brokerURL, Username: o.Username, Password: o.Password,
		HTTPAddr: o.HTTPAddr, HTTPTLS: tl.httpConfig(), MQTTTLS: mqttTLS, Store: a.Store, Registry: a.Registry, Mux: o.Mux,
		TicketKey: ticketKey, CaseKey: caseKey, Leadership: a.leadership(),
	})
	if err != nil {
		return a, err
	}
	if cfg.Server.PublicURL == "" {
		// The address HTTP really listens on (port 0 picks one).
		scheme := "http://"
		if tl != nil {
			scheme = "https://"
		}
		cfg.Server.PublicURL = scheme + first(a.Controller.HTTPAddr(), o.HTTPAddr)
	}
	if a.Web, err = web.Mount(o.Mux, web.Options{Controller: a.Controller, Logger: o.Logger, Keys: a.Keys, Context: ctx, Registry: a.Registry}); err != nil {
		return a, err
	}
	return a, nil
}

// openStore opens the event log: PostgreSQL when server.store is set,
// else SQLite in the state dir (the state dir still holds keys and
// secrets either way).
func openStore(ctx context.Context, cfg *config.Config, o Options, epoch int64) (store.EventLog, error) {
	so := store.Options{Logger: o.Logger.With("part", "store"), Clock: o.Clock, Hall: cfg.Hall.ID, Epoch: epoch}
	if epoch > 0 {
		// A leader frozen mid-commit must not keep the standby out.
		so.IdleTxTimeout = leaseOf(cfg) / 3
	}
	if cfg.Server.Store != "" {
		pg, err := store.OpenPostgres(ctx, cfg.Server.Store, so)
		if err != nil {
			return nil, fmt.Errorf("open the PostgreSQL event log (server.store): %w", err)
		}
		return pg, nil
	}
	dbPath := filepath.Join(o.StateDir, "hallctl.db")
	if err := checkNotVanished(dbPath); err != nil {
		return nil, err
	}
	l, err := store.Open(ctx, dbPath, so)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, fmt.Errorf("the event log in %s is in use by another hallctl: %w", o.StateDir, err)
		}
		return nil, fmt.Errorf("open event log (%s free in %s): %w", humanFree(o.StateDir), o.StateDir, err)
	}
	return l, nil
}

// leadership is the lease the controller keeps, nil without failover.
func (a *App) leadership() ctl.Leadership {
	if a.failover == nil {
		return nil
	}
	return a.failover.lease
}

// Leading reports the lease's epoch and holder in an active/standby set
// (0 and "" without server.failover).
func (a *App) Leading() (epoch int64, holder string) {
	if a.failover == nil {
		return 0, ""
	}
	return a.failover.lease.Epoch(), a.failover.lease.Holder()
}

// TLS reports whether server.tls is on: the embedded broker speaks MQTT
// over TLS only and HTTP is HTTPS only.
func (a *App) TLS() bool { return a.tls }

// BrokerURL is the broker the controller talks to.
func (a *App) BrokerURL() string { return a.brokerURL }

// MQTTAddr is the embedded broker's address ("" with an external broker).
func (a *App) MQTTAddr() string {
	if a.Broker == nil {
		return ""
	}
	return a.Broker.Addr()
}

// HTTPAddr is where HTTP listens.
func (a *App) HTTPAddr() string { return a.Controller.HTTPAddr() }

// Run serves until ctx is done. It also watches the enrolment file: a
// revoked agent is disconnected and refused within a second.
func (a *App) Run(ctx context.Context) error {
	if a.Broker != nil {
		go a.watchEnrolments(ctx)
	}
	return a.Controller.Run(ctx)
}

// Close stops the broker and closes the store.
func (a *App) Close() error {
	var errs []error
	if a.Broker != nil {
		errs = append(errs, a.Broker.Close())
	}
	if a.Store != nil {
		errs = append(errs, a.Store.Close())
	}
	a.failover.close()
	return errors.Join(errs...)
}

// brokerOptions configure the embedded broker from the hall config: its
// limits: section, and anonymous loopback clients only in the demo hall
// (server.demo); every other client needs valid credentials.
func brokerOptions(cfg *config.Config, o Options, users []broker.User) broker.Options {
	l := cfg.Limits
	return broker.Options{
		Addr:                   o.MQTTAddr,
		Logger:                 o.Logger.With("part", "broker"),
		Clock:                  o.Clock,
		Hall:                   cfg.Hall.ID,
		Users:                  users,
		VerifyHash:             enrol.VerifyHash, // bcrypt, or Mosquitto's $7$
		AllowAnonymousLoopback: cfg.Server.Demo,
		MaxPacketSize:          uint32(max(l.MQTTMaxPacketBytes, 0)),
		Limits: broker.Limits{
			Clients:               l.MQTTClients,
			Inflight:              l.MQTTInflight,
			TopicsPerAgent:        l.MQTTTopicsPerAgent,
			RetainedBytesPerAgent: l.MQTTRetainedBytesPerAgent,
			AuthFailuresPerMin:    l.MQTTAuthFailuresPerMin,
			PublishesPerS:         l.MQTTPublishesPerS,
			PublishBurst:          l.MQTTPublishBurst,
		},
	}
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func randomSecret() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// checkNotVanished refuses to start an empty hall where a log was before:
// the lock file beside the database outlives it, so a database deleted by
// mistake is not silently replaced by an empty one (today's numbers would
// start again at 001 while yesterday's holders still wait).
func checkNotVanished(dbPath string) error {
	if _, err := os.Stat(dbPath); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(dbPath + ".lock"); err != nil {
		return nil // a new hall
	}
	return fmt.Errorf("the event log %s is missing but this state directory held one (%s.lock is there): "+
		"restore the file from a backup, or remove %s.lock to start an empty hall", dbPath, dbPath, dbPath)
}

func humanFree(dir string) string {
	n := store.FreeBytes(dir)
	if n < 0 {
		return "unknown space"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
