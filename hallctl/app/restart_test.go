package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/internal/mosquitto"
	"github.com/servicehall/servicehall/wire"
)

// With an external broker, presses made while hallctl restarts reach it
// before the agents' retained info: they must wait for the registry (kept
// durable, loaded at start), not fail and be acknowledged. Six restarts
// with five presses each: all thirty are printed, once each.
func TestPressesDuringRestartsWithExternalBroker(t *testing.T) {
	needTool(t, "mosquitto")
	ctx := context.Background()
	url, stopMosq, err := mosquitto.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer stopMosq()
	dir := t.TempDir()
	start := func() (*App, func()) {
		cctx, cancel := context.WithCancel(ctx)
		a, err := Start(cctx, Options{Config: testConfig(t), Logger: quietLogger(), BrokerURL: url, HTTPAddr: "127.0.0.1:0", StateDir: dir})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- a.Run(cctx) }()
		select {
		case <-a.Controller.Connected():
		case <-time.After(10 * time.Second):
			t.Fatal("controller did not connect")
		}
		return a, func() { cancel(); <-done; a.Close() }
	}
	a, stop := start()
	// The kiosk is a persistent agent (its own session survives, as a real
	// agent's does); it acks prints and records the numbers.
	printed := make(chan string, 100)
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("kiosk-1").SetCleanSession(false).
		SetWill(wire.AgentStatus("t-hall", "kiosk-1"), wire.Offline, 1, true)
	k := mqtt.NewClient(o)
	if tok := k.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer k.Disconnect(10)
	k.Subscribe(wire.AgentCommandFilter("t-hall", "kiosk-1"), 1, func(c mqtt.Client, m mqtt.Message) {
		cm, err := wire.DecodeCommand(m.Payload())
		if err != nil {
			return
		}
		var p wire.Print
		if json.Unmarshal(cm.Args, &p) == nil && p.Fields.Number != "" {
			printed <- p.Fields.Number + " " + cm.ID
		}
		tp, _ := wire.ParseTopic(m.Topic(), "t-hall")
		c.Publish(wire.Ack("t-hall", "kiosk-1", tp.Device), 1, false, wire.Marshal(wire.AckMsg{ID: cm.ID, Status: wire.AckDone}))
	}).WaitTimeout(5 * time.Second)
	info := wire.InfoMsg{V: wire.Version, Agent: "kiosk-1", Version: "test", BootID: wire.NewID(time.Now()), Session: "s1", Devices: kioskDevices()}
	k.Publish(wire.AgentInfo("t-hall", "kiosk-1"), 1, true, wire.Marshal(info)).WaitTimeout(5 * time.Second)
	k.Publish(wire.AgentStatus("t-hall", "kiosk-1"), 1, true, wire.Online).WaitTimeout(5 * time.Second)
	waitRegistered(t, a, "kiosk-1", 2)

	seq := uint64(0)
	press := func() {
		seq++
		ev := wire.NewEvent(time.Now(), "s1", seq, wire.Press{Item: "HR-001"})
		if tok := k.Publish(wire.Event("t-hall", "kiosk-1", "btn-1", wire.EvtPress), 1, false, wire.Marshal(ev)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("press: %v", tok.Error())
		}
	}
	const restarts, per = 6, 5
	for r := 0; r < restarts; r++ {
		stop()
		for i := 0; i < per; i++ {
			press() // the broker queues them for the controller's session
		}
		a, stop = start()
	}
	defer stop()
	// A device sees a command again when it is re-sent with the same id
	// (it answers from its ledger); a second command for one number would
	// be a second ticket on paper.
	seen := map[string]string{} // number → command id
	deadline := time.After(30 * time.Second)
	for len(seen) < restarts*per {
		select {
		case s := <-printed:
			n, id, _ := strings.Cut(s, " ")
			if prev, ok := seen[n]; ok && prev != id {
				t.Fatalf("ticket %s printed by two commands", n)
			}
			seen[n] = id
		case <-deadline:
			t.Fatalf("%d of %d presses printed: %v", len(seen), restarts*per, seen)
		}
	}
	if got := len(a.Controller.Snapshot().Waiting); got != restarts*per {
		t.Fatalf("%d tickets waiting, want %d", got, restarts*per)
	}
}
