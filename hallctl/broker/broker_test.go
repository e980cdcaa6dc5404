package broker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicehall/servicehall/hallctl/broker"
	"github.com/servicehall/servicehall/wire"
)

const (
	hall  = "t-hall"
	ctl   = "hallctl-t-hall"
	guard = 5 * time.Second // failure guard only; nothing waits for it to pass
)

var secrets = map[string]string{"kiosk-1": "k1-secret", "win-8": "w8-secret", ctl: "ctl-secret"}

// testLogger logs to t until the test ends; mochi's connection goroutines
// may still log a line after Close returns.
func testLogger(t testing.TB) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func startBroker(t testing.TB, mod func(*broker.Options)) *broker.Broker {
	t.Helper()
	opts := broker.Options{
		Addr:   "127.0.0.1:0",
		Logger: testLogger(t),
		Hall:   hall,
		Users: []broker.User{
			{Username: "kiosk-1"}, {Username: "win-8"}, {Username: ctl, Controller: true},
		},
		Check: broker.PlainCheck(secrets),
	}
	if mod != nil {
		mod(&opts)
	}
	b, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

type client struct {
	paho.Client
	lost chan error
	msgs chan paho.Message
	conn chan net.Conn // the raw connection, to cut it abruptly
}

func clientOpts(addr, id, user, pass string) (*paho.ClientOptions, *client) {
	c := &client{lost: make(chan error, 1), msgs: make(chan paho.Message, 64), conn: make(chan net.Conn, 1)}
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(guard).SetOrderMatters(true).
		SetConnectionLostHandler(func(_ paho.Client, err error) { c.lost <- err }).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.msgs <- m }).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			nc, err := net.DialTimeout("tcp", u.Host, guard)
			if err == nil {
				select {
				case c.conn <- nc:
				default:
				}
			}
			return nc, err
		})
	if user != "" {
		o.SetUsername(user)
	}
	if pass != "" {
		o.SetPassword(pass)
	}
	return o, c
}

func dial(t *testing.T, o *paho.ClientOptions, c *client) (*client, error) {
	t.Helper()
	c.Client = paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(guard) {
		t.Fatal("connect: no answer")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func mustDial(t *testing.T, b *broker.Broker, id, user, pass string) *client {
	t.Helper()
	o, c := clientOpts(b.Addr(), id, user, pass)
	c, err := dial(t, o, c)
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

// subscribe returns the granted QoS (0x80 = refused).
func (c *client) subscribe(t *testing.T, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(guard) {
		t.Fatalf("subscribe %s: no answer", filter)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

func (c *client) publish(t *testing.T, topic string, retained bool, payload string) error {
	t.Helper()
	tok := c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(guard) {
		return errors.New("publish: no answer")
	}
	return tok.Error()
}

func (c *client) next(t *testing.T) paho.Message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(guard):
		t.Fatal("no message")
		return nil
	}
}

func TestAuth(t *testing.T) {
	b := startBroker(t, nil)
	mustDial(t, b, "kiosk-1", "kiosk-1", "k1-secret")
	mustDial(t, b, "hallctl-t-hall", ctl, "ctl-secret")
	mustDial(t, b, "ctl-other-id", ctl, "ctl-secret") // the controller's client id is free

	refused := []struct{ name, id, user, pass string }{
		{"wrong password", "kiosk-1", "kiosk-1", "nope"},
		{"unknown user", "ghost", "ghost", "k1-secret"},
		{"no credentials", "kiosk-1", "", ""},
		{"username only", "kiosk-1", "kiosk-1", ""},
		{"client id is not the username", "win-8", "kiosk-1", "k1-secret"},
		{"another user's password", "win-8", "win-8", "k1-secret"},
	}
	for i, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			o, c := clientOpts(b.Addr(), tc.id, tc.user, tc.pass)
			if _, err := dial(t, o, c); err == nil {
				t.Fatal("connected")
			}
			if got := b.Stats().AuthFailed; got != uint64(i+1) {
				t.Errorf("AuthFailed = %d, want %d", got, i+1)
			}
		})
	}
	if s := b.Stats(); s.ACLDenied != 0 || s.Clients != 3 {
		t.Errorf("stats = %+v, want 0 ACL denials and 3 clients", s)
	}
}

