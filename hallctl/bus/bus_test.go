package bus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jonboulle/clockwork"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/servicehall/servicehall/wire"
)

func startMochi(t *testing.T) string {
	t.Helper()
	s := mochi.New(&mochi.Options{InlineClient: false, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := s.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "tcp://" + l.Address()
}

func connect(t *testing.T, url, id string, onConnect mqtt.OnConnectHandler) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetAutoAckDisabled(true)
	if onConnect != nil {
		o.SetOnConnectHandler(onConnect)
	}
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(10) })
	return c
}

type recorder struct{ ch chan wire.CommandMsg }

// device subscribes to one agent's commands and records them (no ack).
func device(t *testing.T, url string) *recorder {
	r := &recorder{ch: make(chan wire.CommandMsg, 100)}
	c := connect(t, url, "dev", nil)
	c.Subscribe(wire.AgentCommandFilter("h", "a"), 1, func(_ mqtt.Client, m mqtt.Message) {
		cm, err := wire.DecodeCommand(m.Payload())
		if err == nil {
			r.ch <- cm
		}
	}).WaitTimeout(5 * time.Second)
	return r
}

func (r *recorder) next(t *testing.T) wire.CommandMsg {
	t.Helper()
	select {
	case c := <-r.ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no command")
	}
	return wire.CommandMsg{}
}

// memUnits is an in-memory Batcher and Pending for the bus's own tests.
type memUnits struct {
	mu sync.Mutex
	kv map[string][]byte
}

type memTx struct {
	puts  map[string][]byte
	dels  []string
	after []func()
}

func (t *memTx) Put(bucket, key string, val []byte) { t.puts[bucket+"/"+key] = val }
func (t *memTx) Delete(bucket, key string)          { t.dels = append(t.dels, bucket+"/"+key) }
func (t *memTx) After(f func())                     { t.after = append(t.after, f) }

func (m *memUnits) Unit(_ context.Context, f func(Tx) error) error {
	tx := &memTx{puts: map[string][]byte{}}
	err := f(tx)
	m.mu.Lock()
	for k, v := range tx.puts {
		m.kv[k] = v
	}
	for _, k := range tx.dels {
		delete(m.kv, k)
	}
	m.mu.Unlock()
	for _, a := range tx.after {
		a()
	}
	return err
}

func (m *memUnits) ListPending(context.Context) ([]PendingCommand, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []PendingCommand
	for _, v := range m.kv {
		pc, err := UnmarshalPending(v)
		if err != nil {
			return nil, err
		}
		out = append(out, pc)
	}
	return out, nil
}

func dispatch(b *Bus, agent, dev, name string, args any, ttl time.Duration) (Ticket, error) {
	var tk Ticket
	err := b.o.Batcher.Unit(context.Background(), func(tx Tx) error {
		var err error
		tk, err = b.Dispatch(tx, agent, dev, name, args, ttl)
		return err
	})
	return tk, err
}

