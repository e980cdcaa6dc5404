package ctl

// The test rig: a controller built with New on a real SQLite event log in
// t.TempDir(), a fake clock, the embedded MQTT broker, and device agents
// played by plain paho clients. Nothing waits on time passing: waits are on
// commits of the event log, registry changes, or messages the devices get,
// each bounded by a failure guard that never elapses in a passing run.

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/servicehall/servicehall/hallctl/broker"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// guard bounds every wait; nothing waits for it to pass.
const guard = 10 * time.Second

// rigHall is the hall of most rig tests: open all day, two items (one
// promised), three windows in two zones.
const rigHall = `hall: {id: rig, name: 测试大厅, hours: {open: "00:00", close: "24:00"}}
departments: [{code: HR, name: 人社}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}
  - {code: HR-002, name: 退休审批, dept: HR, prefix: B, kind: promised, promise_days: 5}
windows:
  - {number: 1, dept: HR, serves: ["*"], zone: east}
  - {number: 2, dept: HR, serves: ["*"], zone: west}
  - {number: 3, dept: HR, serves: [HR-002], zone: west}
server: {public_url: "https://hall.example"}
agents:
  - {id: kiosk-1, kiosk: true}
  - {id: win-1, windows: [1]}
  - {id: spk-1, zones: [east, west]}
  - {id: dev-1, windows: [2], zones: [east], kiosk: true}
  - {id: lone-1, windows: [2], kiosk: true}
  - {id: odd-1, windows: [2], kiosk: true}
`

// rigStart is the rig's default start time: a Monday morning in Shanghai.
var rigStart = time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai())

func shanghai() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}

// watchedStore is the real event log with a broadcast of every commit, so
// tests wait for the controller's durable effects instead of for time.
type watchedStore struct {
	*store.Log
	mu   sync.Mutex
	f    func([]store.Record)
	wake chan struct{}
}

func watch(l *store.Log) *watchedStore {
	w := &watchedStore{Log: l, wake: make(chan struct{})}
	l.OnCommit(w.committed)
	return w
}

// OnCommit keeps the controller's callback; the log calls committed.
func (w *watchedStore) OnCommit(f func([]store.Record)) {
	w.mu.Lock()
	w.f = f
	w.mu.Unlock()
}

func (w *watchedStore) committed(recs []store.Record) {
	w.mu.Lock()
	f, ch := w.f, w.wake
	w.wake = make(chan struct{})
	w.mu.Unlock()
	if f != nil {
		f(recs)
	}
	close(ch)
}

// changed is closed at the next commit.
func (w *watchedStore) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wake
}

// logBuf collects the controller's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type rig struct {
	t      *testing.T
	cfg    *config.Config
	clock  *clockwork.FakeClock
	path   string
	st     *watchedStore
	c      *Controller
	reg    *prometheus.Registry
	logs   *logBuf
	opts   func(*Options)
	brk    *broker.Broker
	url    string
	cancel context.CancelFunc
	runErr chan error
}

// newRig builds a controller on a fresh event log; it is not running yet
// (see start). mod, when set, adjusts its Options.
func newRig(t *testing.T, yaml string, mod func(*Options)) *rig {
	t.Helper()
	cfg, err := config.Parse("rig.yaml", []byte(yaml), CheckConfig)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cfg: cfg, clock: clockwork.NewFakeClockAt(rigStart), path: filepath.Join(t.TempDir(), "hallctl.db"),
		logs: &logBuf{}, opts: mod}
	r.open()
	t.Cleanup(r.close)
	return r
}

