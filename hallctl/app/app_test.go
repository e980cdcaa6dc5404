package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/wire"
)

const testHall = `hall: {id: t-hall, name: 测试大厅, hours: {open: "00:00", close: "24:00"}}
departments: [{code: HR, name: 人社}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}
windows:
  - {number: 1, dept: HR, serves: ["*"], zone: east}
  - {number: 2, dept: HR, serves: ["*"], zone: west}
server: {demo: true} # the test agents connect anonymously over loopback
agents:
  - {id: kiosk-1, kiosk: true}
  - {id: third-party, kiosk: true}
  - {id: speakers, zones: [east, west]}
  - {id: window-1, windows: [1]}
  - {id: window-2, windows: [2]}
`

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte(testHall))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startApp runs hallctl with its embedded broker on random ports.
func startApp(t *testing.T, dir string) (*App, func()) {
	t.Helper()
	a, done, cancel := runApp(t, dir)
	return a, func() {
		cancel()
		<-done
		a.Close()
	}
}

// device is a third-party device agent played by a plain paho client.
type device struct {
	t     *testing.T
	c     mqtt.Client
	hall  string
	agent string
	cmds  chan cmdSeen
	docs  chan wire.DesiredMsg
	ackAs string
	seq   uint64
	mu    sync.Mutex
	// now stamps its events (the controller's clock; default time.Now):
	// events far from the controller's clock are refused.
	now func() time.Time
}

type cmdSeen struct {
	Device, Name string
	Msg          wire.CommandMsg
}

func newDevice(t *testing.T, brokerURL, hall, agent string, devs []wire.DeviceInfo) *device {
	t.Helper()
	d := &device{t: t, hall: hall, agent: agent, cmds: make(chan cmdSeen, 1000), docs: make(chan wire.DesiredMsg, 100), ackAs: wire.AckDone}
	o := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(agent).SetCleanSession(true).
		SetWill(wire.AgentStatus(hall, agent), wire.Offline, 1, true)
	d.c = mqtt.NewClient(o)
	if tok := d.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("device connect: %v", tok.Error())
	}
	t.Cleanup(func() { d.c.Disconnect(10) })
	sub := d.c.Subscribe(wire.AgentCommandFilter(hall, agent), 1, func(_ mqtt.Client, m mqtt.Message) {
		tp, err := wire.ParseTopic(m.Topic(), hall)
		if err != nil {
			t.Errorf("command topic: %v", err)
			return
		}
		cm, err := wire.DecodeCommand(m.Payload())
		if err != nil {
			t.Errorf("command payload: %v", err)
			return
		}
		d.cmds <- cmdSeen{Device: tp.Device, Name: tp.Name, Msg: cm}
		d.mu.Lock()
		status := d.ackAs
		d.mu.Unlock()
		if status != "" {
			d.c.Publish(wire.Ack(hall, agent, tp.Device), 1, false, wire.Marshal(wire.AckMsg{ID: cm.ID, Status: status}))
		}
	})
	sub.WaitTimeout(5 * time.Second)
	d.c.Subscribe(wire.AgentDesiredFilter(hall, agent), 1, func(_ mqtt.Client, m mqtt.Message) {
		doc, err := wire.DecodeDesired(m.Payload())
		if err != nil {
			t.Errorf("desired: %v", err)
			return
		}
		d.docs <- doc
	}).WaitTimeout(5 * time.Second)
	info := wire.InfoMsg{V: wire.Version, Agent: agent, Version: "test", BootID: wire.NewID(time.Now()), Session: "s1", Devices: devs}
	d.c.Publish(wire.AgentInfo(hall, agent), 1, true, wire.Marshal(info)).WaitTimeout(5 * time.Second)
	d.c.Publish(wire.AgentStatus(hall, agent), 1, true, wire.Online).WaitTimeout(5 * time.Second)
	return d
}

func (d *device) emit(dev, typ string, data any) string {
	d.mu.Lock()
	d.seq++
	now := time.Now
	if d.now != nil {
		now = d.now
	}
	ev := wire.NewEvent(now(), "s1", d.seq, data)
	d.mu.Unlock()
	d.publishEvent(dev, typ, ev)
	return ev.ID
}

func (d *device) publishEvent(dev, typ string, ev wire.EventMsg) {
	tok := d.c.Publish(wire.Event(d.hall, d.agent, dev, typ), 1, false, wire.Marshal(ev))
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		d.t.Fatalf("publish event: %v", tok.Error())
	}
}

func (d *device) nextCmd(t *testing.T) cmdSeen {
	t.Helper()
	select {
	case c := <-d.cmds:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no command arrived")
	}
	return cmdSeen{}
}