func newBus(t *testing.T, url string, clock clockwork.Clock) (*Bus, context.CancelFunc) {
	t.Helper()
	units := &memUnits{kv: map[string][]byte{}}
	b := New(Options{Hall: "h", Clock: clock, RetryEvery: 3 * time.Second, MaxAttempts: 3, Batcher: units, Pending: units,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	subscribed := make(chan struct{})
	c := connect(t, url, "ctl", func(c mqtt.Client) {
		b.ConnectHandler()(c)
		close(subscribed)
	})
	b.Attach(c)
	<-subscribed
	<-b.Subscribed()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return b, cancel
}

func TestRetriesSameIDThenGivesUp(t *testing.T) {
	url := startMochi(t)
	rec := device(t, url)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	b, _ := newBus(t, url, clock)
	tk, err := dispatch(b, "a", "printer-1", wire.CmdPrint, wire.Print{Template: "ticket", Fields: wire.PrintFields{Number: "A001"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	first := rec.next(t)
	for i := 2; i <= 3; i++ {
		// The retry ticker fires every RetryEvery/3; advance past the next
		// due time in ticker-sized steps.
		for j := 0; j < 3; j++ {
			clock.BlockUntilContext(context.Background(), 1)
			clock.Advance(time.Second)
		}
		again := rec.next(t)
		if again.ID != first.ID {
			t.Fatalf("retry %d has id %s, want the same %s", i, again.ID, first.ID)
		}
	}
	for j := 0; j < 3; j++ {
		clock.BlockUntilContext(context.Background(), 1)
		clock.Advance(time.Second)
	}
	if _, err := b.Wait(context.Background(), tk); !errors.Is(err, ErrNoAck) {
		t.Fatalf("after %d attempts: %v, want ErrNoAck", 3, err)
	}
	select {
	case c := <-rec.ch:
		t.Fatalf("a 4th attempt was sent: %s", c.ID)
	default:
	}
	if pcs, _ := b.o.Pending.ListPending(context.Background()); len(pcs) != 0 {
		// The delete is queued for the Run loop; give it its turn.
		deadline := time.Now().Add(5 * time.Second)
		for len(pcs) != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // waiting on the Run goroutine of a live bus
			pcs, _ = b.o.Pending.ListPending(context.Background())
		}
		if len(pcs) != 0 {
			t.Fatalf("%d pending commands left", len(pcs))
		}
	}
}

func TestExpiredCommandNotResent(t *testing.T) {
	url := startMochi(t)
	rec := device(t, url)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	b, _ := newBus(t, url, clock)
	tk, err := dispatch(b, "a", "spk", wire.CmdSpeak, wire.Speak{Text: "请A零零一号"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rec.next(t)
	clock.BlockUntilContext(context.Background(), 1)
	clock.Advance(2 * time.Second)
	if _, err := b.Wait(context.Background(), tk); !errors.Is(err, ErrExpired) {
		t.Fatalf("got %v, want ErrExpired", err)
	}
}

func TestAckCompletesAndRegistryFollowsInfo(t *testing.T) {
	url := startMochi(t)
	clock := clockwork.NewRealClock()
	b, _ := newBus(t, url, clock)
	dev := connect(t, url, "a", nil)
	dev.Subscribe(wire.AgentCommandFilter("h", "a"), 1, func(c mqtt.Client, m mqtt.Message) {
		cm, _ := wire.DecodeCommand(m.Payload())
		c.Publish(wire.Ack("h", "a", "printer-1"), 1, false, wire.Marshal(wire.AckMsg{ID: cm.ID, Status: wire.AckFailed, Code: "paper_out"}))
		m.Ack()
	}).WaitTimeout(5 * time.Second)
	info := wire.InfoMsg{V: 1, Agent: "a", Devices: []wire.DeviceInfo{{ID: "printer-1", Kind: wire.KindPrinter}, {ID: "btn-1", Kind: wire.KindButton, Printer: "printer-1"}}}
	dev.Publish(wire.AgentInfo("h", "a"), 1, true, wire.Marshal(info)).WaitTimeout(5 * time.Second)
	dev.Publish(wire.DevStatus("h", "a", "printer-1"), 1, true, `{"state":"fault","code":"paper_out"}`).WaitTimeout(5 * time.Second)
	deadline := time.After(5 * time.Second)
	for {
		changed := b.Changed()
		ts := b.Find(func(_ string, d wire.DeviceInfo) bool { return d.Kind == wire.KindPrinter })
		if len(ts) == 1 && ts[0].Status.Code == "paper_out" {
			break
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("registry: %+v", ts)
		}
	}
	ack, err := b.Send(context.Background(), "a", "printer-1", wire.CmdPrint, wire.Print{Template: "ticket", Fields: wire.PrintFields{Number: "A001"}}, time.Minute)
	if err != nil || ack.Status != wire.AckFailed || ack.Code != "paper_out" {
		t.Fatalf("ack %+v err %v", ack, err)
	}
}
