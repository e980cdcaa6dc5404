package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/jonboulle/clockwork"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"periph.io/x/conn/v3/gpio"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/device/devicetest"
	"github.com/servicehall/servicehall/wire"
)

const (
	hall    = "h1"
	agentID = "a1"
	wait    = 20 * time.Second // upper bound for anything over the network
)

// gate refuses connections from chosen client ids until opened, so a test
// can have the controller subscribed before the agent reconnects.
type gate struct {
	mqtt.HookBase
	mu      sync.Mutex
	blocked map[string]bool
	// password, when set, is required of the agent (username = agent id).
	password string
	creds    []string // username:password the agent presented
}

func (g *gate) ID() string { return "test-gate" }
func (g *gate) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (g *gate) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cl.ID == agentID {
		g.creds = append(g.creds, string(pk.Connect.Username)+":"+string(pk.Connect.Password))
		if g.password != "" && (string(pk.Connect.Username) != agentID || string(pk.Connect.Password) != g.password) {
			return false
		}
	}
	return !g.blocked[cl.ID]
}
func (g *gate) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
func (g *gate) open() {
	g.mu.Lock()
	g.blocked = nil
	g.mu.Unlock()
}

type broker struct {
	once sync.Once
	srv  *mqtt.Server
	addr string
	gate *gate
}

// startBroker runs mochi on addr ("127.0.0.1:0" for a fresh port). Client
// ids in blocked are refused until b.gate.open().
func startBroker(t testing.TB, addr string, blocked ...string) *broker {
	t.Helper()
	return startBrokerGate(t, addr, &gate{}, blocked...)
}

func startBrokerGate(t testing.TB, addr string, g *gate, blocked ...string) *broker {
	t.Helper()
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	g.blocked = map[string]bool{}
	for _, id := range blocked {
		g.blocked[id] = true
	}
	var err error
	if len(blocked) > 0 || g.password != "" {
		err = srv.AddHook(g, nil)
	} else {
		err = srv.AddHook(&auth.AllowHook{}, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: addr})
	if err := srv.AddListener(l); err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	b := &broker{srv: srv, addr: l.Address(), gate: g}
	t.Cleanup(b.close)
	return b
}

// close stops the broker (once).
func (b *broker) close() { b.once.Do(func() { b.srv.Close() }) }

func (b *broker) url() string { return "tcp://" + b.addr }

// freeAddr returns a loopback address nothing listens on (yet).
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

type msg struct {
	topic    string
	payload  []byte
	retained bool
}

// controller is a paho client playing hallctl.
type controller struct {
	t   testing.TB
	c   paho.Client
	msg chan msg
	// lost is the client's connection-lost error, if it lost it (another
	// process's client taking over its id on a reused port, say): a
	// message that never comes then says why.
	lost atomic.Pointer[error]
}

// clientIDs makes the test clients' ids unique across processes: `go
// test ./...` runs packages at once, and a client of another package
// reconnecting to a loopback port this test's broker now holds, under
// the same id (hallctl/bus's tests have a "ctl" too), would take over
// this client's session and silently cut it.
var clientIDs atomic.Int64

func uniqueClientID(id string) string {
	return fmt.Sprintf("%s-%d-%d", id, os.Getpid(), clientIDs.Add(1))
}

// newController connects a fake controller and, like hallctl, announces
// itself with the retained ctl/status "online" (agents hold their outbox
// until they see it).
func newController(t testing.TB, b *broker, id string, filter string) *controller {
	t.Helper()
	ct := newSilentController(t, b, id, filter)
	if hall, ok := strings.CutSuffix(strings.TrimPrefix(filter, wire.Root), "/#"); ok && !strings.Contains(hall, "/") {
		ct.publish(wire.CtlStatus(hall), true, []byte(wire.Online))
	}
	return ct
}

// newSilentController subscribes without announcing a controller.
func newSilentController(t testing.TB, b *broker, id string, filter string) *controller {
	t.Helper()
	ct := &controller{t: t, msg: make(chan msg, 10000)}
	o := paho.NewClientOptions().AddBroker(b.url()).SetClientID(uniqueClientID(id)).SetCleanSession(true).SetAutoReconnect(false).
		SetConnectionLostHandler(func(_ paho.Client, err error) { ct.lost.Store(&err) })
	ct.c = paho.NewClient(o)
	if tok := ct.c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("controller connect: %v", tok.Error())
	}
	tok := ct.c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		ct.msg <- msg{m.Topic(), append([]byte(nil), m.Payload()...), m.Retained()}
	})
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("controller subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { ct.c.Disconnect(0) })
	return ct
}

// lostWhy says whether and why the client lost its connection.
func (ct *controller) lostWhy() string {
	if err := ct.lost.Load(); err != nil {
		return fmt.Sprintf(" (the test client lost its connection: %v)", *err)
	}
	return ""
}

