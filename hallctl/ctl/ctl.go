// Package ctl is `hallctl serve`: it runs the MQTT link (an embedded broker
// or an external one), the device bus, the queue behind the Desk seam, the
// durable log, and the HTTP endpoints, and turns device events into hall
// actions: a ticket button's press issues a ticket and prints it, a caller
// keypad's call-next updates the window LED and announces the call.
package ctl

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/servicehall/servicehall/hallctl/bus"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/mqtturl"
	"github.com/servicehall/servicehall/wire"
)

// Options configure a Controller.
type Options struct {
	Config *config.Config
	Logger *slog.Logger
	Clock  clockwork.Clock
	// BrokerURL is the MQTT broker to use (tcp://host:port), or several
	// separated by commas (a clustered broker's nodes, tried in order on
	// every reconnect). When empty the controller runs its own broker on
	// MQTTAddr (see Broker).
	BrokerURL string
	// Username/Password authenticate the controller at the broker.
	Username, Password string
	// Leadership, when set (server.failover), is this controller's lease
	// of the hall: Check runs before every (re)connect publishes anything
	// and Run beside the rest; either failing stops the controller, which
	// then publishes nothing more (another controller leads).
	Leadership Leadership
	// HTTPAddr is where /healthz and /metrics listen ("" = no HTTP).
	HTTPAddr string
	// HTTPTLS, when set, makes HTTP HTTPS only (server.tls).
	HTTPTLS *tls.Config
	// MQTTTLS is the TLS config for an ssl:// BrokerURL.
	MQTTTLS *tls.Config
	// Store is the durable event log and keyed table (required).
	Store Store
	// Registry receives the controller's metrics; default a new registry.
	Registry *prometheus.Registry
	// RetryEvery and MaxAttempts tune command re-sends (see bus.Options).
	RetryEvery  time.Duration
	MaxAttempts int
	// Mux, when set, gets the controller's HTTP handlers mounted, so other
	// packages (web apps) can add theirs.
	Mux *http.ServeMux
	// PrintWait bounds how long Issue and Reprint wait for the printer's
	// answer before saying "pending"; default 8 s.
	PrintWait time.Duration
	// CheckEvery is how often the event log's health (a failed write, a
	// database file deleted while running) is checked; default 500 ms.
	CheckEvery time.Duration
	// TicketKey keys the check values of the ticket links printed in QR
	// codes (ticketpage.go); hallctl/app keeps it in the state directory.
	// Empty: a random key for this process only.
	TicketKey []byte
	// CaseKey keys the check codes printed on case receipts
	// (cases_lookup.go); empty: a random key for this process only.
	CaseKey []byte
	// SnapshotEvery is how often state snapshots are saved (history.go);
	// default DefaultSnapshotEvery.
	SnapshotEvery time.Duration
}

// Controller is a running hallctl.
type Controller struct {
	o       Options
	cfg     *config.Config
	log     *slog.Logger
	clock   clockwork.Clock
	bus     *bus.Bus
	client  mqtt.Client
	metrics *metrics
	httpLn  net.Listener
	closing atomic.Bool                     // Run is saying offline on its way out
	httpMW  func(http.Handler) http.Handler // WrapHTTP

	store Store
	seq   *sequencer // after-actions in commit order

	mu     sync.Mutex // guards desk, prints; held by every unit of work
	desk   *Desk
	prints *printState
	appts  *book  // the appointment book (appointments.go)
	notice string // the hall screen's notice (notice.go)

	subjects *subjects // disabled token subjects (subjects.go)

	fatalMu  sync.Mutex
	fatalErr error
	stop     context.CancelCauseFunc    // set by Run
	work     chan func(context.Context) // see runWork
	ended    chan struct{}              // closed when Run returns

	feed      *feed
	floor     *floor   // calls, reasons, clerks, utilisation, ratings (floor.go)
	cardHub   *cardHub // ID card reads per kiosk (web_support.go)
	cases     *caseSys
	calw      *calendarWatch // holiday calendar coverage (calendar.go)
	leases    *leaser
	connected chan struct{}
	connOnce  sync.Once
	tpage     *ticketPager
	lim       *issueLimits // issue limits and rating pad sessions (limits.go)
}

