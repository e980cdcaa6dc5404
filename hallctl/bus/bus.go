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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
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

// Event is a device event with where it came from.
type Event struct {
	Agent  string
	Device wire.DeviceInfo
	Type   string
	Msg    wire.EventMsg
}

// Pending lists the in-flight commands a previous run left (written
// through Tx into PendingBucket); the controller's store provides it.
type Pending interface {
	ListPending(ctx context.Context) ([]PendingCommand, error)
}

// PendingCommand is a command not yet acknowledged.
type PendingCommand struct {
	Topic string          `json:"topic"`
	Msg   wire.CommandMsg `json:"msg"`
}

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
	// OnInfo, when set, is told every agent birth (info) that changed the
	// registry, so the controller can keep the registry durable and seed it
	// with Load at the next start (on the router goroutine: must not block).
	OnInfo func(info wire.InfoMsg)
	// OnOutcome, when set, is told how every command ended: its ack, or
	// ErrExpired / ErrNoAck. It runs on the MQTT router or the Run
	// goroutine: it must not block for long.
	OnOutcome func(id string, ack wire.AckMsg, err error)
	// MaxHeld bounds events held back because their device is not known
	// yet (they wait, unacknowledged, for the agent's info); default 10000.
	MaxHeld int
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

func (nopMetrics) Rejected(string, string)       {}
func (nopMetrics) Duplicate()                    {}
func (nopMetrics) CommandOutcome(string, string) {}
func (nopMetrics) EventHandled(string)           {}

// Sentinel errors of Send and Wait.
var (
	ErrUnknownDevice = errors.New("unknown device")
	ErrExpired       = errors.New("command expired without an ack")
	ErrNoAck         = errors.New("no ack after retries")
	ErrNotConnected  = errors.New("not connected to the broker")
)

// outcome is how a dispatched command ended: an ack, or an error
// (ErrExpired, ErrNoAck) when none came.
type outcome struct {
	ack wire.AckMsg
	err error
}

// Agent is what the registry knows of one agent.
type Agent struct {
	ID      string
	Online  bool
	Info    wire.InfoMsg
	Devices map[string]*Device
}

// Device is what the registry knows of one device.
type Device struct {
	Info     wire.DeviceInfo
	Status   wire.DevStatusMsg
	Reported *wire.ReportedMsg
}

// Bus connects the controller to the hall's devices.
type Bus struct {
	o      Options
	client mqtt.Client
	log    *slog.Logger

	mu       sync.Mutex
	agents   map[string]*Agent
	waiters  map[string]*waiter
	seen     *memSeen
	events   chan mqtt.Message
	changed  chan struct{}  // closed and replaced on every registry change
	held     []mqtt.Message // events whose device is not known yet
	acked    []string       // ids whose pending entry is to be deleted
	kick     chan struct{}
	stopOnce sync.Once
}

type waiter struct {
	pc      PendingCommand
	done    chan outcome
	attempt int
	name    string
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
		o.MaxHeld = 10000
	}
	b := &Bus{
		o:       o,
		log:     o.Logger,
		agents:  map[string]*Agent{},
		waiters: map[string]*waiter{},
		seen:    newMemSeen(o.SeenCap),
		events:  make(chan mqtt.Message, 4096),
		changed: make(chan struct{}),
		kick:    make(chan struct{}, 1),
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
			}
			b.resendAll()
		}()
	}
}

// resendAll publishes every in-flight command again (same ids) after a
// (re)connect; agents answer repeats from their ledger.
func (b *Bus) resendAll() {
	b.mu.Lock()
	ws := make([]*waiter, 0, len(b.waiters))
	for _, w := range b.waiters {
		ws = append(ws, w)
	}
	b.mu.Unlock()
	sort.Slice(ws, func(i, j int) bool { return ws[i].pc.Msg.ID < ws[j].pc.Msg.ID })
	for _, w := range ws {
		b.publish(w)
	}
}

// Attach gives the bus its client (created with ConnectHandler as OnConnect).
func (b *Bus) Attach(c mqtt.Client) { b.client = c }

