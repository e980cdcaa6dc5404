package web_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/wire"
)

// rejections sums hallctl_rejected_messages_total, and the series whose
// reason is reason.
func rejections(t testing.TB, h *hall, reason string) (total, of float64) {
	t.Helper()
	mfs, err := h.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hallctl_rejected_messages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue()
			total += v
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					of += v
				}
			}
		}
	}
	return total, of
}

// FuzzDeviceMessages publishes arbitrary payloads on every MQTT topic kind
// of the contract (and on arbitrary topics) through the real broker, as an
// enrolled agent would (issue 10, "a fuzz run over every MQTT topic
// kind"): the controller never fails, and a message it refuses leaves the
// event log as it was. After each message a barrier (an event without an
// id, always refused as missing_id) tells when the controller has dealt
// with it: MQTT keeps one publisher's order, and the controller handles a
// client's messages in that order.
func FuzzDeviceMessages(f *testing.F) {
	h := startHall(f)
	const agent = "fz-kiosk"
	d := newDevice(f, h, agent, []wire.DeviceInfo{
		{ID: "printer-1", Kind: "escpos-printer"},
		{ID: "btn-1", Kind: "ticket-button", Item: "HR-001", Printer: "printer-1"},
		{ID: "caller-1", Kind: "caller-keypad", Window: 1},
		{ID: "pad-1", Kind: "rating-pad", Window: 1},
		{ID: "reader-1", Kind: "idcard-reader"},
		{ID: "scan-1", Kind: "qr-scanner"},
	})
	kinds := []string{"status", "info", "dev-status", "event", "ack", "reported", "desired", "cmd", "raw"}
	ev := func(data string) []byte {
		return wire.Marshal(wire.EventMsg{V: 1, ID: wire.NewID(time.Now()), TS: wire.Time{Time: time.Now().UTC()}, Session: "s1", Seq: 1, Data: []byte(data)})
	}
	for i := range kinds {
		f.Add(uint8(i), "btn-1", "press", []byte(`{}`), false)
		f.Add(uint8(i), "caller-1", "key", ev(`{"action":"call-next"}`), false)
		f.Add(uint8(i), "pad-1", "rating", ev(`{"session":"x","level":5}`), true)
		f.Add(uint8(i), "reader-1", "card", ev(`{"id_hash":"ab","masked_id":"110105********002X","masked_name":"张*","birth_year":1950}`), false)
		f.Add(uint8(i), "scan-1", "scan", ev(`{"code":"A001"}`), false)
		f.Add(uint8(i), "../x", "#", []byte("\x00\xff"), true)
	}
	f.Add(uint8(1), "", "", wire.Marshal(wire.InfoMsg{V: 1, Agent: agent, Session: "s2", Devices: []wire.DeviceInfo{{ID: "caller-2", Kind: "caller-keypad", Window: 2}}}), true)
	ctx := context.Background()
	barrierTopic := wire.Event(d.hall, agent, "btn-1", "press")
	barrier := []byte(`{"v":1,"ts":"2026-01-01T00:00:00Z","session":"s1","seq":1,"data":{}}`)
	f.Fuzz(func(t *testing.T, kind uint8, dev, typ string, payload []byte, retained bool) {
		var topic string
		switch kinds[int(kind)%len(kinds)] {
		case "status":
			topic = wire.AgentStatus(d.hall, agent)
		case "info":
			topic = wire.AgentInfo(d.hall, agent)
		case "dev-status":
			topic = wire.DevStatus(d.hall, agent, dev)
		case "event":
			topic = wire.Event(d.hall, agent, dev, typ)
		case "ack":
			topic = wire.Ack(d.hall, agent, dev)
		case "reported":
			topic = wire.Reported(d.hall, agent, dev)
		case "desired":
			topic = wire.Desired(d.hall, agent, dev)
		case "cmd":
			topic = wire.Command(d.hall, agent, dev, typ)
		default: // any topic in the agent's own subtree (outside it, the broker's ACL answers)
			topic = strings.TrimSuffix(wire.AgentFilter(d.hall, agent), "#") + dev + "/" + typ
		}
		// The broker answers a protocol violation (wildcards or NUL in a
		// topic name, bad UTF-8, an oversize packet) by closing the
		// connection: hallctl/broker's tests cover that; here the
		// controller's side is fuzzed.
		if topic == "" || len(topic) > 1000 || len(payload) > 60<<10 || strings.ContainsAny(topic, "#+\x00") || !utf8.ValidString(topic) {
			return
		}
		seq, err := h.Store.LastSeq(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		before, barriers := rejections(t, h, "missing_id")
		publish(t, d.c, topic, payload, retained)
		publish(t, d.c, barrierTopic, barrier, false)
		if !d.c.IsConnectionOpen() {
			t.Fatalf("the broker closed the connection after %q on %q", payload, topic)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, b := rejections(t, h, "missing_id")
			if b > barriers {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the controller did not handle the barrier after %q on %q", payload, topic)
			}
			time.Sleep(time.Millisecond) // waiting for a condition, not for time
		}
		after, _ := rejections(t, h, "missing_id")
		if after-before > 1 { // the fuzz message itself was refused
			if now, _ := h.Store.LastSeq(ctx, ""); now != seq {
				t.Fatalf("refused %q on %q moved the log from %d to %d", payload, topic, seq, now)
			}
		}
		if err := h.Controller.Err(); err != nil {
			t.Fatalf("controller failed after %q on %q: %v", payload, topic, err)
		}
		if retained { // leave no retained junk behind for the next input
			publish(t, d.c, topic, nil, true)
		}
	})
}

func publish(t *testing.T, c mqtt.Client, topic string, payload []byte, retained bool) {
	t.Helper()
	tok := c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		// The broker refuses some topics (wildcards, the wrong subtree) by
		// closing the connection; paho reconnects.
		t.Logf("publish %q: %v", topic, tok.Error())
	}
}
