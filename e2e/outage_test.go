package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/device/devicetest"
	"github.com/servicehall/servicehall/hallctl/app"
	"github.com/servicehall/servicehall/hallctl/broker"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/wire"
)

const hallYAML = `hall: {id: e2e-hall, name: 端到端大厅, hours: {open: "00:00", close: "24:00"}}
departments: [{code: HR, name: 人社}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}
windows:
  - {number: 1, dept: HR, serves: ["*"], zone: east}
server: {demo: true} # the test agents connect anonymously over loopback
limits: {tickets_per_client_per_min: 100000} # a hundred presses on one dispenser, by design
agents:
  - {id: kiosk-1, kiosk: true}
  - {id: window-1, windows: [1]}
  - {id: speakers, zones: [east]}
`

func quiet() *slog.Logger {
	if os.Getenv("E2E_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startBroker runs a standalone broker (so it can go away while hallctl
// and the agent keep running) on addr ("127.0.0.1:0" for a free port).
func startBroker(t *testing.T, addr string) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.Options{Addr: addr, Hall: "e2e-hall", AllowAnonymousLoopback: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

// controller runs hallctl against an external broker until stopped.
type controller struct {
	a    *app.App
	stop func()
}

// startControllerEmbedded runs hallctl with its own broker on a free port.
func startControllerEmbedded(t *testing.T, dir string) *controller {
	t.Helper()
	return startControllerOpts(t, app.Options{MQTTAddr: "127.0.0.1:0", StateDir: dir})
}

func startController(t *testing.T, brokerURL, dir string) *controller {
	t.Helper()
	return startControllerOpts(t, app.Options{BrokerURL: brokerURL, StateDir: dir})
}

func startControllerOpts(t *testing.T, o app.Options) *controller {
	t.Helper()
	cfg, err := config.Parse("e2e.yaml", []byte(hallYAML))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.Config, o.Logger, o.HTTPAddr = cfg, quiet(), "127.0.0.1:0"
	a, err := app.Start(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Controller.Connected():
	case <-time.After(15 * time.Second):
		t.Fatal("controller did not connect")
	}
	c := &controller{a: a}
	var once bool
	c.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		<-done
		a.Close()
	}
	t.Cleanup(c.stop)
	return c
}

// fakeKinds maps the real kinds onto the in-memory fakes, so the agent
// announces an escpos-printer and a ticket-button as the controller expects.
func fakeKinds(set *devicetest.Set) func(string) (device.Factory, bool) {
	return func(kind string) (device.Factory, bool) {
		switch kind {
		case wire.KindPrinter:
			return set.Lookup(devicetest.KindPrinter)
		case wire.KindButton:
			return set.Lookup(devicetest.KindButton)
		}
		return nil, false
	}
}

func startAgent(t *testing.T, brokerURL, dir string, set *devicetest.Set) func() {
	t.Helper()
	y := fmt.Sprintf(`agent: {id: kiosk-1, hall: e2e-hall, state_dir: %s}
mqtt: {url: "%s"}
devices:
  - {id: printer-1, kind: escpos-printer, port: /dev/null}
  - {id: btn-1, kind: ticket-button, pin: BTN, item: HR-001, printer: printer-1}
`, dir, brokerURL)
	cfg, err := agent.Parse([]byte(y), "kiosk-1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, cfg, agent.Opts{Log: quiet(), Lookup: fakeKinds(set),
		Kinds:        func() []string { return []string{wire.KindPrinter, wire.KindButton} },
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		a.Close()
	}
	t.Cleanup(stop)
	return stop
}

func waitAgent(t *testing.T, c *controller, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.a.Controller.Bus().WaitAgent(ctx, id, 2); err != nil {
		t.Fatal(err)
	}
}

func printedNumber(t *testing.T, call devicetest.Call) string {
	t.Helper()
	var p wire.Print
	if err := wire.DecodeArgs(call.Args, &p); err != nil {
		t.Fatalf("print args: %v", err)
	}
	return p.Fields.Number
}

// TestBrokerOutageHundredPresses: the broker goes away while 100 presses
// happen on an agent; when it is back, exactly 100 tickets are printed,
// once each, in press order.
func TestBrokerOutageHundredPresses(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	addr := b.Addr()
	url := "tcp://" + addr
	c := startController(t, url, t.TempDir())
	set := devicetest.NewSet()
	startAgent(t, url, t.TempDir(), set)
	waitAgent(t, c, "kiosk-1")

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if err := set.Button("btn-1").Press(ctx); err != nil {
			t.Fatalf("press %d: %v", i+1, err)
		}
	}
	b2 := startBroker(t, addr)
	defer b2.Close()

	p := set.Printer("printer-1")
	timeout := time.After(60 * time.Second)
	for n := 0; n < 100; n++ {
		select {
		case <-p.Handled:
		case <-timeout:
			t.Fatalf("only %d of 100 tickets printed", n)
		}
	}
	// Wait until the controller has every ack, so a late duplicate print
	// would have shown up by now.
	waitMetric(t, c, `hallctl_commands_total{name="print",status="done"} 100`)
	calls := p.Calls()
	if len(calls) != 100 {
		t.Fatalf("printed %d tickets, want 100", len(calls))
	}
	for i, call := range calls {
		if got, want := printedNumber(t, call), fmt.Sprintf("A%03d", i+1); got != want {
			t.Fatalf("ticket %d printed as %s, want %s (press order)", i+1, got, want)
		}
	}
}

// TestControllerRestartWithCommandInFlight: the controller stops while the
// printer is still executing a print; the restarted controller re-sends the
// pending command and the agent answers from its ledger: printed once.
func TestControllerRestartWithCommandInFlight(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	defer b.Close()
	url := "tcp://" + b.Addr()
	dir := t.TempDir()
	c := startController(t, url, dir)
	set := devicetest.NewSet()
	startAgent(t, url, t.TempDir(), set)
	waitAgent(t, c, "kiosk-1")

	p := set.Printer("printer-1")
	p.Hold()
	if err := set.Button("btn-1").Press(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Started:
	case <-time.After(15 * time.Second):
		t.Fatal("the print never reached the printer")
	}
	c.stop() // the controller goes away with the command in flight
	p.Release()

	c2 := startController(t, url, dir)
	waitMetric(t, c2, `hallctl_commands_total{name="print",status="done"} 1`)
	if calls := p.Calls(); len(calls) != 1 || printedNumber(t, calls[0]) != "A001" {
		t.Fatalf("printer calls after restart: %d", len(calls))
	}
	// And the restarted controller carries on numbering.
	if err := set.Button("btn-1").Press(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case call := <-p.Handled:
		for printedNumber(t, call) == "A001" { // the in-flight one finishing
			call = <-p.Handled
		}
		if n := printedNumber(t, call); n != "A002" {
			t.Fatalf("next ticket %s, want A002", n)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no print after restart")
	}
	if calls := p.Calls(); len(calls) != 2 {
		t.Fatalf("printer handled %d prints, want 2", len(calls))
	}
}

func waitMetric(t *testing.T, c *controller, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		body := httpGet(t, "http://"+c.a.HTTPAddr()+"/metrics")
		if strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			name, _, _ := strings.Cut(want, "{")
			var have []string
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(l, name) {
					have = append(have, l)
				}
			}
			t.Fatalf("metrics never showed %s; they show:\n%s", want, strings.Join(have, "\n"))
		}
		time.Sleep(50 * time.Millisecond) // polling a running server's endpoint
	}
}