// Run handles events and retries until ctx is done. Call Resume first to
// re-send commands left in flight by a previous run.
func (b *Bus) Run(ctx context.Context) error {
	tick := b.o.Clock.NewTicker(b.o.RetryEvery / 3)
	defer tick.Stop()
	batch := make([]mqtt.Message, 0, b.o.MaxBatch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-b.events:
			batch = append(batch[:0], m)
		drain:
			for len(batch) < b.o.MaxBatch {
				select {
				case m := <-b.events:
					batch = append(batch, m)
				default:
					break drain
				}
			}
			if err := b.handleBatch(ctx, batch); err != nil {
				return err
			}
		case <-b.kick:
			if err := b.flushAcked(ctx); err != nil {
				return err
			}
		case <-tick.Chan():
			b.retry(ctx)
		}
	}
}

// handleBatch handles queued events in one unit of work; once it has
// committed, the events are marked handled and acknowledged to the broker.
func (b *Bus) handleBatch(ctx context.Context, msgs []mqtt.Message) error {
	handled := make([]string, 0, len(msgs))
	ack := make([]mqtt.Message, 0, len(msgs))
	err := b.o.Batcher.Unit(ctx, func(tx Tx) error {
		b.takeAcked(tx)
		for _, m := range msgs {
			id, done := b.handleEvent(ctx, tx, m)
			if id != "" {
				handled = append(handled, id)
			}
			if done {
				ack = append(ack, m)
			}
		}
		return nil
	})
	if err != nil {
		// The events stay unacknowledged: the broker redelivers them to
		// the next run, which rebuilds its state from the log.
		return fmt.Errorf("commit %d events: %w", len(msgs), err)
	}
	for _, id := range handled {
		b.seen.add(id)
	}
	for _, m := range ack {
		m.Ack()
	}
	return nil
}

// takeAcked moves acknowledged commands' pending entries into the unit.
func (b *Bus) takeAcked(tx Tx) {
	b.mu.Lock()
	ids := b.acked
	b.acked = nil
	b.mu.Unlock()
	for _, id := range ids {
		tx.Delete(PendingBucket, id)
	}
}

