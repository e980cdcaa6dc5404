package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/all" // the real drivers
	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos/escposemu"
	"github.com/servicehall/servicehall/firmware-agent/drivers/gpio/pins"
	"github.com/servicehall/servicehall/hallctl/queue"
)

// waitReachable blocks until the agent sees the controller as reachable
// (want true) or not.
func waitReachable(t *testing.T, a *agent.Agent, want bool) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		up, ch := a.CtlReachable()
		if up == want {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("agent never saw the controller reachable=%v", want)
		}
	}
}

// TestOfflineTicketsThroughControllerOutage is the whole offline-numbering
// story with the real agent, its real ticket-button and ESC/POS printer
// drivers (the printer an emulator on a pseudo-terminal) and the real
// controller on a standalone broker:
//
//  1. the controller grants the button a lease (A001–A020); online presses
//     get numbers after it (A021);
//  2. the controller goes away; presses keep printing at once from the
//     lease (A001…A005 on the virtual paper, with 等候时间暂不可估算);
//  3. the controller comes back on the same state; the queued presses
//     enter the queue by print time, and the next online press is A022;
//  4. the queue holds every ticket once, in issue order, and no number is
//     used twice.
func TestOfflineTicketsThroughControllerOutage(t *testing.T) { offlineStory(t, false) }

// TestOfflineTicketsThroughBrokerOutage is the same story with the broker
// gone instead: the presses wait in the agent's durable outbox.
func TestOfflineTicketsThroughBrokerOutage(t *testing.T) { offlineStory(t, true) }

func offlineStory(t *testing.T, brokerDown bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := startBroker(t, "127.0.0.1:0")
	defer func() { b.Close() }()
	addr := b.Addr()
	url := "tcp://" + addr
	hallDir := t.TempDir()
	c := startController(t, url, hallDir)

	dir := t.TempDir()
	printer := escposemu.New(escposemu.Opts{})
	line, err := escposemu.Plug(ctx, printer, filepath.Join(dir, "ttyPrinter"))
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()
	const pin = "E2E_LEASE_BTN"
	y := fmt.Sprintf(`agent: {id: kiosk-1, hall: e2e-hall, state_dir: %s}
mqtt: {url: "%s"}
devices:
  - {id: printer-1, kind: escpos-printer, port: %s, baud: 9600, options: {poll_s: 1}}
  - {id: btn-1, kind: ticket-button, pin: %s, item: HR-001, printer: printer-1, emulate: true,
     options: {confirm_ms: 5, lockout_ms: 1}}
`, filepath.Join(dir, "agent"), url, line.Path(), pin)
	cfg, err := agent.Parse([]byte(y), "kiosk-1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(ctx)
	ag, err := agent.New(actx, cfg, agent.Opts{Log: quiet(), ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond})
	if err != nil {
		acancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ag.Run(actx) }()
	defer func() { acancel(); <-done; ag.Close() }()
	waitAgent(t, c, "kiosk-1")

	wall := clockwork.NewRealClock()
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	press := func(number string) {
		t.Helper()
		// An emulated push as a finger makes it: 20 ms down, then up for
		// 20 ms (an up shorter than the 5 ms confirm time would be a
		// bounce, not a release). These are the input's durations; the
		// test then waits for the paper, not for time.
		if err := pins.Press(wctx, wall, pin, 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		<-wall.After(20 * time.Millisecond)
		if err := printer.WaitFor(wctx, number); err != nil {
			t.Fatalf("virtual paper never showed %s: %v\n%s", number, err, printer.Paper())
		}
	}

	// 1. The lease is granted and stored before the first press.
	waitMetric(t, c, `hallctl_commands_total{name="lease",status="done"} 1`)
	waitReachable(t, ag, true)
	press("A021")
	waitMetric(t, c, `hallctl_commands_total{name="print",status="done"} 1`)

	// 2. The controller (or the broker) goes away: presses print from
	// the lease.
	if brokerDown {
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		c.stop()
	}
	waitReachable(t, ag, false)
	offline := []string{"A001", "A002", "A003", "A004", "A005"}
	for _, n := range offline {
		press(n)
	}
	if !strings.Contains(printer.Paper(), "等候时间暂不可估算") {
		t.Fatalf("offline tickets lack the no-estimate line:\n%s", printer.Paper())
	}
	if brokerDown {
		// The last press is queued just after its ticket prints.
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, err := ag.OutboxLen(ctx)
			if err == nil && n == len(offline) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("outbox holds %d presses (%v), want %d", n, err, len(offline))
			}
			<-wall.After(10 * time.Millisecond) // polling the agent's store
		}
	}
	// (With the broker up they wait in the controller's persistent session.)

	// 3. The controller (or broker) is back; the presses flush and enter
	// the queue by print time.
	c2 := c
	if brokerDown {
		b = startBroker(t, addr)
		waitReachable(t, ag, true)
		waitMetric(t, c2, `hallctl_tickets_issued_total{item="HR-001"} 6`)
	} else {
		c2 = startController(t, url, hallDir)
		waitReachable(t, ag, true)
		waitMetric(t, c2, `hallctl_tickets_issued_total{item="HR-001"} 5`)
	}
	press("A022")
	if brokerDown {
		waitMetric(t, c2, `hallctl_commands_total{name="print",status="done"} 2`)
	} else {
		waitMetric(t, c2, `hallctl_commands_total{name="print",status="done"} 1`)
	}

	// 4. Every ticket once, in issue order; no number twice.
	var waiting []string
	var leases []queue.LeaseView
	c2.a.Controller.View(func(e *queue.Engine) {
		for _, tv := range e.Snapshot(time.Now()).Waiting {
			waiting = append(waiting, tv.Number)
		}
		leases = e.Leases("kiosk-1/btn-1")
	})
	want := append(append([]string{"A021"}, offline...), "A022")
	if strings.Join(waiting, " ") != strings.Join(want, " ") {
		t.Fatalf("queue %v, want %v (issue order, each once)", waiting, want)
	}
	if len(leases) != 1 || leases[0].From != 1 || leases[0].To != 20 || leases[0].Used != len(offline) {
		t.Fatalf("leases %+v, want A001–A020 with 5 used", leases)
	}
	paper := printer.Paper()
	for _, n := range want {
		if k := strings.Count(paper, n+"\n"); k != 1 {
			t.Errorf("%s printed %d times on the paper, want once:\n%s", n, k, paper)
		}
	}
}
