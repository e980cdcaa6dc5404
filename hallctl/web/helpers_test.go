package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/hallctl/app"
	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/web"
	"github.com/servicehall/servicehall/wire"
)

// The test hall: two departments; window 3 is closed and may become a
// no-difference window (the rebalance story).
const testHall = `hall: {id: t-hall, name: 市民服务中心, hours: {open: "00:00", close: "24:00"}}
departments:
  - {code: HR, name: 人力资源和社会保障局}
  - {code: MKT, name: 市场监督管理局}
items:
  - code: HR-001
    name: 社会保障卡申领
    dept: HR
    prefix: A
    service_s: 240
    guide: {conditions: 本市参保人员, materials: [居民身份证原件, 近期一寸照片], fee: 免费, location: 一楼东区 1-2 号窗口}
  - {code: HR-002, name: 就业失业登记, dept: HR, prefix: B, service_s: 300, guide: {conditions: 失业人员, materials: [身份证], fee: 免费, location: 一楼东区}}
  - code: MKT-001
    name: 个体工商户设立登记
    dept: MKT
    prefix: C
    kind: promised
    promise_days: 3
    service_s: 600
    guide: {conditions: 经营者本人办理, materials: [身份证, 经营场所证明], fee: 免费, location: 二楼西区 3 号窗口}
windows:
  - {number: 1, dept: HR, serves: ["dept:HR"], zone: east}
  - {number: 2, dept: MKT, serves: ["dept:MKT"], zone: west}
  - {number: 3, dept: HR, serves: ["dept:HR"], zone: east}
server: {demo: true} # the test devices connect anonymously over loopback
agents:
  - {id: kiosk-1, kiosk: true}
  - {id: speakers, zones: [east, west]}
  - {id: window-1, windows: [1]}
  - {id: window-2, windows: [2]}
  - {id: window-3, windows: [3]}
  - {id: fz-kiosk, kiosk: true, windows: [1]}
`

func testConfig(t testing.TB) *config.Config {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte(testHall))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type hall struct {
	*app.App
	base   string
	secret []byte     // the hall secret (kiosks' ID-hash key)
	keys   *auth.Keys // the token key ring
	mux    *http.ServeMux
}

// startHall runs hallctl in-process on random ports with windows 1 and 2
// open.
func startHall(t testing.TB) *hall {
	t.Helper()
	return startHallWith(t, testConfig(t))
}

// startHallWith is startHall with another config of the test hall.
func startHallWith(t testing.TB, cfg *config.Config) *hall {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	a, err := app.Start(ctx, app.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: dir, Mux: mux})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	// The hours scheduler opens every window at start (the test hall is
	// open all day); window 3 is then closed by hand for the rebalance.
	sub := a.Controller.Subscribe(64)
	defer sub.Close()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	select {
	case <-a.Controller.Connected():
	case <-time.After(10 * time.Second):
		t.Fatal("controller did not connect")
	}
	secret, err := web.LoadSecret("", dir, false)
	if err != nil {
		t.Fatal(err)
	}
	h := &hall{App: a, base: "http://" + a.HTTPAddr(), secret: secret, keys: a.Keys, mux: mux}
	opened := map[int]bool{}
	timeout := time.After(10 * time.Second)
	for len(opened) < 3 {
		select {
		case ev := <-sub.C:
			if ev.Queue != nil && ev.Queue.Type == queue.EvWindowOpened {
				opened[ev.Queue.Window] = true
			}
		case <-timeout:
			t.Fatalf("the hours scheduler opened only %v", opened)
		}
	}
	if _, err := a.Controller.Manage(context.Background(), ctl.ManagerAction{Type: "close", Window: 3}); err != nil {
		t.Fatal(err)
	}
	return h
}

// checkCode is the check code printed on the ticket of number.
func (h *hall) checkCode(t testing.TB, number string) string {
	t.Helper()
	tk, ok := h.Controller.FindTicket(number)
	if !ok {
		t.Fatalf("no ticket %s", number)
	}
	return h.Controller.TicketCode(tk.ID, tk.Number, tk.IssuedAt)
}