// open opens the event log and builds a controller on it.
func (r *rig) open() {
	r.t.Helper()
	l, err := store.Open(context.Background(), r.path, store.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	r.st = watch(l)
	r.reg = prometheus.NewRegistry()
	o := Options{Config: r.cfg, Clock: r.clock, Store: r.st, Registry: r.reg,
		Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if r.opts != nil {
		r.opts(&o)
	}
	c, err := New(context.Background(), o)
	if err != nil {
		l.Close()
		r.t.Fatal(err)
	}
	r.c = c
}

// start runs the controller with the embedded broker (started on first
// use) and HTTP on a free port, and waits until it is connected and its
// clocked loops wait on the fake clock.
func (r *rig) start() {
	r.t.Helper()
	if r.brk == nil {
		b, err := broker.New(broker.Options{Addr: "127.0.0.1:0", Hall: r.cfg.Hall.ID, AllowAnonymousLoopback: true})
		if err != nil {
			r.t.Fatal(err)
		}
		if err := b.Start(context.Background()); err != nil {
			r.t.Fatal(err)
		}
		r.brk, r.url = b, "tcp://"+b.Addr()
		// The controller stops before its broker does.
		r.t.Cleanup(func() { r.close(); b.Close() })
	}
	r.c.o.BrokerURL = r.url
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.runErr = cancel, make(chan error, 1)
	c := r.c
	go func() { r.runErr <- c.Run(ctx) }()
	select {
	case <-c.Connected():
	case err := <-r.runErr:
		r.runErr <- err
		r.t.Fatalf("controller stopped before connecting: %v", err)
	case <-time.After(guard):
		r.t.Fatal("controller did not connect")
	}
	// bus retries, hours, leases, store check.
	bctx, bcancel := context.WithTimeout(context.Background(), guard)
	defer bcancel()
	if err := r.clock.BlockUntilContext(bctx, 4); err != nil {
		r.t.Fatal("the controller's clocked loops did not start")
	}
}

// stop ends Run and returns its error.
func (r *rig) stop() error {
	r.t.Helper()
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.runErr:
		return err
	case <-time.After(guard):
		r.t.Fatal("Run did not return after its context ended")
	}
	return nil
}

// runEnded waits for Run to return on its own (a fatal error).
func (r *rig) runEnded() error {
	r.t.Helper()
	select {
	case err := <-r.runErr:
		r.cancel()
		r.cancel = nil
		return err
	case <-time.After(guard):
		r.t.Fatal("Run did not return")
	}
	return nil
}

func (r *rig) close() {
	_ = r.stop()
	if r.st != nil {
		r.st.Close()
	}
}

// restart stops the controller, closes the event log, opens it again and
// builds a new controller on it (running again if it was).
func (r *rig) restart() {
	r.t.Helper()
	running := r.cancel != nil
	if err := r.stop(); err != nil {
		r.t.Fatalf("stop: %v", err)
	}
	if err := r.st.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
	if running {
		r.start()
	}
}

// waitFor waits until cond holds, re-checking it at every commit and every
// registry change, and then until the units in flight are durable.
func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	for {
		commit, reg := r.st.changed(), r.c.Bus().Changed()
		if cond() {
			// Memory changes under the lock before its unit's group
			// commit: wait for what is in flight to be durable, so that
			// what the test reads from the log next is there.
			r.c.barrier(context.Background())
			return
		}
		select {
		case <-commit:
		case <-reg:
		case <-deadline.C:
			r.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// barrier returns once the controller has handled the outcome of every
// command the agent answered so far: acks are handled in order, so it
// prints a ticket on printer for a client that left (its outcome is
// recorded only by that path) and waits for the record. It issues a ticket.
func (r *rig) barrier(a *agent, printer string) {
	r.t.Helper()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	tk, err := r.c.Issue(gone, IssueRequest{Item: r.cfg.Items[0].Code}, a.id, printer)
	if err != nil {
		r.t.Fatal(err)
	}
	if c := a.next(); c.Device != printer || c.Name != wire.CmdPrint {
		r.t.Fatalf("barrier: got %s/%s", c.Device, c.Name)
	}
	r.waitFor("the barrier print recorded", func() bool { s, _ := r.c.PrintStatus(tk.ID); return s == PrintPrinted })
}

// openWindows opens every window (for rigs that do not run the hours scheduler).
func (r *rig) openWindows() {
	r.t.Helper()
	for _, w := range r.cfg.Windows {
		if _, err := r.c.Manage(context.Background(), ManagerAction{Type: "open", Window: w.Number}); err != nil {
			r.t.Fatal(err)
		}
	}
}

// ticket is the engine's view of a ticket by number.
func (r *rig) ticket(number string) queue.TicketView {
	r.t.Helper()
	t, ok := r.c.FindTicket(number)
	if !ok {
		r.t.Fatalf("no ticket %s", number)
	}
	return t
}

func (r *rig) window(n int) queue.WindowView {
	var v queue.WindowView
	r.c.View(func(e *queue.Engine) { v, _ = e.Window(n) })
	return v
}

// records lists the log's records of a stream.
func (r *rig) records(stream string) []store.Record {
	r.t.Helper()
	var out []store.Record
	if err := r.st.Read(context.Background(), stream, 0, func(rec store.Record) error {
		out = append(out, rec)
		return nil
	}); err != nil {
		r.t.Fatal(err)
	}
	return out
}

// counter reads a counter or gauge of the controller's metrics.
func (r *rig) counter(m prometheus.Metric) float64 {
	r.t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		r.t.Fatal(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	r.t.Fatalf("not a counter or gauge: %v", &d)
	return 0
}

// get answers an HTTP GET on the controller's own listener.
func (r *rig) get(path string) (int, string) {
	r.t.Helper()
	res, err := http.Get("http://" + r.c.HTTPAddr() + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// agent is a device agent played by a plain paho client: it announces
// its devices, acks commands as told per device, and emits events.
type agent struct {
	t    *testing.T
	r    *rig
	id   string
	c    mqtt.Client
	devs []wire.DeviceInfo
	cmds chan cmdSeen
	docs chan docSeen
	mu   sync.Mutex
	acks map[string]wire.AckMsg // device → how it answers (Status "" = silent)
	seq  uint64
}

type cmdSeen struct {
	Device, Name string
	Msg          wire.CommandMsg
}

type docSeen struct {
	Device string
	Doc    wire.DesiredMsg
}

// newAgent connects an agent, announces devs (retained info, online) and
// waits until the controller's registry lists them.
func (r *rig) newAgent(id string, devs ...wire.DeviceInfo) *agent {
	r.t.Helper()
	a := r.connectAgent(id, devs...)
	a.announce()
	return a
}

// connectAgent connects an agent and subscribes to its commands, but
// announces nothing (an agent the registry may refuse).
func (r *rig) connectAgent(id string, devs ...wire.DeviceInfo) *agent {
	r.t.Helper()
	hall := r.cfg.Hall.ID
	a := &agent{t: r.t, r: r, id: id, devs: devs, cmds: make(chan cmdSeen, 1000), docs: make(chan docSeen, 1000),
		acks: map[string]wire.AckMsg{}}
	o := mqtt.NewClientOptions().AddBroker(r.url).SetClientID(id).SetCleanSession(true).SetAutoReconnect(false).
		SetWill(wire.AgentStatus(hall, id), wire.Offline, 1, true)
	a.c = mqtt.NewClient(o)
	if tok := a.c.Connect(); !tok.WaitTimeout(guard) || tok.Error() != nil {
		r.t.Fatalf("agent %s connect: %v", id, tok.Error())
	}
	r.t.Cleanup(func() { a.c.Disconnect(0) })
	a.wait(a.c.Subscribe(wire.AgentCommandFilter(hall, id), 1, func(_ mqtt.Client, m mqtt.Message) {
		tp, err := wire.ParseTopic(m.Topic(), hall)
		if err != nil {
			return
		}
		cm, err := wire.DecodeCommand(m.Payload())
		if err != nil {
			a.t.Errorf("agent %s: bad command: %v", id, err)
			return
		}
		a.cmds <- cmdSeen{Device: tp.Device, Name: tp.Name, Msg: cm}
		a.mu.Lock()
		ack, ok := a.acks[tp.Device]
		a.mu.Unlock()
		if !ok {
			ack = wire.AckMsg{Status: wire.AckDone}
		}
		if ack.Status != "" {
			ack.ID = cm.ID
			a.c.Publish(wire.Ack(hall, id, tp.Device), 1, false, wire.Marshal(ack))
		}
	}))
	a.wait(a.c.Subscribe(wire.AgentDesiredFilter(hall, id), 1, func(_ mqtt.Client, m mqtt.Message) {
		tp, _ := wire.ParseTopic(m.Topic(), hall)
		doc, err := wire.DecodeDesired(m.Payload())
		if err != nil {
			a.t.Errorf("agent %s: bad desired doc: %v", id, err)
			return
		}
		a.docs <- docSeen{Device: tp.Device, Doc: doc}
	}))
	return a
}

func (a *agent) wait(tok mqtt.Token) {
	a.t.Helper()
	if !tok.WaitTimeout(guard) || tok.Error() != nil {
		a.t.Fatalf("agent %s: %v", a.id, tok.Error())
	}
}

// announce publishes the agent's info and status and waits until the
// controller knows its devices.
func (a *agent) announce() {
	a.t.Helper()
	a.publishInfo()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := a.r.c.Bus().WaitAgent(ctx, a.id, len(a.devs)); err != nil {
		a.t.Fatal(err)
	}
}

// publishInfo publishes the agent's info and status (retained).
func (a *agent) publishInfo() {
	a.t.Helper()
	hall := a.r.cfg.Hall.ID
	info := wire.InfoMsg{V: wire.Version, Agent: a.id, Version: "test", BootID: wire.NewID(time.Now()), Session: "s1", Devices: a.devs}
	a.wait(a.c.Publish(wire.AgentInfo(hall, a.id), 1, true, wire.Marshal(info)))
	a.wait(a.c.Publish(wire.AgentStatus(hall, a.id), 1, true, wire.Online))
}

// answer sets how dev acks commands: status (done, failed, rejected …)
// with code; status "" = it never answers.
func (a *agent) answer(dev, status, code string) {
	a.mu.Lock()
	a.acks[dev] = wire.AckMsg{Status: status, Code: code}
	a.mu.Unlock()
}

// status publishes a device's health and waits until the registry has it.
func (a *agent) status(dev, state, code string) {
	a.t.Helper()
	s := wire.DevStatusMsg{State: state, Code: code}
	a.wait(a.c.Publish(wire.DevStatus(a.r.cfg.Hall.ID, a.id, dev), 1, true, wire.Marshal(s)))
	a.r.waitFor("status of "+a.id+"/"+dev, func() bool {
		return len(a.r.c.Bus().Find(func(ag string, d wire.DeviceInfo) bool { return ag == a.id && d.ID == dev })) == 1 &&
			a.r.c.Bus().Find(func(ag string, d wire.DeviceInfo) bool { return ag == a.id && d.ID == dev })[0].Status == s
	})
}

// emit publishes a device event and returns its id.
func (a *agent) emit(dev, typ string, data any) string {
	a.t.Helper()
	a.mu.Lock()
	a.seq++
	ev := wire.NewEvent(a.r.clock.Now(), "s1", a.seq, data)
	a.mu.Unlock()
	a.emitMsg(dev, typ, ev)
	return ev.ID
}

func (a *agent) emitMsg(dev, typ string, ev wire.EventMsg) {
	a.t.Helper()
	a.wait(a.c.Publish(wire.Event(a.r.cfg.Hall.ID, a.id, dev, typ), 1, false, wire.Marshal(ev)))
}

// next is the next command the agent got.
func (a *agent) next() cmdSeen {
	a.t.Helper()
	select {
	case c := <-a.cmds:
		return c
	case <-time.After(guard):
		a.t.Fatalf("agent %s got no command", a.id)
	}
	return cmdSeen{}
}

// nextDoc is the next display document the agent got.
func (a *agent) nextDoc() docSeen {
	a.t.Helper()
	select {
	case d := <-a.docs:
		return d
	case <-time.After(guard):
		a.t.Fatalf("agent %s got no display document", a.id)
	}
	return docSeen{}
}

// none checks that no command is queued for the agent now.
func (a *agent) none() {
	a.t.Helper()
	select {
	case c := <-a.cmds:
		a.t.Fatalf("agent %s got an unexpected command %s to %s: %s", a.id, c.Name, c.Device, c.Msg.Args)
	default:
	}
}

// args decodes a command's arguments.
func args[T any](t *testing.T, c cmdSeen) T {
	t.Helper()
	var v T
	if err := wire.DecodeArgs(c.Msg.Args, &v); err != nil {
		t.Fatalf("%s args: %v", c.Name, err)
	}
	return v
}

// mustCode fails the test unless err has the stable code want.
func mustCode(t *testing.T, err error, want string) {
	t.Helper()
	if Code(err) != want {
		t.Fatalf("got error %v (code %q), want code %q", err, Code(err), want)
	}
}