func (b *Bus) flushAcked(ctx context.Context) error {
	err := b.o.Batcher.Unit(ctx, func(tx Tx) error {
		b.takeAcked(tx)
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit acked commands: %w", err)
	}
	return nil
}

// Resume re-sends every command that a previous run left unacknowledged and
// not yet expired; expired ones are dropped (and logged).
func (b *Bus) Resume(ctx context.Context) error {
	pcs, err := b.o.Pending.ListPending(ctx)
	if err != nil {
		return fmt.Errorf("list pending commands: %w", err)
	}
	now := b.o.Clock.Now()
	for _, pc := range pcs {
		if pc.Msg.Expired(now) {
			b.log.Warn("dropping command that expired while the controller was down", "id", pc.Msg.ID, "topic", pc.Topic)
			b.queueDelete(pc.Msg.ID)
			continue
		}
		t, _ := wire.ParseTopic(pc.Topic, b.o.Hall)
		w := &waiter{pc: pc, done: make(chan outcome, 1), name: t.Name}
		b.mu.Lock()
		b.waiters[pc.Msg.ID] = w
		b.mu.Unlock()
		b.publish(w)
	}
	return nil
}

// Send publishes a command to a device in a unit of its own and waits for
// its ack, re-sending the same id every RetryEvery up to MaxAttempts while
// it has not expired. The command is stored as pending first, so a
// controller restart re-sends it.
func (b *Bus) Send(ctx context.Context, agent, dev, name string, args any, ttl time.Duration) (wire.AckMsg, error) {
	var t Ticket
	err := b.o.Batcher.Unit(ctx, func(tx Tx) error {
		var err error
		t, err = b.Dispatch(tx, agent, dev, name, args, ttl)
		return err
	})
	if err != nil {
		return wire.AckMsg{}, err
	}
	return b.Wait(ctx, t)
}

// Ticket identifies a dispatched command.
type Ticket struct {
	ID string
	w  *waiter
}

// Dispatch stores a command as pending in tx and publishes it once tx
// commits, without waiting for the ack.
func (b *Bus) Dispatch(tx Tx, agent, dev, name string, args any, ttl time.Duration) (Ticket, error) {
	now := b.o.Clock.Now()
	msg := wire.NewCommand(now, ttl, args)
	pc := PendingCommand{Topic: wire.Command(b.o.Hall, agent, dev, name), Msg: msg}
	tx.Put(PendingBucket, msg.ID, MarshalPending(pc))
	w := &waiter{pc: pc, done: make(chan outcome, 1), name: name}
	tx.After(func() {
		b.mu.Lock()
		b.waiters[msg.ID] = w
		b.mu.Unlock()
		b.publish(w)
	})
	return Ticket{ID: msg.ID, w: w}, nil
}

// Wait blocks until the command's ack, expiry (ErrExpired), retries
// running out (ErrNoAck), or ctx. An ack whose status is not done is
// returned with a nil error: the device answered.
func (b *Bus) Wait(ctx context.Context, t Ticket) (wire.AckMsg, error) {
	select {
	case o := <-t.w.done:
		return o.ack, o.err
	case <-ctx.Done():
		return wire.AckMsg{}, ctx.Err()
	}
}

// Valid reports whether t names a dispatched command.
func (t Ticket) Valid() bool { return t.w != nil }

func (b *Bus) publish(w *waiter) {
	// Only on an open connection: paho's own resume of publishes stored
	// while disconnected races in paho v1.5.1, and the bus re-sends every
	// in-flight command itself when the connection comes back. Attempts
	// made while disconnected do not count against MaxAttempts.
	if b.client == nil || !b.client.IsConnectionOpen() {
		return
	}
	b.mu.Lock()
	w.attempt++
	b.mu.Unlock()
	// Fire and forget: QoS 1 delivery to the broker is paho's job; the ack
	// (or the retry timer) tells us whether the device got it.
	b.client.Publish(w.pc.Topic, 1, false, wire.Marshal(w.pc.Msg))
}

func (b *Bus) retry(ctx context.Context) {
	now := b.o.Clock.Now()
	b.mu.Lock()
	var resend []*waiter
	var drop []*waiter
	status := map[*waiter]string{}
	results := map[*waiter]outcome{}
	for id, w := range b.waiters {
		sent := w.pc.Msg.TS.Time
		due := sent.Add(time.Duration(w.attempt) * b.o.RetryEvery)
		switch {
		case w.pc.Msg.Expired(now):
			delete(b.waiters, id)
			drop = append(drop, w)
			status[w] = "expired"
			results[w] = outcomeOf(id, wire.AckExpired, "expired", ErrExpired)
			w.done <- results[w]
		case !now.Before(due) && w.attempt >= b.o.MaxAttempts:
			delete(b.waiters, id)
			drop = append(drop, w)
			status[w] = "lost"
			results[w] = outcomeOf(id, wire.AckFailed, "no_ack", ErrNoAck)
			w.done <- results[w]
		case !now.Before(due):
			resend = append(resend, w)
		}
	}
	b.mu.Unlock()
	for _, w := range drop {
		if b.o.OnOutcome != nil {
			b.o.OnOutcome(w.pc.Msg.ID, results[w].ack, results[w].err)
		}
		b.o.Metrics.CommandOutcome(w.name, status[w])
		b.log.Warn("command got no ack", "id", w.pc.Msg.ID, "topic", w.pc.Topic, "attempts", w.attempt, "outcome", status[w])
		b.queueDelete(w.pc.Msg.ID)
	}
	for _, w := range resend {
		b.log.Info("re-sending command", "id", w.pc.Msg.ID, "topic", w.pc.Topic, "attempt", w.attempt+1)
		b.publish(w)
	}
}

// onMessage runs on paho's router goroutine: registry updates happen here
// (they are cheap), events are queued in order for Run.
func (b *Bus) onMessage(_ mqtt.Client, m mqtt.Message) {
	t, err := wire.ParseTopic(m.Topic(), b.o.Hall)
	if err != nil {
		m.Ack()
		b.reject("topic", err, m.Topic())
		return
	}
	if t.Kind == wire.KindEvent {
		// Acknowledged by Run once its effect is committed. A full queue
		// blocks here, and QoS 1 flow control backs off the broker.
		b.events <- m
		return
	}
	defer m.Ack()
	p := m.Payload()
	switch t.Kind {
	case wire.KindAck:
		a, err := wire.DecodeAck(p)
		if err != nil {
			b.reject("ack", err, m.Topic())
			return
		}
		b.onAck(t, a)
	case wire.KindAgentStatus:
		s, err := wire.DecodeAvailability(p)
		if err != nil {
			if len(p) == 0 { // retained message cleared
				return
			}
			b.reject("agent-status", err, m.Topic())
			return
		}
		b.mu.Lock()
		b.agent(t.Agent).Online = s == wire.Online
		b.mu.Unlock()
		b.notify()
	case wire.KindAgentInfo:
		if len(p) == 0 {
			return
		}
		info, err := wire.DecodeInfo(p)
		if err != nil {
			b.reject("info", err, m.Topic())
			return
		}
		if info.Agent != t.Agent {
			b.reject("info", fmt.Errorf("%w: info.agent %q on topic of %q", wire.ErrInvalid, info.Agent, t.Agent), m.Topic())
			return
		}
		b.mu.Lock()
		a := b.agent(t.Agent)
		same := sameInfo(a.Info, info)
		a.Info = info
		old := a.Devices
		a.Devices = map[string]*Device{}
		for _, d := range info.Devices {
			nd := &Device{Info: d}
			if o, ok := old[d.ID]; ok {
				nd.Status, nd.Reported = o.Status, o.Reported
			}
			a.Devices[d.ID] = nd
		}
		b.mu.Unlock()
		b.notify()
		if !same && b.o.OnInfo != nil {
			b.o.OnInfo(info)
		}
		b.releaseHeld(t.Agent)
	case wire.KindDevStatus:
		if len(p) == 0 {
			return
		}
		s, err := wire.DecodeDevStatus(p)
		if err != nil {
			b.reject("dev-status", err, m.Topic())
			return
		}
		b.mu.Lock()
		d := b.device(t.Agent, t.Device)
		d.Status = s
		b.mu.Unlock()
		b.notify()
		if b.o.OnStatus != nil {
			b.o.OnStatus(t.Agent, t.Device, s)
		}
	case wire.KindReported:
		if len(p) == 0 {
			return
		}
		r, err := wire.DecodeReported(p)
		if err != nil {
			b.reject("reported", err, m.Topic())
			return
		}
		b.mu.Lock()
		b.device(t.Agent, t.Device).Reported = &r
		b.mu.Unlock()
	}
}

func (b *Bus) reject(kind string, err error, topic string) {
	reason := wire.Reason(err)
	b.o.Metrics.Rejected(kind, reason)
	if len(topic) > 200 {
		topic = topic[:200]
	}
	b.log.Warn("rejected message", "kind", kind, "reason", reason, "topic", topic, "err", err)
}

func (b *Bus) notify() {
	b.mu.Lock()
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// Changed returns a channel that is closed at the next registry change.
// Every caller is woken (a broadcast): take a new channel after each wake.
func (b *Bus) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// sameInfo reports whether two births announce the same devices.
func sameInfo(a, b wire.InfoMsg) bool {
	return string(wire.Marshal(a.Devices)) == string(wire.Marshal(b.Devices)) && a.Agent == b.Agent
}

func (b *Bus) agent(id string) *Agent {
	a, ok := b.agents[id]
	if !ok {
		a = &Agent{ID: id, Devices: map[string]*Device{}}
		b.agents[id] = a
	}
	return a
}

func (b *Bus) device(agent, dev string) *Device {
	a := b.agent(agent)
	d, ok := a.Devices[dev]
	if !ok {
		d = &Device{Info: wire.DeviceInfo{ID: dev}}
		a.Devices[dev] = d
	}
	return d
}

func (b *Bus) onAck(t wire.Topic, a wire.AckMsg) {
	b.mu.Lock()
	w, ok := b.waiters[a.ID]
	if ok {
		delete(b.waiters, a.ID)
	}
	b.mu.Unlock()
	// The pending entry goes in the next commit of the Run loop; if the
	// controller stops first, the command is re-sent once and the agent
	// answers with its stored ack.
	b.queueDelete(a.ID)
	if !ok {
		return // a duplicate ack (QoS 1) or one for a previous run's command
	}
	b.o.Metrics.CommandOutcome(w.name, a.Status)
	if a.Status != wire.AckDone {
		b.log.Warn("command not done", "id", a.ID, "topic", w.pc.Topic, "status", a.Status, "code", a.Code, "error", a.Error)
	}
	w.done <- outcome{ack: a}
	if b.o.OnOutcome != nil {
		b.o.OnOutcome(a.ID, a, nil)
	}
}

func outcomeOf(id, status, code string, err error) outcome {
	return outcome{ack: wire.AckMsg{ID: id, Status: status, Code: code}, err: err}
}

func (b *Bus) queueDelete(id string) {
	b.mu.Lock()
	b.acked = append(b.acked, id)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// handleEvent handles one event inside tx. It returns the event id when
// the event was handled (to be marked seen after commit), and done=false
// when the event is held back: its device is not known yet (a controller
// that restarts meets queued events before the agents' retained info), so
// it waits unacknowledged until the agent's info arrives.
func (b *Bus) handleEvent(ctx context.Context, tx Tx, m mqtt.Message) (id string, done bool) {
	t, _ := wire.ParseTopic(m.Topic(), b.o.Hall)
	msg, err := wire.DecodeEvent(m.Payload())
	if err != nil {
		b.reject("event", err, m.Topic())
		return "", true
	}
	if b.seen.has(msg.ID) {
		b.o.Metrics.Duplicate()
		return "", true
	}
	b.mu.Lock()
	d, known := b.knownDevice(t.Agent, t.Device)
	if !known {
		if len(b.held) < b.o.MaxHeld {
			b.held = append(b.held, m)
			b.mu.Unlock()
			b.log.Info("event held until its device is known", "type", t.Name, "agent", t.Agent, "device", t.Device, "id", msg.ID)
			return "", false
		}
		b.mu.Unlock()
		b.reject("event", fmt.Errorf("%w: device %s/%s is unknown and %d events are already held", wire.ErrInvalid, t.Agent, t.Device, b.o.MaxHeld), m.Topic())
		return "", true
	}
	b.mu.Unlock()
	ev := Event{Agent: t.Agent, Device: d, Type: t.Name, Msg: msg}
	if b.o.Handler != nil {
		if err := b.o.Handler.HandleEvent(ctx, tx, ev); err != nil {
			b.log.Warn("event not handled", "type", t.Name, "agent", t.Agent, "device", t.Device, "id", msg.ID, "err", err)
			b.o.Metrics.Rejected("event", "handler")
			return "", true
		}
	}
	b.o.Metrics.EventHandled(t.Name)
	return msg.ID, true
}

// knownDevice returns a device's info when its agent has announced it.
// The caller holds b.mu.
func (b *Bus) knownDevice(agent, dev string) (wire.DeviceInfo, bool) {
	a, ok := b.agents[agent]
	if !ok {
		return wire.DeviceInfo{}, false
	}
	d, ok := a.Devices[dev]
	if !ok || d.Info.Kind == "" {
		return wire.DeviceInfo{}, false
	}
	return d.Info, true
}

// releaseHeld queues again the held events of agent (its info arrived).
// It runs on the router goroutine; the events channel is drained by Run.
func (b *Bus) releaseHeld(agent string) {
	b.mu.Lock()
	var again, keep []mqtt.Message
	for _, m := range b.held {
		if t, _ := wire.ParseTopic(m.Topic(), b.o.Hall); t.Agent == agent {
			again = append(again, m)
		} else {
			keep = append(keep, m)
		}
	}
	b.held = keep
	b.mu.Unlock()
	for _, m := range again {
		select {
		case b.events <- m:
		default:
			go func() { b.events <- m }() // the queue is full: Run drains it
		}
	}
}

// Held is how many events wait for their device to be announced.
func (b *Bus) Held() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.held)
}

// Load seeds the registry with agents' last known info (kept durable by
// the controller through OnInfo), so that events and requests that come
// before the agents' retained info after a restart find their devices.
// Agents stay offline until their status says otherwise.
func (b *Bus) Load(infos ...wire.InfoMsg) {
	b.mu.Lock()
	for _, info := range infos {
		a := b.agent(info.Agent)
		if len(a.Info.Devices) > 0 {
			continue // a live info already arrived
		}
		a.Info = info
		for _, d := range info.Devices {
			a.Devices[d.ID] = &Device{Info: d}
		}
	}
	b.mu.Unlock()
	b.notify()
}

// Agents returns a copy of the registry, sorted by agent id.
func (b *Bus) Agents() []Agent {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Agent, 0, len(b.agents))
	for _, a := range b.agents {
		c := *a
		c.Devices = make(map[string]*Device, len(a.Devices))
		for k, d := range a.Devices {
			dc := *d
			c.Devices[k] = &dc
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Find returns (agent, device) pairs whose device matches.
func (b *Bus) Find(match func(agent string, d wire.DeviceInfo) bool) []Target {
	var out []Target
	for _, a := range b.Agents() {
		ids := make([]string, 0, len(a.Devices))
		for id := range a.Devices {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		// Keep the order the agent listed its devices in (its info), which
		// decides "the first printer of that agent".
		order := map[string]int{}
		for i, d := range a.Info.Devices {
			order[d.ID] = i + 1
		}
		sort.SliceStable(ids, func(i, j int) bool {
			oi, oj := order[ids[i]], order[ids[j]]
			if oi == 0 {
				oi = 1 << 30
			}
			if oj == 0 {
				oj = 1 << 30
			}
			return oi < oj
		})
		for _, id := range ids {
			d := a.Devices[id]
			if d.Info.Kind != "" && match(a.ID, d.Info) {
				out = append(out, Target{Agent: a.ID, Device: d.Info, Online: a.Online, Status: d.Status})
			}
		}
	}
	return out
}

// WaitAgent blocks until agent id is online and has announced at least
// devices devices, or ctx ends.
func (b *Bus) WaitAgent(ctx context.Context, id string, devices int) error {
	for {
		changed := b.Changed()
		for _, a := range b.Agents() {
			if a.ID == id && a.Online && len(a.Devices) >= devices {
				return nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("agent %s not registered: %w", id, ctx.Err())
		}
	}
}

// Target is a device to send to.
type Target struct {
	Agent  string
	Device wire.DeviceInfo
	Online bool
	Status wire.DevStatusMsg
}

// PublishDesired publishes a display's desired document, retained.
func (b *Bus) PublishDesired(agent, dev string, doc wire.DesiredMsg) error {
	// Only on an open connection (see publish): the controller publishes
	// every display document again when the connection comes back.
	if b.client == nil || !b.client.IsConnectionOpen() {
		return ErrNotConnected
	}
	b.client.Publish(wire.Desired(b.o.Hall, agent, dev), 1, true, wire.Marshal(doc))
	return nil
}

// noPending is the Pending of a bus without a store: nothing to resume.
type noPending struct{}

func (noPending) ListPending(context.Context) ([]PendingCommand, error) { return nil, nil }

// memSeen is a bounded in-memory set of event ids (FIFO eviction).
type memSeen struct {
	mu    sync.Mutex
	max   int
	set   map[string]struct{}
	order []string
}

func newMemSeen(max int) *memSeen {
	if max <= 0 {
		max = 200000
	}
	return &memSeen{max: max, set: map[string]struct{}{}}
}

func (s *memSeen) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[id]
	return ok
}

func (s *memSeen) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[id]; ok {
		return
	}
	s.set[id] = struct{}{}
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
}

// Seed marks event ids as already handled (from the controller's log).
func (b *Bus) Seed(ids ...string) {
	for _, id := range ids {
		b.seen.add(id)
	}
}

// MarshalPending encodes a pending command for a key-value store.
func MarshalPending(c PendingCommand) []byte { return wire.Marshal(c) }

// UnmarshalPending decodes what MarshalPending wrote.
func UnmarshalPending(b []byte) (PendingCommand, error) {
	var c PendingCommand
	err := json.Unmarshal(b, &c)
	return c, err
}