// ErrAddrInUse is returned when a listen address is taken; the message
// names the variable that changes it.
var ErrAddrInUse = errors.New("address in use")

// New builds a controller; Run starts it.
func New(ctx context.Context, o Options) (*Controller, error) {
	if o.Config == nil {
		return nil, errors.New("ctl: no config")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Store == nil {
		return nil, errors.New("ctl: Store is required")
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.PrintWait <= 0 {
		o.PrintWait = 8 * time.Second
	}
	if o.CheckEvery <= 0 {
		o.CheckEvery = 500 * time.Millisecond
	}
	c := &Controller{o: o, cfg: o.Config, log: o.Logger, clock: o.Clock, connected: make(chan struct{}),
		store: o.Store, seq: newSequencer(), prints: newPrintState(), work: make(chan func(context.Context), 1024),
		ended: make(chan struct{})}
	c.metrics = newMetrics(o.Registry)
	c.tpage = newTicketPager(o, func(msg string) { o.Logger.Warn(msg) })
	c.lim = newIssueLimits(o)
	c.metrics.boundLabels(c.lim.l.MetricLabelValues)
	c.feed = newFeed()
	c.cardHub = newCardHub()
	c.leases = newLeaser()
	d, err := NewDesk(ctx, o.Config, o.Store)
	if err != nil {
		return nil, fmt.Errorf("load queue state: %w", err)
	}
	c.desk = d
	if err := c.loadPrints(ctx); err != nil {
		return nil, fmt.Errorf("load print log: %w", err)
	}
	if c.cases, err = c.newCaseSys(ctx); err != nil {
		return nil, err
	}
	c.calw = newCalendarWatch(c.cases.cal, o.Config.Loc, o.Logger, o.Registry)
	c.calw.check(c.clock.Now())
	c.pruneHeld() // per-ticket memory of compacted days (history.go)
	if c.appts, err = c.loadAppointments(ctx); err != nil {
		return nil, fmt.Errorf("load appointment book: %w", err)
	}
	if c.notice, err = c.loadNotice(ctx); err != nil {
		return nil, err
	}
	if c.subjects, err = c.loadSubjects(ctx); err != nil {
		return nil, err
	}
	c.bus = bus.New(bus.Options{
		Hall:        o.Config.Hall.ID,
		Logger:      o.Logger.With("part", "bus"),
		Clock:       o.Clock,
		Handler:     c,
		Pending:     c,
		Batcher:     c,
		Metrics:     c.metrics,
		RetryEvery:  o.RetryEvery,
		MaxAttempts: o.MaxAttempts,
		// The hall config is the authority on devices (devices.go).
		Enrolled: c.agentEnrolled, Admit: c.admitDevice,
		MaxDevices: o.Config.Limits.RegistryDevices, MaxAgentDevices: o.Config.Limits.AgentDevices,
		EventFuture: time.Duration(o.Config.Limits.EventFutureS) * time.Second,
		EventPast:   time.Duration(o.Config.Limits.EventPastS) * time.Second,
		OnStatus: func(agent, dev string, s wire.DevStatusMsg) {
			c.leases.forget(agent + "/" + dev)
			c.leases.kick()
			c.feed.publish(HallEvent{Kind: "device", Type: s.State, At: c.clock.Now(), Agent: agent, Device: dev, Status: &s})
		},
		OnInfo: c.rememberInfo,
		OnCtlOffline: func() {
			if c.closing.Load() || c.failure() != nil || c.client == nil || !c.client.IsConnectionOpen() {
				return
			}
			c.log.Warn("ctl/status said offline while this controller is connected (a stale Last Will); saying online again")
			c.client.Publish(wire.CtlStatus(c.cfg.Hall.ID), 1, true, wire.Online)
		},
		OnOutcome: func(id string, ack wire.AckMsg, err error) {
			c.hand(func(ctx context.Context) { c.onCommandOutcome(ctx, id, ack, err) })
		},
	})
	if c.floor, err = loadFloor(ctx, o.Config, o.Store); err != nil {
		return nil, fmt.Errorf("load hall floor: %w", err)
	}
	// The floor, the supervision monitor and the outbox follow every commit.
	c.store.OnCommit(c.onCommit)
	c.bus.Seed(c.desk.Seen()...)
	if err := c.loadRegistry(ctx); err != nil {
		return nil, fmt.Errorf("load device registry: %w", err)
	}
	if o.HTTPAddr != "" {
		ln, err := net.Listen("tcp", o.HTTPAddr)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("%w: HTTP address %s is taken; set HTTP_ADDR to another address", ErrAddrInUse, o.HTTPAddr)
			}
			return nil, fmt.Errorf("listen HTTP on %s (HTTP_ADDR): %w", o.HTTPAddr, err)
		}
		c.httpLn = ln
	}
	return c, nil
}

