package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/hallctl/app"
	"github.com/servicehall/servicehall/wire"
)

// device is a hall's kiosk agent (a printer and a ticket button) played
// by a paho client: it presses, timestamps the print commands it gets
// and acks them at once, so what is measured is the broker and the
// controller, not a printer.
type device struct {
	hall, agent string
	cl          mqtt.Client
	evtTopic    string

	mu   sync.Mutex
	sent map[string]time.Time // ticket number → press time
	lat  []time.Duration
	got  chan struct{}
}

// startDevice connects hall's agent to a's broker as clientID (the agent
// id on the embedded broker; unique per hall on a shared one), announces
// its devices and waits until the controller knows them. n is how many
// presses it will make.
func startDevice(ctx context.Context, a *app.App, hall, agent, clientID string, n int) (*device, error) {
	d := &device{hall: hall, agent: agent, sent: map[string]time.Time{}, lat: make([]time.Duration, 0, n), got: make(chan struct{}, n),
		evtTopic: wire.Event(hall, agent, "btn-1", wire.EvtPress)}
	opts := mqtt.NewClientOptions().AddBroker(a.BrokerURL()).SetClientID(clientID).SetCleanSession(true)
	d.cl = mqtt.NewClient(opts)
	if t := d.cl.Connect(); !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("device connect: %v", t.Error())
	}
	// The ticket number comes back in the print command; presses are
	// numbered A001… in order, so number k's press time is sent[k].
	d.cl.Subscribe(wire.AgentCommandFilter(hall, agent), 1, func(c mqtt.Client, m mqtt.Message) {
		now := time.Now()
		cm, err := wire.DecodeCommand(m.Payload())
		if err != nil {
			return
		}
		var p wire.Print
		if wire.DecodeArgs(cm.Args, &p) != nil {
			return
		}
		tp, _ := wire.ParseTopic(m.Topic(), hall)
		c.Publish(wire.Ack(hall, agent, tp.Device), 1, false, wire.Marshal(wire.AckMsg{ID: cm.ID, Status: wire.AckDone}))
		d.mu.Lock()
		if t0, ok := d.sent[p.Fields.Number]; ok {
			d.lat = append(d.lat, now.Sub(t0))
			delete(d.sent, p.Fields.Number)
			d.got <- struct{}{}
		}
		d.mu.Unlock()
	}).WaitTimeout(5 * time.Second)
	info := wire.InfoMsg{V: wire.Version, Agent: agent, Version: "load", BootID: wire.NewID(time.Now()), Session: "load",
		Devices: []wire.DeviceInfo{{ID: "printer-1", Kind: wire.KindPrinter}, {ID: "btn-1", Kind: wire.KindButton, Item: "HR-001"}}}
	d.cl.Publish(wire.AgentInfo(hall, agent), 1, true, wire.Marshal(info)).WaitTimeout(5 * time.Second)
	d.cl.Publish(wire.AgentStatus(hall, agent), 1, true, wire.Online).WaitTimeout(5 * time.Second)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := a.Controller.Bus().WaitAgent(wctx, agent, 2); err != nil {
		d.close()
		return nil, fmt.Errorf("hall %s: agent not seen: %w", hall, err)
	}
	return d, nil
}

// press sends press number i (ticket A00i of the day).
func (d *device) press(i int) {
	ev := wire.NewEvent(time.Now(), "load", uint64(i), wire.Press{Item: "HR-001"})
	d.mu.Lock()
	d.sent[fmt.Sprintf("A%03d", i)] = time.Now()
	d.mu.Unlock()
	d.cl.Publish(d.evtTopic, 1, false, wire.Marshal(ev))
}

// pressPoisson makes presses 1…n at Poisson arrivals of rate per second
// drawn from src.
func (d *device) pressPoisson(ctx context.Context, n int, rate float64, src rand.Source) error {
	rng := rand.New(src)
	next := time.Now()
	for i := 1; i <= n; i++ {
		next = next.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
		if w := time.Until(next); w > 0 {
			t := time.NewTimer(w)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		d.press(i)
	}
	return nil
}

// wait returns once n prints came back or at deadline.
func (d *device) wait(ctx context.Context, n int, deadline <-chan time.Time) {
	for received := 0; received < n; received++ {
		select {
		case <-d.got:
		case <-deadline:
			return
		case <-ctx.Done():
			return
		}
	}
}

// latencies is a copy of the round trips measured so far.
func (d *device) latencies() []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Duration(nil), d.lat...)
}

func (d *device) close() { d.cl.Disconnect(10) }
