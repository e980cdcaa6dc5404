// Package bus is hallctl's side of the MQTT contract: the registry of agents
// and devices built from their retained info and status, the de-duplication
// of device events by id, and command dispatch with ids, expiry, acks and
// bounded retries. In-flight commands are kept in a Pending store so that a
// controller restart re-sends them (the agent answers a repeated id with its
// stored result, so nothing runs twice).
//
// The bus holds no hall logic: events go to a Handler the controller owns.
package bus

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/wire"
)

// Handler receives de-duplicated, validated device events in arrival order.
// It runs on the bus's event goroutine: a slow handler delays later events,
// never reorders them.
type Handler interface {
	// HandleEvent acts on ev inside tx, the unit of work of the events
	// handled together: its writes and commands become durable with one
	// commit, and only then are the events acknowledged to the broker.
	HandleEvent(ctx context.Context, tx Tx, ev Event) error
}

// Tx is an open unit of work (the controller's): durable writes made with
// it commit together, and After actions run once they are on disk.
type Tx interface {
	Put(bucket, key string, val []byte)
	Delete(bucket, key string)
	// After runs f once the unit has committed (never if it fails).
	After(f func())
}

// PendingBucket is the key-value bucket where a Tx keeps in-flight commands.
const PendingBucket = "pending-cmd"

// Options configure a Bus. Zero values take the defaults written beside them.
type Options struct {
	Hall    string
	Logger  *slog.Logger    // default slog.Default()
	Clock   clockwork.Clock // default real clock
	Handler Handler
	Pending Pending // default: nothing pending at start
	// SeenCap bounds the in-memory set of handled event ids; default 200000.
	// The controller seeds it at start (Seed) from the ids its event log
	// recorded with each effect, so redeliveries after a restart are dropped.
	SeenCap int
	// RetryEvery is how long to wait for an ack before re-sending; default 3 s.
	RetryEvery time.Duration
	// MaxAttempts bounds re-sends of one command; default 5.
	MaxAttempts int
	// Metrics receives counters; default discards them.
	Metrics Metrics
	// Batcher groups the effects of the events handled together into one
	// durable commit (required).
	Batcher Batcher
	// MaxBatch bounds how many queued events are handled in one commit;
	// default 256.
	MaxBatch int
	// OnStatus, when set, is told every device status change (on the MQTT
	// router goroutine: it must not block).
	OnStatus func(agent, dev string, s wire.DevStatusMsg)
	// OnCtlOffline, when set, is told when ctl/status says offline while
	// the bus is connected (on the router goroutine: must not block).
	OnCtlOffline func()
	// OnInfo, when set, is told every agent birth (info) that changed the
	// registry, so the controller can keep the registry durable and seed it
	// with Load at the next start (on the router goroutine: must not block).
	OnInfo func(info wire.InfoMsg)
	// OnOutcome, when set, is told how every command ended: its ack, or
	// ErrExpired / ErrNoAck. A command given up on may be told a second
	// time, when its ack arrives late (within 10 minutes): that ack is
	// what the device did. It runs on the MQTT router or the Run
	// goroutine: it must not block for long.
	OnOutcome func(id string, ack wire.AckMsg, err error)
	// MaxHeld bounds events held back because their device is not known
	// yet (they wait, unacknowledged, for the agent's info); default 1000.
	MaxHeld int
	// HoldFor is how long such an event waits for its device before it is
	// refused (and acknowledged, so a device that never announces itself
	// cannot fill the broker's in-flight window); default 30 s.
	HoldFor time.Duration
	// Enrolled, when set, says whether an agent may have devices at all
	// (the hall config's agents:); the messages of any other agent are
	// refused and it never enters the registry. Nil enrols every agent.
	Enrolled func(agent string) bool
	// Admit, when set, says whether an enrolled agent may drive a device
	// as its info describes it (its window, zone, kind): "" admits it,
	// anything else is the short stable reason it is refused. Nil admits
	// every device.
	Admit func(agent string, d wire.DeviceInfo) string
	// MaxDevices bounds the registry's devices (and agents) in all;
	// default 4096. MaxAgentDevices bounds one agent's; default 128.
	MaxDevices      int
	MaxAgentDevices int
	// EventFuture and EventPast bound how far an event's ts may lie ahead
	// of or behind the controller's clock; 0 leaves that side unbounded.
	EventFuture time.Duration
	EventPast   time.Duration
}