func (h *hall) token(t testing.TB, role string, window int) string {
	t.Helper()
	tok, err := h.keys.Sign(web.Claims{Role: role, Window: window, Subject: role + "-test", Issued: time.Now().Unix(), Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type resp struct {
	status int
	ctype  string
	body   []byte
}

func (r resp) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) problem(t testing.TB) web.Problem {
	t.Helper()
	var p web.Problem
	if r.ctype != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json (body %s)", r.ctype, r.body)
	}
	r.decode(t, &p)
	if p.Code == "" || p.MessageZH == "" || p.MessageEN == "" || p.Status != r.status {
		t.Fatalf("incomplete problem: %+v", p)
	}
	return p
}

func (h *hall) do(t testing.TB, method, path, token string, body any) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, h.base+path, rd)
	if rd != nil || (method != "GET" && method != "HEAD") {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, ctype: res.Header.Get("Content-Type"), body: b}
}

// device is an agent played by a paho client (as hallctl/app's tests do).
type device struct {
	c     mqtt.Client
	hall  string
	agent string
	docs  chan wire.DesiredMsg
	cmds  chan string
	mu    sync.Mutex
	seq   uint64
	ack   wire.AckMsg // the answer to every command (default done)
}

// answer sets how the device acks its next commands.
func (d *device) answer(status, code string) {
	d.mu.Lock()
	d.ack = wire.AckMsg{Status: status, Code: code}
	d.mu.Unlock()
}

func newDevice(t testing.TB, h *hall, agent string, devs []wire.DeviceInfo) *device {
	t.Helper()
	hallID := "t-hall"
	d := &device{hall: hallID, agent: agent, docs: make(chan wire.DesiredMsg, 100), cmds: make(chan string, 100),
		ack: wire.AckMsg{Status: wire.AckDone}}
	o := mqtt.NewClientOptions().AddBroker(h.BrokerURL()).SetClientID(agent).SetCleanSession(true)
	d.c = mqtt.NewClient(o)
	if tok := d.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("device connect: %v", tok.Error())
	}
	t.Cleanup(func() { d.c.Disconnect(10) })
	d.c.Subscribe(wire.AgentCommandFilter(hallID, agent), 1, func(_ mqtt.Client, m mqtt.Message) {
		tp, err := wire.ParseTopic(m.Topic(), hallID)
		if err != nil {
			return
		}
		cm, err := wire.DecodeCommand(m.Payload())
		if err != nil {
			return
		}
		select {
		case d.cmds <- tp.Name + " " + string(cm.Args):
		default:
		}
		d.mu.Lock()
		ack := d.ack
		d.mu.Unlock()
		ack.ID = cm.ID
		d.c.Publish(wire.Ack(hallID, agent, tp.Device), 1, false, wire.Marshal(ack))
	}).WaitTimeout(5 * time.Second)
	d.c.Subscribe(wire.AgentDesiredFilter(hallID, agent), 1, func(_ mqtt.Client, m mqtt.Message) {
		if doc, err := wire.DecodeDesired(m.Payload()); err == nil {
			d.docs <- doc
		}
	}).WaitTimeout(5 * time.Second)
	info := wire.InfoMsg{V: wire.Version, Agent: agent, Version: "test", BootID: wire.NewID(time.Now()), Session: "s1", Devices: devs}
	d.c.Publish(wire.AgentInfo(hallID, agent), 1, true, wire.Marshal(info)).WaitTimeout(5 * time.Second)
	d.c.Publish(wire.AgentStatus(hallID, agent), 1, true, wire.Online).WaitTimeout(5 * time.Second)
	waitRegistered(t, h, agent, len(devs))
	return d
}

func (d *device) emit(t testing.TB, dev, typ string, data any) {
	d.mu.Lock()
	d.seq++
	ev := wire.NewEvent(time.Now(), "s1", d.seq, data)
	d.mu.Unlock()
	tok := d.c.Publish(wire.Event(d.hall, d.agent, dev, typ), 1, false, wire.Marshal(ev))
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

func waitRegistered(t testing.TB, h *hall, agent string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Controller.Bus().WaitAgent(ctx, agent, n); err != nil {
		t.Fatal(err)
	}
}