func (ct *controller) publish(topic string, retained bool, payload []byte) {
	ct.t.Helper()
	tok := ct.c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		ct.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// next returns the next message on topic, skipping others.
func (ct *controller) next(topic string) msg {
	ct.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case m := <-ct.msg:
			if m.topic == topic {
				return m
			}
		case <-deadline:
			ct.t.Fatalf("no message on %s within %v%s", topic, wait, ct.lostWhy())
		}
	}
}

// nextAck returns the next ack on the device's ack topic.
func (ct *controller) nextAck(dev string) wire.AckMsg {
	ct.t.Helper()
	m := ct.next(wire.Ack(hall, agentID, dev))
	a, err := wire.DecodeAck(m.payload)
	if err != nil {
		ct.t.Fatalf("ack: %v (%s)", err, m.payload)
	}
	return a
}

func (ct *controller) command(dev, name string, c wire.CommandMsg) {
	ct.t.Helper()
	ct.publish(wire.Command(hall, agentID, dev, name), false, wire.Marshal(c))
}

// testConfig is an agent with a printer, a button, a display and two
// devices that do not start.
func testConfig(t testing.TB, url, stateDir string) *agent.Config {
	t.Helper()
	y := []byte(`
agent: {id: a1, hall: h1, state_dir: ` + stateDir + `}
mqtt: {url: "` + url + `"}
devices:
  - {id: printer-1, kind: fake-printer}
  - {id: btn-1, kind: fake-button, item: HR-001, printer: printer-1}
  - {id: led-8, kind: fake-display, window: 8}
  - {id: pad-8, kind: fake-unavailable, pin: GPIO99, window: 8}
  - {id: broken-1, kind: fake-broken}
`)
	cfg, err := agent.Parse(y, "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type running struct {
	a    *agent.Agent
	stop func() // cancels and waits for Run to return
}

func startAgent(t testing.TB, cfg *agent.Config, set *devicetest.Set, clock clockwork.Clock) *running {
	t.Helper()
	opts := agent.Opts{
		Log:          slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:        clock,
		Lookup:       set.Lookup,
		Kinds:        func() []string { return []string{"fake-printer", "fake-button", "fake-display"} },
		OpenPin:      func(string) (gpio.PinIO, error) { return nil, device.ErrUnavailable },
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		RestartMin: 10 * time.Millisecond, RestartMax: 50 * time.Millisecond,
		AckWait: wait,
	}
	a, err := agent.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(wait):
				t.Errorf("agent did not stop within %v", wait)
			}
		})
	}
	t.Cleanup(stop)
	return &running{a: a, stop: stop}
}

// testWriter sends log lines to t.Log (shown when a test fails) until the
// test ends; paho may call back a moment after the agent stopped.
type testWriter struct {
	t    testing.TB
	mu   *sync.Mutex
	done *bool
}

func newTestWriter(t testing.TB) testWriter {
	w := testWriter{t: t, mu: &sync.Mutex{}, done: new(bool)}
	t.Cleanup(func() { w.mu.Lock(); *w.done = true; w.mu.Unlock() })
	return w
}

func (w testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

// waitOnline waits until the agent's birth is complete: its last device
// status has been published after "online".
func (ct *controller) waitBirth() wire.InfoMsg {
	ct.t.Helper()
	// The birth is the agent's status, its info and its devices' status.
	// Published live they arrive in that order; a subscriber that comes
	// after the agent gets them as retained messages, which the broker
	// sends in its store's order (mochi walks a map), so order is checked
	// only for live messages and no birth message is skipped either way.
	statusT, infoT, devT := wire.AgentStatus(hall, agentID), wire.AgentInfo(hall, agentID), wire.DevStatus(hall, agentID, "broken-1")
	got := map[string]msg{}
	var order []string
	deadline := time.After(wait)
	for len(got) < 3 {
		select {
		case m := <-ct.msg:
			if m.topic != statusT && m.topic != infoT && m.topic != devT {
				continue
			}
			if _, dup := got[m.topic]; !dup {
				order = append(order, m.topic)
			}
			got[m.topic] = m
		case <-deadline:
			ct.t.Fatalf("agent birth within %v: got %v%s", wait, order, ct.lostWhy())
		}
	}
	if live := !got[statusT].retained && !got[infoT].retained && !got[devT].retained; live && !slices.Equal(order, []string{statusT, infoT, devT}) {
		ct.t.Fatalf("live birth out of order: %v", order)
	}
	st, err := wire.DecodeAvailability(got[statusT].payload)
	if err != nil || st != wire.Online {
		ct.t.Fatalf("agent status %q %v", st, err)
	}
	info, err := wire.DecodeInfo(got[infoT].payload)
	if err != nil {
		ct.t.Fatal(err)
	}
	return info
}