func TestACLSubscribe(t *testing.T) {
	b := startBroker(t, nil)
	k := mustDial(t, b, "kiosk-1", "kiosk-1", "k1-secret")
	root := wire.Root + hall + "/"
	cases := []struct {
		filter string
		ok     bool
	}{
		{wire.AgentFilter(hall, "kiosk-1"), true},
		{wire.AgentCommandFilter(hall, "kiosk-1"), true},
		{wire.CtlStatus(hall), true},
		{wire.AgentFilter(hall, "win-8"), false},
		{root + "agent/+/dev/+/cmd/+", false},
		{root + "agent/#", false},
		{root + "#", false},
		{root + "ctl/#", false},
		{"#", false},
		{"$SYS/#", false},
		{wire.Root + "other-hall/agent/kiosk-1/#", false},
		{root + "agent/kiosk-1", false},
	}
	denied := 0
	for _, tc := range cases {
		got := k.subscribe(t, tc.filter)
		if tc.ok && got != 1 || !tc.ok && got != 0x80 {
			t.Errorf("subscribe %s: granted %#x, want ok=%v", tc.filter, got, tc.ok)
		}
		if !tc.ok {
			denied++
		}
	}
	if got := b.Stats().ACLDenied; got != uint64(denied) {
		t.Errorf("ACLDenied = %d, want %d", got, denied)
	}
	c := mustDial(t, b, ctl, ctl, "ctl-secret")
	if got := c.subscribe(t, wire.HallFilter(hall)); got != 1 {
		t.Errorf("controller subscribe to the hall: %#x", got)
	}
	if got := c.subscribe(t, "#"); got != 0x80 {
		t.Errorf("controller subscribe to #: %#x, want refused", got)
	}
}

func TestACLPublishAcrossAgents(t *testing.T) {
	b := startBroker(t, nil)
	c := mustDial(t, b, ctl, ctl, "ctl-secret")
	if got := c.subscribe(t, wire.HallFilter(hall)); got != 1 {
		t.Fatalf("controller subscribe: %#x", got)
	}
	k := mustDial(t, b, "kiosk-1", "kiosk-1", "k1-secret")
	w := mustDial(t, b, "win-8", "win-8", "w8-secret")

	// Allowed: its own event, and the controller's command to it.
	own := wire.Event(hall, "kiosk-1", "btn-1", "press")
	if err := k.publish(t, own, false, "own"); err != nil {
		t.Fatal(err)
	}
	if m := c.next(t); m.Topic() != own {
		t.Fatalf("controller got %s, want %s", m.Topic(), own)
	}

	// Denied: kiosk-1 posing as win-8. MQTT 3.1.1 has no negative PUBACK,
	// so the broker drops the connection.
	forged := wire.Event(hall, "win-8", "caller-8", "key")
	k.Publish(forged, 1, false, "forged")
	select {
	case <-k.lost:
	case <-time.After(guard):
		t.Fatal("forging client not disconnected")
	}
	if got := b.Stats().ACLDenied; got != 1 {
		t.Errorf("ACLDenied = %d, want 1", got)
	}
	// Anything win-8 sends now arrives after the forged message would have.
	mark := wire.Event(hall, "win-8", "caller-8", "key")
	if err := w.publish(t, mark, false, "real"); err != nil {
		t.Fatal(err)
	}
	if m := c.next(t); string(m.Payload()) != "real" {
		t.Fatalf("controller got %s %q, want win-8's real event", m.Topic(), m.Payload())
	}

	// Agents cannot publish the controller's status or outside the root.
	for _, topic := range []string{wire.CtlStatus(hall), "elsewhere/x", wire.Root + "other-hall/agent/win-8/status"} {
		o, wc := clientOpts(b.Addr(), "win-8", "win-8", "w8-secret")
		w2, err := dial(t, o, wc)
		if err != nil {
			t.Fatal(err)
		}
		w2.Publish(topic, 1, false, "x")
		select {
		case <-w2.lost:
		case <-time.After(guard):
			t.Fatalf("publish to %s not refused", topic)
		}
	}
}

func TestControllerCommandsAgent(t *testing.T) {
	b := startBroker(t, nil)
	w := mustDial(t, b, "win-8", "win-8", "w8-secret")
	if got := w.subscribe(t, wire.AgentCommandFilter(hall, "win-8")); got != 1 {
		t.Fatalf("subscribe: %#x", got)
	}
	c := mustDial(t, b, ctl, ctl, "ctl-secret")
	cmd := wire.Command(hall, "win-8", "spk-east", "speak")
	if err := c.publish(t, cmd, false, `{"text":"A012"}`); err != nil {
		t.Fatal(err)
	}
	if m := w.next(t); m.Topic() != cmd {
		t.Errorf("agent got %s", m.Topic())
	}
}

