package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos/escposemu"
	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/idcardemu"
	"github.com/servicehall/servicehall/firmware-agent/ptypair"
	"github.com/servicehall/servicehall/wire"
)

var (
	binMu    sync.Mutex
	binBuilt = map[string]string{} // package → binary
)

// buildBinary builds a real binary of pkg once per test run.
func buildBinary(t *testing.T, pkg string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if bin, ok := binBuilt[pkg]; ok {
		return bin
	}
	dir, err := os.MkdirTemp("", "servicehall-e2e-bin-*")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	binBuilt[pkg] = bin
	return bin
}

// buildAgent builds the real firmware-agent binary once per test run.
func buildAgent(t *testing.T) string {
	return buildBinary(t, "github.com/servicehall/servicehall/firmware-agent")
}

// watcher is a paho client that records what crosses the broker.
type watcher struct {
	mu     sync.Mutex
	msgs   map[string][]string
	notify chan struct{}
}

func watch(t *testing.T, url, filter string) *watcher {
	t.Helper()
	w := &watcher{msgs: map[string][]string{}, notify: make(chan struct{}, 1)}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("e2e-watch"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(10) })
	c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		w.mu.Lock()
		w.msgs[m.Topic()] = append(w.msgs[m.Topic()], string(m.Payload()))
		w.mu.Unlock()
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}).WaitTimeout(5 * time.Second)
	return w
}

// until waits for cond over the recorded messages.
func (w *watcher) until(t *testing.T, what string, cond func(map[string][]string) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		w.mu.Lock()
		ok := cond(w.msgs)
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-w.notify:
		case <-deadline:
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("timed out waiting for %s; seen topics: %v", what, keysOf(w.msgs))
		}
	}
}

