// Package agent is the core of firmware-agent: it loads the agent config,
// starts every configured device through the driver registry, keeps one
// MQTT session to the broker (birth info, retained statuses, Last Will),
// stores device events in a durable outbox and publishes them in order,
// and executes commands at most once, in order per device, answering each
// with an ack. It holds no queue logic and never imports a driver.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"

	"github.com/servicehall/servicehall/firmware-agent/agent/store"
	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	secretfile "github.com/servicehall/servicehall/internal/secret"
	"github.com/servicehall/servicehall/wire"
)

// Opts are the agent's dependencies and tuning. Zero fields take the
// defaults of DefaultOpts.
type Opts struct {
	Log   *slog.Logger    // default slog.Default()
	Clock clockwork.Clock // default the real clock
	// Lookup finds a driver factory by kind (default device.Lookup); tests
	// pass devicetest.Set.Lookup.
	Lookup func(kind string) (device.Factory, bool)
	// Kinds lists known kinds for error messages (default device.Kinds).
	Kinds func() []string
	// OpenPort and OpenPin are given to drivers (defaults: serialport.Open
	// with a lock, and periph's gpioreg after host.Init).
	OpenPort device.PortOpener
	OpenPin  device.PinOpener
	// Version is reported in the birth info.
	Version string
	// ReconnectMin/Max bound the broker reconnect backoff (500 ms … 30 s).
	ReconnectMin, ReconnectMax time.Duration
	// ConnectTimeout bounds one connection attempt (10 s).
	ConnectTimeout time.Duration
	// RestartMin/Max bound the backoff of a device whose Run failed (1 s … 60 s).
	RestartMin, RestartMax time.Duration
	// CommandKeep is how long executed command ids are remembered (7 days);
	// CommandKeepMax bounds how many (100 000).
	CommandKeep    time.Duration
	CommandKeepMax int
	// AckWait is how long an ack waits for a connection before it is
	// dropped (the stored result answers the controller's retry). 10 s.
	AckWait time.Duration
}

// DefaultOpts returns the defaults.
func DefaultOpts() Opts {
	return Opts{
		Log:            slog.Default(),
		Clock:          clockwork.NewRealClock(),
		Lookup:         device.Lookup,
		Kinds:          device.Kinds,
		OpenPort:       openPort,
		OpenPin:        openPin,
		Version:        "dev",
		ReconnectMin:   500 * time.Millisecond,
		ReconnectMax:   30 * time.Second,
		ConnectTimeout: 10 * time.Second,
		RestartMin:     time.Second,
		RestartMax:     time.Minute,
		CommandKeep:    7 * 24 * time.Hour,
		CommandKeepMax: 100_000,
		AckWait:        10 * time.Second,
	}
}

func (o Opts) withDefaults() Opts {
	d := DefaultOpts()
	if o.Log == nil {
		o.Log = d.Log
	}
	if o.Clock == nil {
		o.Clock = d.Clock
	}
	if o.Lookup == nil {
		o.Lookup = d.Lookup
	}
	if o.Kinds == nil {
		o.Kinds = d.Kinds
	}
	if o.OpenPort == nil {
		o.OpenPort = d.OpenPort
	}
	if o.OpenPin == nil {
		o.OpenPin = d.OpenPin
	}
	if o.Version == "" {
		o.Version = d.Version
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = d.ReconnectMin
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = max(d.ReconnectMax, o.ReconnectMin)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = d.ConnectTimeout
	}
	if o.RestartMin <= 0 {
		o.RestartMin = d.RestartMin
	}
	if o.RestartMax < o.RestartMin {
		o.RestartMax = max(d.RestartMax, o.RestartMin)
	}
	if o.CommandKeep <= 0 {
		o.CommandKeep = d.CommandKeep
	}
	if o.CommandKeepMax <= 0 {
		o.CommandKeepMax = d.CommandKeepMax
	}
	if o.AckWait <= 0 {
		o.AckWait = d.AckWait
	}
	return o
}

func openPort(ctx context.Context, path string, baud int) (device.Port, error) {
	p, err := serialport.Open(ctx, path, baud)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", device.ErrUnavailable, err)
		}
		return nil, err
	}
	return p, nil
}

var hostInit = sync.OnceValue(func() error {
	_, err := host.Init()
	return err
})

func openPin(name string) (gpio.PinIO, error) {
	if err := hostInit(); err != nil {
		return nil, fmt.Errorf("gpio: %w: %w", device.ErrUnavailable, err)
	}
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("gpio %q not found: %w", name, device.ErrUnavailable)
	}
	return p, nil
}

// Start-up states of a device in the birth info.
const (
	Loaded  = "loaded"
	Skipped = "skipped"
	Failed  = "failed"
)

