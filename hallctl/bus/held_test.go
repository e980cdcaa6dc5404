package bus

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/wire"
)

type handlerFunc func(ctx context.Context, tx Tx, ev Event) error

func (f handlerFunc) HandleEvent(ctx context.Context, tx Tx, ev Event) error { return f(ctx, tx, ev) }

// An event from a device the registry does not know yet (a restarted
// controller meets queued events before the agents' retained info) waits,
// unacknowledged, and is handled once the agent's info arrives; a device
// known from Load is handled at once.
func TestEventWaitsForItsDevice(t *testing.T) {
	url := startMochi(t)
	got := make(chan Event, 10)
	units := &memUnits{kv: map[string][]byte{}}
	b := New(Options{Hall: "h", Clock: clockwork.NewRealClock(), Batcher: units, Pending: units,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: handlerFunc(func(_ context.Context, _ Tx, ev Event) error { got <- ev; return nil })})
	b.Load(wire.InfoMsg{Agent: "known", Devices: []wire.DeviceInfo{{ID: "btn-1", Kind: wire.KindButton, Item: "X"}}})
	subscribed := make(chan struct{})
	c := connect(t, url, "ctl", func(c mqtt.Client) { b.ConnectHandler()(c); close(subscribed) })
	b.Attach(c)
	<-subscribed
	<-b.Subscribed()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	dev := connect(t, url, "dev", nil)
	press := func(agent string) string {
		ev := wire.NewEvent(time.Now(), "s", 1, wire.Press{Item: "X"})
		dev.Publish(wire.Event("h", agent, "btn-1", wire.EvtPress), 1, false, wire.Marshal(ev)).WaitTimeout(5 * time.Second)
		return ev.ID
	}
	id := press("known")
	if ev := <-got; ev.Msg.ID != id || ev.Device.Item != "X" {
		t.Fatalf("known device: %+v", ev)
	}
	late := press("late")
	deadline := time.After(5 * time.Second)
	for b.Held() != 1 {
		select {
		case ev := <-got:
			t.Fatalf("event of an unknown device handled: %+v", ev)
		case <-b.Changed():
		case <-deadline:
			t.Fatalf("held %d, want 1", b.Held())
		case <-time.After(10 * time.Millisecond): // Held has no signal of its own
		}
	}
	info := wire.InfoMsg{V: 1, Agent: "late", Devices: []wire.DeviceInfo{{ID: "btn-1", Kind: wire.KindButton, Item: "X"}}}
	dev.Publish(wire.AgentInfo("h", "late"), 1, true, wire.Marshal(info)).WaitTimeout(5 * time.Second)
	select {
	case ev := <-got:
		if ev.Msg.ID != late || ev.Agent != "late" || ev.Device.Kind != wire.KindButton {
			t.Fatalf("released event: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held event not handled after the agent's info")
	}
	if b.Held() != 0 {
		t.Fatalf("%d still held", b.Held())
	}
}

// An event whose device never announces itself is refused after HoldFor
// (and acknowledged: it must not occupy the broker's in-flight window).
func TestHeldEventExpires(t *testing.T) {
	url := startMochi(t)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	units := &memUnits{kv: map[string][]byte{}}
	handled := make(chan Event, 1)
	b := New(Options{Hall: "h", Clock: clock, Batcher: units, Pending: units, RetryEvery: 3 * time.Second, HoldFor: 30 * time.Second,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: handlerFunc(func(_ context.Context, _ Tx, ev Event) error { handled <- ev; return nil })})
	subscribed := make(chan struct{})
	c := connect(t, url, "ctl", func(c mqtt.Client) { b.ConnectHandler()(c); close(subscribed) })
	b.Attach(c)
	<-subscribed
	<-b.Subscribed()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	dev := connect(t, url, "dev", nil)
	ev := wire.NewEvent(clock.Now(), "s", 1, wire.Press{Item: "X"})
	dev.Publish(wire.Event("h", "ghost", "btn-1", wire.EvtPress), 1, false, wire.Marshal(ev)).WaitTimeout(5 * time.Second)
	for b.Held() != 1 {
		select {
		case <-b.Changed():
		case <-time.After(10 * time.Millisecond): // Held has no signal of its own
		}
	}
	for i := 0; i < 31 && b.Held() == 1; i++ {
		clock.BlockUntilContext(ctx, 1)
		clock.Advance(time.Second)
	}
	deadline := time.After(5 * time.Second)
	for b.Held() != 0 {
		select {
		case <-deadline:
			t.Fatal("the event is still held after HoldFor")
		case <-time.After(10 * time.Millisecond):
		}
	}
	select {
	case ev := <-handled:
		t.Fatalf("an unknown device's event was handled: %+v", ev)
	default:
	}
}