func TestRetainedToLateSubscriber(t *testing.T) {
	b := startBroker(t, nil)
	sig := observe(t, b)
	k := mustDial(t, b, "kiosk-1", "kiosk-1", "k1-secret")
	status := wire.DevStatus(hall, "kiosk-1", "printer-1")
	if err := k.publish(t, status, true, `{"state":"fault","code":"paper_out"}`); err != nil {
		t.Fatal(err)
	}
	// mochi acks before it fans out; wait for the fan-out to finish so
	// the controller below is surely late.
	wait(t, sig.published, status)
	c := mustDial(t, b, ctl, ctl, "ctl-secret")
	if got := c.subscribe(t, wire.HallFilter(hall)); got != 1 {
		t.Fatalf("subscribe: %#x", got)
	}
	m := c.next(t)
	if m.Topic() != status || !m.Retained() || string(m.Payload()) != `{"state":"fault","code":"paper_out"}` {
		t.Errorf("got %s retained=%v %q", m.Topic(), m.Retained(), m.Payload())
	}
}

func TestLastWill(t *testing.T) {
	b := startBroker(t, nil)
	c := mustDial(t, b, ctl, ctl, "ctl-secret")
	status := wire.AgentStatus(hall, "kiosk-1")
	if got := c.subscribe(t, status); got != 1 {
		t.Fatalf("subscribe: %#x", got)
	}
	o, kc := clientOpts(b.Addr(), "kiosk-1", "kiosk-1", "k1-secret")
	o.SetWill(status, "offline", 1, true)
	k, err := dial(t, o, kc)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.publish(t, status, true, "online"); err != nil {
		t.Fatal(err)
	}
	if m := c.next(t); string(m.Payload()) != "online" {
		t.Fatalf("got %q, want online", m.Payload())
	}
	// Cut the TCP connection without a DISCONNECT packet.
	(<-k.conn).Close()
	// mochi sends retained messages after the SUBACK, so "online" may come
	// a second time (as retained) if the publish raced the subscription.
	m := c.next(t)
	for string(m.Payload()) == "online" {
		m = c.next(t)
	}
	if m.Topic() != status || string(m.Payload()) != "offline" {
		t.Fatalf("got %s %q, want the will", m.Topic(), m.Payload())
	}
	// The will was retained: a late subscriber sees offline.
	late := mustDial(t, b, "ctl-late", ctl, "ctl-secret")
	late.subscribe(t, status)
	if m := late.next(t); string(m.Payload()) != "offline" || !m.Retained() {
		t.Errorf("late subscriber got %q retained=%v", m.Payload(), m.Retained())
	}
}

func TestWillOutsideACLRefused(t *testing.T) {
	b := startBroker(t, nil)
	o, kc := clientOpts(b.Addr(), "kiosk-1", "kiosk-1", "k1-secret")
	o.SetWill(wire.AgentStatus(hall, "win-8"), "offline", 1, true) // someone else's status
	if _, err := dial(t, o, kc); err == nil {
		t.Fatal("connected with a will on another agent's topic")
	}
	if s := b.Stats(); s.ACLDenied != 1 || s.AuthFailed != 0 {
		t.Errorf("stats = %+v, want one ACL denial", s)
	}
}

func TestAnonymousLoopback(t *testing.T) {
	b := startBroker(t, func(o *broker.Options) { o.AllowAnonymousLoopback = true })
	watcher := mustDial(t, b, "mosquitto-sub", "", "")
	if got := watcher.subscribe(t, wire.HallFilter(hall)); got != 1 {
		t.Fatalf("anonymous subscribe to the hall: %#x", got)
	}
	if got := watcher.subscribe(t, "#"); got != 0x80 {
		t.Errorf("anonymous subscribe to #: %#x, want refused", got)
	}
	// A device of one's own, played with mosquitto_pub: any agent's topics.
	dev := mustDial(t, b, "my-device", "", "")
	press := wire.Event(hall, "my-agent", "btn-9", "press")
	if err := dev.publish(t, press, false, `{"item":"HR-001"}`); err != nil {
		t.Fatal(err)
	}
	if m := watcher.next(t); m.Topic() != press {
		t.Errorf("watcher got %s", m.Topic())
	}
	// An agent with a username but no password is anonymous too (demo configs).
	mustDial(t, b, "kiosk-1", "kiosk-1", "")
	// Credentials, when given, must be right.
	o, c := clientOpts(b.Addr(), "kiosk-1", "kiosk-1", "wrong")
	if _, err := dial(t, o, c); err == nil {
		t.Error("wrong password accepted on loopback")
	}
	mustDial(t, b, "win-8", "win-8", "w8-secret")
}