// Agent is one running firmware-agent.
type Agent struct {
	cfg    *Config
	opts   Opts
	log    *slog.Logger
	clock  clockwork.Clock
	id     string
	hall   string
	bootID string
	store  *store.Store
	secret []byte

	password string      // from mqtt.password_file
	tls      *tls.Config // for ssl/tls/mqtts/wss URLs

	devs  map[string]*dev
	order []*dev // config order

	link  link
	stats counters

	ledgerMu sync.Mutex
	ledger   map[string]*ledgerEntry

	ctlReach  atomic.Bool // connected and ctl/status online (local.go)
	reachMu   sync.Mutex
	reachCh   chan struct{} // closed when ctlReach changes
	kick      chan struct{} // outbox has something new (cap 1)
	ctlOnline chan struct{} // ctl/status turned online (cap 1)
	misc      *queue        // acks that belong to no device worker

	closeOnce sync.Once
	closeErr  error
}

// New provisions the agent: it checks the device kinds, opens the state
// database and calls every device factory. A device whose factory fails
// with device.ErrUnavailable is skipped, other factory errors mark it
// failed; neither stops the agent. Call Run, or Close if Run is not called.
func New(ctx context.Context, cfg *Config, opts Opts) (*Agent, error) {
	opts = opts.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.CheckKinds(opts.Lookup, opts.Kinds()); err != nil {
		return nil, err
	}
	var secret []byte
	if cfg.Agent.SecretFile != "" {
		b, err := secretfile.Read(cfg.Agent.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("agent.secret_file: %w", err)
		}
		secret = []byte(strings.TrimRight(string(b), "\r\n"))
	}
	now := opts.Clock.Now()
	a := &Agent{
		cfg: cfg, opts: opts, clock: opts.Clock,
		id: cfg.Agent.ID, hall: cfg.Agent.Hall,
		bootID: wire.NewID(now),
		secret: secret,
		devs:   map[string]*dev{},
		ledger: map[string]*ledgerEntry{},
		kick:   make(chan struct{}, 1), ctlOnline: make(chan struct{}, 1),
		misc: newQueue(),
	}
	a.log = opts.Log.With("agent", a.id)
	a.stats.malformed = map[string]uint64{}
	a.link.init()
	if err := a.credentials(); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.Agent.StateDir, now)
	if err != nil {
		return nil, err
	}
	a.store = st
	entries, err := st.LoadCommands(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	for id, e := range entries {
		a.ledger[id] = &ledgerEntry{state: e.State, ack: e.Ack, at: e.At}
	}
	for _, dc := range cfg.Devices {
		a.addDevice(dc)
	}
	return a, nil
}

// Close releases the state database. Run calls it when it returns; it is
// safe to call more than once.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() { a.closeErr = a.store.Close() })
	return a.closeErr
}

// BootID is the id of this process start (in the birth info).
func (a *Agent) BootID() string { return a.bootID }

// Session is the event session (in the birth info and every event).
func (a *Agent) Session() string { return a.store.Session() }

// Info is the birth message the agent publishes.
func (a *Agent) Info() wire.InfoMsg {
	m := wire.InfoMsg{V: wire.Version, Agent: a.id, Version: a.opts.Version, BootID: a.bootID, Session: a.store.Session(), Devices: []wire.DeviceInfo{}}
	for _, d := range a.order {
		m.Devices = append(m.Devices, d.info)
	}
	return m
}

// Run connects, starts the devices and serves until ctx ends. On the way
// out it publishes its retained "offline" (a clean disconnect suppresses
// the Last Will), disconnects and closes the state database.
func (a *Agent) Run(ctx context.Context) error {
	defer a.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	spawn := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(runCtx) }()
	}
	for _, d := range a.order {
		d := d
		spawn(d.q.run)
		if d.dev != nil {
			spawn(func(ctx context.Context) { a.supervise(ctx, d) })
		}
	}
	spawn(a.misc.run)
	spawn(a.sendOutbox)
	spawn(a.onCtlOnline)
	spawn(a.pruneLoop)
	linkDone := make(chan struct{})
	go func() { defer close(linkDone); a.runLink(runCtx) }()
	<-ctx.Done()
	cancel()
	wg.Wait()
	<-linkDone
	return nil
}

// kickOutbox wakes the sender.
func (a *Agent) kickOutbox() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// pruneLoop forgets old command ids at start and then hourly.
func (a *Agent) pruneLoop(ctx context.Context) {
	t := a.clock.NewTicker(time.Hour)
	defer t.Stop()
	for {
		a.prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
	}
}

func (a *Agent) prune(ctx context.Context) {
	ids, err := a.store.Prune(ctx, a.clock.Now().Add(-a.opts.CommandKeep), a.opts.CommandKeepMax)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("prune command ids", "err", err)
		}
		return
	}
	a.ledgerMu.Lock()
	for _, id := range ids {
		delete(a.ledger, id)
	}
	a.ledgerMu.Unlock()
}