func keysOf(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestBlackBoxAgentWithEmulators runs the built firmware-agent against the
// printer and ID-reader emulators on pseudo-terminals and hallctl with its
// broker: a press prints a ticket whose virtual paper shows the number and
// the Chinese text; paper-out shows as a fault and a failed ack; a card
// presented once yields exactly one event without the raw ID number.
func TestBlackBoxAgentWithEmulators(t *testing.T) {
	bin := buildAgent(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	c := startControllerEmbedded(t, filepath.Join(dir, "hall"))
	url := c.a.BrokerURL()

	printer := escposemu.New(escposemu.Opts{})
	line, err := escposemu.Plug(ctx, printer, filepath.Join(dir, "ttyPrinter"))
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()

	reader := idcardemu.New(idcardemu.Opts{})
	pair, err := ptypair.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer pair.Close()
	go reader.Run(ctx, pair.Master)

	secret := filepath.Join(dir, "hall.secret")
	os.WriteFile(secret, []byte("e2e-hall-secret-0123456789abcdef\n"), 0o600)
	state := filepath.Join(dir, "agent")
	cfg := fmt.Sprintf(`agent: {id: kiosk-1, hall: e2e-hall, state_dir: %s, secret_file: %s}
mqtt: {url: "tcp://127.0.0.1:1"}
devices:
  - {id: printer-1, kind: escpos-printer, port: %s, baud: 9600, options: {poll_s: 1}}
  - {id: reader-1, kind: idcard-reader, port: %s, baud: 115200}
  - {id: btn-1, kind: ticket-button, pin: E2E_BTN, item: HR-001, printer: printer-1, emulate: true}
`, state, secret, line.Path(), pair.Path())
	cfgPath := filepath.Join(dir, "kiosk-1.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)

	w := watch(t, url, "hall/v1/e2e-hall/#")
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Env = append(os.Environ(), "MQTT_URL="+url)
	logs := &strings.Builder{}
	var logMu sync.Mutex
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logMu.Unlock()
		}
	}()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			logMu.Lock()
			t.Logf("agent log:\n%s", logs.String())
			logMu.Unlock()
		}
	}()
	waitAgent(t, c, "kiosk-1")
	w.until(t, "printer online", func(m map[string][]string) bool {
		s := m[wire.DevStatus("e2e-hall", "kiosk-1", "printer-1")]
		return len(s) > 0 && strings.Contains(s[len(s)-1], `"online"`)
	})

	// 1. A press prints a ticket: number and Chinese text on the paper.
	// The button holds a lease of A001–A020 for offline numbering
	// (docs/mqtt.md "Leases"), so the controller's numbers start at A021.
	press := func() {
		t.Helper()
		pipe := filepath.Join(state, "btn-1", "press")
		deadline := time.Now().Add(10 * time.Second)
		for {
			f, err := os.OpenFile(pipe, os.O_WRONLY, 0)
			if err == nil {
				f.WriteString("\n")
				f.Close()
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("button pipe: %v", err)
			}
			time.Sleep(20 * time.Millisecond) // waiting for the agent process to create its pipe
		}
	}
	press()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := printer.WaitFor(wctx, "A021"); err != nil {
		t.Fatalf("virtual paper never showed A021: %v\n%s", err, printer.Paper())
	}
	if err := printer.WaitFor(wctx, "社保卡"); err != nil {
		t.Fatalf("virtual paper lacks the item name in Chinese:\n%s", printer.Paper())
	}
	if !strings.Contains(printer.Paper(), "端到端大厅") {
		t.Errorf("virtual paper lacks the hall name:\n%s", printer.Paper())
	}
	waitMetric(t, c, `hallctl_commands_total{name="print",status="done"} 1`)

	// 2. Paper out: a fault status and a failed ack with paper_out.
	printer.SetPaperOut(true)
	w.until(t, "paper_out fault", func(m map[string][]string) bool {
		s := m[wire.DevStatus("e2e-hall", "kiosk-1", "printer-1")]
		return len(s) > 0 && strings.Contains(s[len(s)-1], `"fault"`) && strings.Contains(s[len(s)-1], "paper_out")
	})
	press()
	w.until(t, "failed ack", func(m map[string][]string) bool {
		for _, a := range m[wire.Ack("e2e-hall", "kiosk-1", "printer-1")] {
			if strings.Contains(a, `"failed"`) && strings.Contains(a, "paper_out") {
				return true
			}
		}
		return false
	})
	if strings.Contains(printer.Paper(), "A022") {
		t.Error("a ticket was printed while the paper was out")
	}

	// 3. One card presentation → exactly one card event, without the raw number.
	card := idcardemu.DemoCard()
	served := reader.Served()
	if err := reader.Present(card); err != nil {
		t.Fatal(err)
	}
	cardTopic := wire.Event("e2e-hall", "kiosk-1", "reader-1", wire.EvtCard)
	w.until(t, "card event", func(m map[string][]string) bool { return len(m[cardTopic]) >= 1 })
	// Let the reader be polled many more times with the card still there.
	for reader.Served() < served+40 {
		time.Sleep(50 * time.Millisecond) // the agent polls the emulator in real time
	}
	w.mu.Lock()
	evs := append([]string(nil), w.msgs[cardTopic]...)
	w.mu.Unlock()
	if len(evs) != 1 {
		t.Fatalf("card presented once gave %d events", len(evs))
	}
	if strings.Contains(evs[0], card.ID) || strings.Contains(evs[0], card.ID[:17]) || strings.Contains(evs[0], card.Name) {
		t.Fatalf("card event carries raw personal data: %s", evs[0])
	}
	if !strings.Contains(evs[0], `"id_hash"`) || !strings.Contains(evs[0], `"masked_id"`) {
		t.Fatalf("card event lacks hash/masked id: %s", evs[0])
	}
	logMu.Lock()
	leaked := strings.Contains(logs.String(), card.ID) || strings.Contains(logs.String(), card.Name)
	logMu.Unlock()
	if leaked {
		t.Fatal("the agent logged the raw ID number or name")
	}
}