// waitRegistered waits until the controller's registry lists the agent's devices.
func waitRegistered(t *testing.T, a *App, agent string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Controller.Bus().WaitAgent(ctx, agent, n); err != nil {
		t.Fatal(err)
	}
}

func kioskDevices() []wire.DeviceInfo {
	return []wire.DeviceInfo{
		{ID: "printer-1", Kind: wire.KindPrinter},
		{ID: "btn-1", Kind: wire.KindButton, Item: "HR-001", Printer: "printer-1"},
	}
}

func TestPressPrintsTicket(t *testing.T) {
	a, stop := startApp(t, t.TempDir())
	defer stop()
	k := newDevice(t, a.BrokerURL(), "t-hall", "kiosk-1", kioskDevices())
	waitRegistered(t, a, "kiosk-1", 2)

	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	c := k.nextCmd(t)
	if c.Device != "printer-1" || c.Name != wire.CmdPrint {
		t.Fatalf("got %s/%s, want printer-1/print", c.Device, c.Name)
	}
	var p wire.Print
	if err := wire.DecodeArgs(c.Msg.Args, &p); err != nil {
		t.Fatal(err)
	}
	if p.Fields.Number != "A001" || p.Fields.Item != "社保卡" || p.Fields.Hall != "测试大厅" {
		t.Errorf("print fields: %+v", p.Fields)
	}
	if c.Msg.Exp.IsZero() || !c.Msg.Exp.After(c.Msg.TS.Time) {
		t.Errorf("command has no expiry: %+v", c.Msg)
	}
	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	if c := k.nextCmd(t); !strings.Contains(string(c.Msg.Args), `"A002"`) {
		t.Errorf("second ticket: %s", c.Msg.Args)
	}
}

func TestDuplicateEventIssuesOnce(t *testing.T) {
	a, stop := startApp(t, t.TempDir())
	defer stop()
	k := newDevice(t, a.BrokerURL(), "t-hall", "kiosk-1", kioskDevices())
	waitRegistered(t, a, "kiosk-1", 2)
	ev := wire.NewEvent(time.Now(), "s1", 1, wire.Press{Item: "HR-001"})
	k.publishEvent("btn-1", wire.EvtPress, ev)
	k.publishEvent("btn-1", wire.EvtPress, ev) // QoS 1 redelivery
	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	first, second := k.nextCmd(t), k.nextCmd(t)
	if !strings.Contains(string(first.Msg.Args), `"A001"`) || !strings.Contains(string(second.Msg.Args), `"A002"`) {
		t.Fatalf("want A001 then A002, got %s / %s", first.Msg.Args, second.Msg.Args)
	}
}

