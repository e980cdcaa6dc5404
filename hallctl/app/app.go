// Package app assembles a running hallctl from its parts: the event store,
// the embedded broker (or an external one), the controller, and HTTP. The
// CLI's serve and demo commands and the integration tests all start hallctl
// through Start, so what the tests run is what a hall runs.
package app

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/servicehall/servicehall/hallctl/broker"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/hallctl/web"
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
	Store      *store.Log
	Broker     *broker.Broker
	Registry   *prometheus.Registry
	// Web is the mounted HTTP API (its routes).
	Web       *web.Handler
	brokerURL string
	log       *slog.Logger
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

	a = &App{log: o.Logger, Registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			a.Close()
			a = nil
		}
	}()
	if err := os.MkdirAll(o.StateDir, 0o750); err != nil {
		return a, fmt.Errorf("state dir: %w", err)
	}
	dbPath := filepath.Join(o.StateDir, "hallctl.db")
	if err := checkNotVanished(dbPath); err != nil {
		return a, err
	}
	a.Store, err = store.Open(ctx, dbPath, store.Options{Logger: o.Logger.With("part", "store"), Clock: o.Clock})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return a, fmt.Errorf("the event log in %s is in use by another hallctl: %w", o.StateDir, err)
		}
		return a, fmt.Errorf("open event log (%s free in %s): %w", humanFree(o.StateDir), o.StateDir, err)
	}
	a.Registry.MustRegister(a.Store.Collector())
	a.brokerURL = o.BrokerURL
	if a.brokerURL == "" {
		users, err := brokerUsers(cfg)
		if err != nil {
			return a, err
		}
		// The controller's own credential on its embedded broker: random
		// per start, never written anywhere.
		o.Username = "hallctl-" + cfg.Hall.ID
		o.Password = randomSecret()
		users = append(users, broker.User{Username: o.Username, Controller: true})
		a.Broker, err = broker.New(broker.Options{
			Addr:                   o.MQTTAddr,
			Logger:                 o.Logger.With("part", "broker"),
			Hall:                   cfg.Hall.ID,
			Users:                  users,
			Check:                  checkPasswords(users, o.Username, o.Password),
			AllowAnonymousLoopback: len(cfg.Server.Users) == 0,
		})
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
		a.Registry.MustRegister(a.Broker.Collector())
	}
	if o.Mux == nil {
		o.Mux = http.NewServeMux()
	}
	secret, err := web.LoadSecret(cfg.Server.SecretFile, o.StateDir, true)
	if err != nil {
		return a, err
	}
	ticketKey, err := loadTicketKey(o.StateDir)
	if err != nil {
		return a, err
	}
	a.Controller, err = ctl.New(ctx, ctl.Options{
		Config: cfg, Logger: o.Logger, Clock: o.Clock,
		BrokerURL: a.brokerURL, Username: o.Username, Password: o.Password,
		HTTPAddr: o.HTTPAddr, Store: a.Store, Registry: a.Registry, Mux: o.Mux,
		TicketKey: ticketKey,
	})
	if err != nil {
		return a, err
	}
	if cfg.Server.PublicURL == "" {
		// The address HTTP really listens on (port 0 picks one).
		cfg.Server.PublicURL = "http://" + first(a.Controller.HTTPAddr(), o.HTTPAddr)
	}
	if a.Web, err = web.Mount(o.Mux, web.Options{Controller: a.Controller, Logger: o.Logger, Secret: secret, Context: ctx}); err != nil {
		return a, err
	}
	return a, nil
}

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

// Run serves until ctx is done.
func (a *App) Run(ctx context.Context) error { return a.Controller.Run(ctx) }

// Close stops the broker and closes the store.
func (a *App) Close() error {
	var errs []error
	if a.Broker != nil {
		errs = append(errs, a.Broker.Close())
	}
	if a.Store != nil {
		errs = append(errs, a.Store.Close())
	}
	return errors.Join(errs...)
}

func brokerUsers(cfg *config.Config) ([]broker.User, error) {
	var out []broker.User
	for _, u := range cfg.Server.Users {
		bu := broker.User{Username: u.Username, PasswordHash: []byte(u.PasswordHash), Controller: u.Controller}
		if u.PasswordFile != "" {
			b, err := os.ReadFile(u.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("server.users %s: %w", u.Username, err)
			}
			bu.PasswordHash = trimNL(b)
		}
		out = append(out, bu)
	}
	return out, nil
}

// checkPasswords verifies configured users by bcrypt hash and the
// controller's own per-start secret by constant-time comparison.
func checkPasswords(users []broker.User, ctlUser, ctlSecret string) func(string, string) bool {
	hashes := map[string][]byte{}
	for _, u := range users {
		hashes[u.Username] = u.PasswordHash
	}
	return func(user, pass string) bool {
		if user == ctlUser {
			return subtle.ConstantTimeCompare([]byte(pass), []byte(ctlSecret)) == 1
		}
		h, ok := hashes[user]
		return ok && len(h) > 0 && bcrypt.CompareHashAndPassword(h, []byte(pass)) == nil
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