// Leadership is a held lease of the hall (hallctl/leader.Lease).
type Leadership interface {
	// Check returns an error once the lease is another controller's.
	Check(ctx context.Context) error
	// Run keeps the lease until ctx ends (nil) or it is lost (an error).
	Run(ctx context.Context) error
}

// Bus exposes the device bus (registry, commands) to other parts.
func (c *Controller) Bus() *bus.Bus { return c.bus }

// HTTPAddr is the address HTTP listens on ("" when off).
func (c *Controller) HTTPAddr() string {
	if c.httpLn == nil {
		return ""
	}
	return c.httpLn.Addr().String()
}

// Connected is closed once the controller is first connected to the broker
// and subscribed to the hall's events.
func (c *Controller) Connected() <-chan struct{} { return c.connected }

// Run connects to the broker and serves until ctx is done. On the way out
// it publishes ctl/status offline (a clean disconnect suppresses the Will).
func (c *Controller) Run(ctx context.Context) error {
	hall := c.cfg.Hall.ID
	status := wire.CtlStatus(hall)
	opts := mqtt.NewClientOptions()
	for _, u := range mqtturl.Split(c.o.BrokerURL) { // a cluster's nodes, tried in order
		opts.AddBroker(u)
	}
	opts.SetClientID("hallctl-"+hall).
		SetCleanSession(false).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(5*time.Second).
		SetConnectTimeout(5*time.Second).
		SetKeepAlive(15*time.Second).
		SetAutoAckDisabled(true). // events are acked once their effect is durable
		// No MaxResumePubInFlight: with no store there is nothing to resume,
		// and paho v1.5.1's resume then starts a goroutine that reads c.stop
		// unguarded while a reconnect replaces it (a data race seen in CI;
		// eclipse-paho/paho.mqtt.golang#703 is the same family).
		// No client-side store: the bus re-sends its own in-flight commands
		// and OnConnect re-publishes status and displays, while paho v1.5.1's
		// resume of stored publishes races with publishes made just after
		// a connect.
		SetStore(noStore{}).
		SetWill(status, wire.Offline, 1, true)
	if c.o.Username != "" {
		opts.SetUsername(c.o.Username).SetPassword(c.o.Password)
	}
	if c.o.MQTTTLS != nil {
		opts.SetTLSConfig(c.o.MQTTTLS)
	}
	busOnConnect := c.bus.ConnectHandler()
	opts.SetOnConnectHandler(func(cl mqtt.Client) {
		if l := c.o.Leadership; l != nil {
			// A deposed leader that wakes up (SIGSTOP, a stalled VM) must
			// not say online or re-publish stale displays over the leader's.
			if err := l.Check(ctx); err != nil {
				c.fatal(fmt.Errorf("connected to the broker but not leading: %w", err))
				return
			}
		}
		busOnConnect(cl)
		cl.Publish(status, 1, true, wire.Online)
		c.republishDisplays(ctx)
		c.metrics.connected.Set(1)
		c.log.Info("connected to broker", "url", c.o.BrokerURL)
		go func() {
			// Connected means events reach the controller: wait for the
			// broker to confirm the subscription (or the controller to end).
			select {
			case <-c.bus.Subscribed():
				c.connOnce.Do(func() { close(c.connected) })
			case <-ctx.Done():
			}
		}()
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		c.metrics.connected.Set(0)
		c.log.Warn("lost broker connection", "err", err)
	})
	c.client = mqtt.NewClient(opts)
	c.bus.Attach(c.client)

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	defer close(c.ended)
	defer c.cardHub.close()
	c.fatalMu.Lock()
	c.stop = stop
	pending := c.fatalErr
	c.fatalMu.Unlock()
	if pending != nil {
		return pending
	}
	c.client.Connect() // SetConnectRetry: keeps trying in the background
	if err := c.bus.Resume(ctx); err != nil {
		return err
	}

	// Every goroutine has an owner: the first that fails stops the rest,
	// and Run returns its error (hallctl serve exits non-zero).
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.bus.Run(gctx) })
	if l := c.o.Leadership; l != nil {
		g.Go(func() error {
			if err := l.Run(gctx); err != nil {
				c.fatal(err)
				return err
			}
			return nil
		})
	}
	g.Go(func() error { c.runSchedule(gctx); return nil })
	g.Go(func() error { c.runLeases(gctx); return nil })
	g.Go(func() error { return c.watchStore(gctx) })
	g.Go(func() error { return c.runWork(gctx) })
	g.Go(func() error { c.runSnapshots(gctx, c.o.SnapshotEvery); return nil })
	g.Go(func() error { return c.runAppointments(gctx) })
	if ob := c.Outbox(); ob != nil {
		g.Go(func() error {
			if err := ob.Run(gctx); err != nil && gctx.Err() == nil {
				return fmt.Errorf("case outbox: %w", err)
			}
			return nil
		})
	}
	if ob := c.SupervisionOutbox(); ob != nil {
		g.Go(func() error {
			if err := ob.Run(gctx); err != nil && gctx.Err() == nil {
				return fmt.Errorf("supervision outbox: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error { c.runAlertLog(gctx); return nil })
	if c.httpLn != nil {
		srv, ln := c.httpServer(c.httpLn) // timeouts and connection caps: httpserver.go
		g.Go(func() error {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http server: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			if c.failure() != nil {
				// Nothing can be recorded any more: stop at once rather
				// than wait for requests that can only be refused.
				_ = srv.Close()
				return nil
			}
			sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			return nil
		})
	}
	err := g.Wait()
	if ferr := c.failure(); ferr != nil {
		err = ferr
	}
	if err == nil {
		// A clean stop: the next start restores this and replays nothing.
		if serr := c.SaveSnapshots(context.WithoutCancel(ctx)); serr != nil {
			c.log.Warn("snapshot at shutdown", "err", serr)
		}
	}
	c.closing.Store(true)
	if c.client.IsConnected() && !errors.Is(err, store.ErrFenced) {
		// Not when fenced: the hall's status is the new leader's to say.
		t := c.client.Publish(status, 1, true, wire.Offline)
		t.WaitTimeout(2 * time.Second)
	}
	c.client.Disconnect(250)
	if err != nil {
		c.log.Error("hallctl stopping on a fatal error", "err", err)
	}
	return err
}

// noStore is a paho store that keeps nothing (see SetStore in Run).
type noStore struct{}

func (noStore) Open()                             {}
func (noStore) Put(string, packets.ControlPacket) {}
func (noStore) Get(string) packets.ControlPacket  { return nil }
func (noStore) All() []string                     { return nil }
func (noStore) Del(string)                        {}
func (noStore) Close()                            {}
func (noStore) Reset()                            {}