func TestAnonymousOnlyBroker(t *testing.T) {
	b := startBroker(t, func(o *broker.Options) {
		o.Users, o.Check, o.AllowAnonymousLoopback = nil, nil, true
	})
	c := mustDial(t, b, "anyone", "", "")
	if got := c.subscribe(t, wire.HallFilter(hall)); got != 1 {
		t.Errorf("subscribe: %#x", got)
	}
}

func TestAnonymousRefusedWithoutLoopbackMode(t *testing.T) {
	b := startBroker(t, nil)
	o, c := clientOpts(b.Addr(), "anyone", "", "")
	if _, err := dial(t, o, c); err == nil {
		t.Fatal("anonymous client connected")
	}
}

func TestAddrInUse(t *testing.T) {
	a := startBroker(t, nil)
	b, err := broker.New(broker.Options{Addr: a.Addr(), Hall: hall, AllowAnonymousLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Start(context.Background())
	if !errors.Is(err, broker.ErrAddrInUse) || !strings.Contains(err.Error(), a.Addr()) {
		t.Fatalf("Start on a taken address: %v, want ErrAddrInUse naming %s", err, a.Addr())
	}
}

func TestLifecycle(t *testing.T) {
	b, err := broker.New(broker.Options{Addr: "127.0.0.1:0", Hall: hall, AllowAnonymousLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	if b.Addr() != "127.0.0.1:0" {
		t.Errorf("Addr before Start = %q", b.Addr())
	}
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(b.Addr(), ":0") {
		t.Errorf("Addr after Start = %q, want the real port", b.Addr())
	}
	if err := b.Start(ctx); !errors.Is(err, broker.ErrStarted) {
		t.Errorf("second Start: %v", err)
	}
	addr := b.Addr()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := b.Start(ctx); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	// The port is free again.
	b2, _ := broker.New(broker.Options{Addr: addr, Hall: hall, AllowAnonymousLoopback: true})
	if err := b2.Start(ctx); err != nil {
		t.Errorf("restart on %s: %v", addr, err)
	}
	b2.Close()

	// Close before Start, and Run until ctx ends.
	b3, _ := broker.New(broker.Options{Addr: "127.0.0.1:0", Hall: hall, AllowAnonymousLoopback: true})
	b3.Close()
	b4, _ := broker.New(broker.Options{Addr: "127.0.0.1:0", Hall: hall, AllowAnonymousLoopback: true})
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = b4.Run(rctx) })
	cancel()
	wg.Wait()
	if runErr != nil {
		t.Errorf("Run: %v", runErr)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	ok := func(string, string) bool { return true }
	cases := []struct {
		name string
		opts broker.Options
		want string
	}{
		{"no hall", broker.Options{AllowAnonymousLoopback: true}, "hall"},
		{"bad hall", broker.Options{Hall: "Bad/Hall", AllowAnonymousLoopback: true}, "hall"},
		{"nobody can connect", broker.Options{Hall: hall}, "nobody"},
		{"bad username", broker.Options{Hall: hall, Check: ok, Users: []broker.User{{Username: "a/b"}}}, "username"},
		{"duplicate user", broker.Options{Hall: hall, Check: ok, Users: []broker.User{{Username: "a"}, {Username: "a"}}}, "twice"},
		{"hash without verifier", broker.Options{Hall: hall, Users: []broker.User{{Username: "a", PasswordHash: []byte("$2a$10$x")}}}, "VerifyHash"},
		{"no password no check", broker.Options{Hall: hall, VerifyHash: func(_, _ []byte) error { return nil }, Users: []broker.User{{Username: "a"}}}, "no password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := broker.New(tc.opts)
			if !errors.Is(err, broker.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
}

func TestVerifyHash(t *testing.T) {
	// A stand-in for bcrypt.CompareHashAndPassword.
	verify := func(hash, pw []byte) error {
		if string(hash) == "hash:"+string(pw) {
			return nil
		}
		return errors.New("mismatch")
	}
	b := startBroker(t, func(o *broker.Options) {
		o.Check = nil
		o.VerifyHash = verify
		o.Users = []broker.User{
			{Username: "kiosk-1", PasswordHash: []byte("hash:pw")},
			{Username: ctl, Controller: true, Password: "random-at-start"},
		}
	})
	mustDial(t, b, "kiosk-1", "kiosk-1", "pw")
	mustDial(t, b, ctl, ctl, "random-at-start")
	o, c := clientOpts(b.Addr(), ctl, ctl, "random-at-star")
	if _, err := dial(t, o, c); err == nil {
		t.Error("wrong plaintext password accepted")
	}
	o, c = clientOpts(b.Addr(), "kiosk-1", "kiosk-1", "hash:pw")
	if _, err := dial(t, o, c); err == nil {
		t.Error("the hash itself was accepted as the password")
	}
}

func TestCollector(t *testing.T) {
	b := startBroker(t, nil)
	mustDial(t, b, "kiosk-1", "kiosk-1", "k1-secret")
	o, c := clientOpts(b.Addr(), "kiosk-1", "kiosk-1", "bad")
	dial(t, o, c)
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += fmt.Sprintf("{%s=%s}", l.GetName(), l.GetValue())
			}
			if m.Counter != nil {
				got[key] = m.Counter.GetValue()
			} else {
				got[key] = m.Gauge.GetValue()
			}
		}
	}
	want := map[string]float64{
		"servicehall_mqtt_rejected_total{reason=auth_failed}": 1,
		"servicehall_mqtt_rejected_total{reason=acl_denied}":  0,
		"servicehall_mqtt_clients":                            1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// signals reports broker events so tests can wait for them instead of
// sleeping.
type signals struct {
	mqtt.HookBase
	disconnected chan string // client ids
	published    chan string // topics, after delivery to subscribers
}

func (h *signals) ID() string { return "test-signals" }
func (h *signals) Provides(b byte) bool {
	return b == mqtt.OnDisconnect || b == mqtt.OnPublished
}
func (h *signals) OnDisconnect(cl *mqtt.Client, _ error, _ bool) { send(h.disconnected, cl.ID) }
func (h *signals) OnPublished(_ *mqtt.Client, pk packets.Packet) { send(h.published, pk.TopicName) }

func send(ch chan string, s string) {
	select {
	case ch <- s:
	default: // nobody waiting for this one
	}
}

func observe(t *testing.T, b *broker.Broker) *signals {
	t.Helper()
	sig := &signals{disconnected: make(chan string, 64), published: make(chan string, 64)}
	if err := broker.AddHookForTest(b, sig); err != nil {
		t.Fatal(err)
	}
	return sig
}

func wait(t *testing.T, ch chan string, want string) {
	t.Helper()
	for {
		select {
		case got := <-ch:
			if got == want {
				return
			}
		case <-time.After(guard):
			t.Fatalf("no %s", want)
		}
	}
}

// Commands published while an agent with a persistent session is away are
// delivered when it comes back: the ACL still knows the offline session.
func TestPersistentSessionQueuesCommands(t *testing.T) {
	b := startBroker(t, nil)
	sig := observe(t, b)
	o, wc := clientOpts(b.Addr(), "win-8", "win-8", "w8-secret")
	o.SetCleanSession(false)
	w, err := dial(t, o, wc)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.subscribe(t, wire.AgentCommandFilter(hall, "win-8")); got != 1 {
		t.Fatalf("subscribe: %#x", got)
	}
	w.Disconnect(0)
	wait(t, sig.disconnected, "win-8")

	c := mustDial(t, b, ctl, ctl, "ctl-secret")
	cmd := wire.Command(hall, "win-8", "spk-east", "speak")
	if err := c.publish(t, cmd, false, "while away"); err != nil {
		t.Fatal(err)
	}
	wait(t, sig.published, cmd)

	o, wc = clientOpts(b.Addr(), "win-8", "win-8", "w8-secret")
	o.SetCleanSession(false)
	w, err = dial(t, o, wc)
	if err != nil {
		t.Fatal(err)
	}
	if m := w.next(t); m.Topic() != cmd || string(m.Payload()) != "while away" {
		t.Errorf("got %s %q", m.Topic(), m.Payload())
	}
	if s := b.Stats(); s.ACLDenied != 0 {
		t.Errorf("ACLDenied = %d", s.ACLDenied)
	}
}