func TestCallNextDrivesLEDAndSpeaker(t *testing.T) {
	a, stop := startApp(t, t.TempDir())
	defer stop()
	k := newDevice(t, a.BrokerURL(), "t-hall", "kiosk-1", kioskDevices())
	w := newDevice(t, a.BrokerURL(), "t-hall", "window-2", []wire.DeviceInfo{
		{ID: "led-2", Kind: wire.KindLED, Window: 2},
		{ID: "caller-2", Kind: wire.KindKeypad, Window: 2},
	})
	s := newDevice(t, a.BrokerURL(), "t-hall", "speakers", []wire.DeviceInfo{
		{ID: "spk-east", Kind: wire.KindSpeaker, Zone: "east"},
		{ID: "spk-west", Kind: wire.KindSpeaker, Zone: "west"},
	})
	waitRegistered(t, a, "kiosk-1", 2)
	waitRegistered(t, a, "window-2", 2)
	waitRegistered(t, a, "speakers", 2)
	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	k.nextCmd(t)
	w.emit("caller-2", wire.EvtKey, wire.Key{Action: wire.KeyCallNext})
	select {
	case doc := <-w.docs:
		if len(doc.Lines) != 2 || doc.Lines[0] != "A001" || doc.Lines[1] != "请到2号窗口" {
			t.Errorf("LED doc: %+v", doc)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LED got no desired document")
	}
	c := s.nextCmd(t)
	if c.Device != "spk-west" || c.Name != wire.CmdSpeak {
		t.Fatalf("announcement went to %s/%s, want spk-west/speak", c.Device, c.Name)
	}
	var sp wire.Speak
	_ = json.Unmarshal(c.Msg.Args, &sp)
	if sp.Text != "请A 零零一号到二号窗口办理" { // the number digit by digit, the window as a number (ctl/announce.go)
		t.Errorf("speak text %q", sp.Text)
	}
	select {
	case c := <-s.cmds:
		t.Errorf("the east speaker also announced: %+v", c)
	default:
	}
}

func TestMalformedMessagesAreCounted(t *testing.T) {
	a, stop := startApp(t, t.TempDir())
	defer stop()
	k := newDevice(t, a.BrokerURL(), "t-hall", "kiosk-1", kioskDevices())
	waitRegistered(t, a, "kiosk-1", 2)
	pub := func(topic string, payload []byte) {
		k.c.Publish(topic, 1, false, payload).WaitTimeout(5 * time.Second)
	}
	evt := wire.Event("t-hall", "kiosk-1", "btn-1", wire.EvtPress)
	pub(evt, []byte(`{not json`))
	pub(evt, []byte(`{"v":9,"id":"0190a0b0-0000-7000-8000-000000000001","ts":"2026-11-21T09:00:00Z","data":{}}`))
	pub(evt, []byte(`{"v":1,"ts":"2026-11-21T09:00:00Z","data":{"item":"HR-001"}}`))
	pub(evt, []byte(`{"v":1,"id":"`+wire.NewID(time.Now())+`","ts":"`+time.Now().UTC().Format(wire.TimeFormat)+`","data":{"item":"NOPE"}}`))
	pub(evt, append([]byte(`{"v":1,"pad":"`), append([]byte(strings.Repeat("x", wire.MaxPayload)), []byte(`"}`)...)...))
	pub("hall/v1/t-hall/agent/kiosk-1/dev/btn-1/evt/press/extra", []byte(`{}`))
	// A good press after the garbage still works: nothing crashed.
	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	if c := k.nextCmd(t); !strings.Contains(string(c.Msg.Args), `"A001"`) {
		t.Fatalf("after garbage: %s", c.Msg.Args)
	}
	body := get(t, "http://"+a.HTTPAddr()+"/metrics")
	for _, want := range []string{
		`hallctl_rejected_messages_total{kind="event",reason="malformed"} 1`,
		`hallctl_rejected_messages_total{kind="event",reason="unknown_version"} 1`,
		`hallctl_rejected_messages_total{kind="event",reason="missing_id"} 1`,
		`hallctl_rejected_messages_total{kind="event",reason="handler"} 1`,
		`hallctl_rejected_messages_total{kind="event",reason="oversize"} 1`,
		`hallctl_rejected_messages_total{kind="topic",reason="bad_topic"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestHealthz(t *testing.T) {
	a, stop := startApp(t, t.TempDir())
	defer stop()
	body := get(t, "http://"+a.HTTPAddr()+"/healthz")
	if !strings.Contains(body, `"broker_connected":true`) {
		t.Errorf("healthz: %s", body)
	}
}

func TestPendingCommandSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	a, stop := startApp(t, dir)
	k := newDevice(t, a.BrokerURL(), "t-hall", "kiosk-1", kioskDevices())
	k.mu.Lock()
	k.ackAs = "" // the printer never answers: the command stays in flight
	k.mu.Unlock()
	waitRegistered(t, a, "kiosk-1", 2)
	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	first := k.nextCmd(t)
	stop()

	a2, stop2 := startApp(t, dir)
	defer stop2()
	k2 := newDevice(t, a2.BrokerURL(), "t-hall", "kiosk-1", kioskDevices())
	c := k2.nextCmd(t)
	if c.Msg.ID != first.Msg.ID {
		t.Fatalf("after restart got command %s, want the in-flight %s re-sent", c.Msg.ID, first.Msg.ID)
	}
	// A new press after the restart continues the numbering (state rebuilt).
	waitRegistered(t, a2, "kiosk-1", 2)
	k2.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	for {
		c := k2.nextCmd(t)
		if c.Msg.ID == first.Msg.ID {
			continue // a retry of the old one
		}
		if !strings.Contains(string(c.Msg.Args), `"A002"`) {
			t.Fatalf("numbering after restart: %s", c.Msg.Args)
		}
		break
	}
}

func TestTakenPortNamesVariable(t *testing.T) {
	a, stop := startApp(t, t.TempDir())
	defer stop()
	_, err := Start(context.Background(), Options{Config: testConfig(t), Logger: quietLogger(), MQTTAddr: a.MQTTAddr(), HTTPAddr: "127.0.0.1:0", StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "MQTT_ADDR") {
		t.Errorf("taken MQTT port: %v", err)
	}
	_, err = Start(context.Background(), Options{Config: testConfig(t), Logger: quietLogger(), MQTTAddr: "127.0.0.1:0", HTTPAddr: a.HTTPAddr(), StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "HTTP_ADDR") {
		t.Errorf("taken HTTP port: %v", err)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

var _ = os.Getenv
var _ = filepath.Join