// Batcher runs f in a unit of work that the Handler's writes and the bus's
// pending commands join, and commits it once. Commands dispatched inside a
// unit are published only after it commits, and events are acknowledged to
// the broker only after that: nothing leaves the controller, and nothing is
// acknowledged, before its cause is on disk. An error from the commit is
// returned (and is fatal to the controller).
type Batcher interface {
	Unit(ctx context.Context, f func(tx Tx) error) error
}

// Metrics is what the bus counts; the controller backs it with Prometheus.
type Metrics interface {
	Rejected(kind, reason string)
	Duplicate()
	CommandOutcome(name, status string)
	EventHandled(typ string)
}

type nopMetrics struct{}

func (nopMetrics) Rejected(string, string) {}

func (nopMetrics) Duplicate() {}

func (nopMetrics) CommandOutcome(string, string) {}

func (nopMetrics) EventHandled(string) {}

// Sentinel errors of Send and Wait.
var (
	ErrUnknownDevice = errors.New("unknown device")
	ErrExpired       = errors.New("command expired without an ack")
	ErrNoAck         = errors.New("no ack after retries")
	ErrNotConnected  = errors.New("not connected to the broker")
)

// Bus connects the controller to the hall's devices.
type Bus struct {
	o      Options
	client mqtt.Client
	log    *slog.Logger

	mu        sync.Mutex
	agents    map[string]*Agent
	waiters   map[string]*waiter
	seen      *memSeen
	events    chan mqtt.Message
	changed   chan struct{}        // closed and replaced on every registry change
	held      []heldEvent          // events whose device is not known yet
	ndev      int                  // devices in the registry (all agents)
	logged    map[string]struct{}  // refusals already logged (bounded)
	strangers map[string]time.Time // agents refused as not enrolled (bounded)
	acked     []string             // ids whose pending entry is to be deleted
	gaveUp    map[string]gaveUp    // commands counted lost or expired, for a late ack (bounded)
	kick      chan struct{}
	stopOnce  sync.Once

	subscribed chan struct{} // closed once the hall's topics are subscribed
	subOnce    sync.Once
}

// New makes a bus on a connected-or-connecting paho client. The client must
// be created with SetOrderMatters(true) (the default) and the bus's
// OnConnect must be chained into it (see ConnectHandler).
func New(o Options) *Bus {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.RetryEvery == 0 {
		o.RetryEvery = 3 * time.Second
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	if o.Metrics == nil {
		o.Metrics = nopMetrics{}
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.MaxHeld <= 0 {
		o.MaxHeld = 1000
	}
	if o.HoldFor <= 0 {
		o.HoldFor = 30 * time.Second
	}
	if o.MaxDevices <= 0 {
		o.MaxDevices = 4096
	}
	if o.MaxAgentDevices <= 0 {
		o.MaxAgentDevices = 128
	}
	b := &Bus{
		o:          o,
		log:        o.Logger,
		subscribed: make(chan struct{}),
		agents:     map[string]*Agent{},
		waiters:    map[string]*waiter{},
		logged:     map[string]struct{}{},
		strangers:  map[string]time.Time{},
		gaveUp:     map[string]gaveUp{},
		seen:       newMemSeen(o.SeenCap),
		events:     make(chan mqtt.Message, 4096),
		changed:    make(chan struct{}),
		kick:       make(chan struct{}, 1),
	}
	if o.Pending == nil {
		b.o.Pending = noPending{}
	}
	return b
}

// ConnectHandler returns the paho OnConnect callback: it (re)subscribes to
// the hall and re-sends in-flight commands.
func (b *Bus) ConnectHandler() mqtt.OnConnectHandler {
	return func(c mqtt.Client) {
		t := c.Subscribe(wire.HallFilter(b.o.Hall), 1, b.onMessage)
		go func() {
			if !t.WaitTimeout(10 * time.Second) {
				b.log.Error("subscribe timed out", "filter", wire.HallFilter(b.o.Hall))
				return
			}
			if err := t.Error(); err != nil {
				b.log.Error("subscribe failed", "err", err)
			} else {
				b.subOnce.Do(func() { close(b.subscribed) })
			}
			b.resendAll()
		}()
	}
}

// Subscribed is closed once the broker confirmed the bus's subscription to
// the hall's topics (events published before may not reach it, unless the
// broker kept a session).
func (b *Bus) Subscribed() <-chan struct{} { return b.subscribed }

// Attach gives the bus its client (created with ConnectHandler as OnConnect).
func (b *Bus) Attach(c mqtt.Client) { b.client = c }

func (noPending) ListPending(context.Context) ([]PendingCommand, error) { return nil, nil }
