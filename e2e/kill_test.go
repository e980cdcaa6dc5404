package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/mosquitto"
	"github.com/servicehall/servicehall/wire"
)

func buildHallctl(t *testing.T) string {
	return buildBinary(t, "github.com/servicehall/servicehall/hallctl")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// fakeAgent plays the hall's devices on the external broker: a kiosk
// printer and window 1's keypad and printer. It acks every command and
// records which command ids carried which ticket and receipt.
type fakeAgent struct {
	c       mqtt.Client
	mu      sync.Mutex
	tickets map[string]map[string]bool // number → command ids
	receipt map[string]map[string]bool // serial → command ids
	seq     uint64
}

func newFakeAgent(t *testing.T, url, hall string) *fakeAgent {
	f := &fakeAgent{tickets: map[string]map[string]bool{}, receipt: map[string]map[string]bool{}}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("hall-devices").SetCleanSession(false).
		SetWill(wire.AgentStatus(hall, "hall-devices"), wire.Offline, 1, true)
	f.c = mqtt.NewClient(o)
	if tok := f.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { f.c.Disconnect(10) })
	f.c.Subscribe(wire.AgentCommandFilter(hall, "hall-devices"), 1, func(c mqtt.Client, m mqtt.Message) {
		cm, err := wire.DecodeCommand(m.Payload())
		if err != nil {
			return
		}
		tp, _ := wire.ParseTopic(m.Topic(), hall)
		var p wire.Print
		if tp.Name == wire.CmdPrint && json.Unmarshal(cm.Args, &p) == nil {
			f.mu.Lock()
			set, key := f.tickets, p.Fields.Number
			if p.Template == wire.TemplateReceipt {
				set, key = f.receipt, p.Fields.Serial
			}
			if set[key] == nil {
				set[key] = map[string]bool{}
			}
			set[key][cm.ID] = true
			f.mu.Unlock()
		}
		c.Publish(wire.Ack(hall, "hall-devices", tp.Device), 1, false, wire.Marshal(wire.AckMsg{ID: cm.ID, Status: wire.AckDone}))
	}).WaitTimeout(5 * time.Second)
	info := wire.InfoMsg{V: wire.Version, Agent: "hall-devices", Version: "test", BootID: wire.NewID(time.Now()), Session: "s1",
		Devices: []wire.DeviceInfo{
			{ID: "kiosk-printer", Kind: wire.KindPrinter},
			{ID: "keypad-1", Kind: wire.KindKeypad, Window: 1},
			{ID: "printer-w1", Kind: wire.KindPrinter, Window: 1},
		}}
	f.c.Publish(wire.AgentInfo(hall, "hall-devices"), 1, true, wire.Marshal(info)).WaitTimeout(5 * time.Second)
	f.c.Publish(wire.AgentStatus(hall, "hall-devices"), 1, true, wire.Online).WaitTimeout(5 * time.Second)
	return f
}

func (f *fakeAgent) key(hall, action string) {
	f.mu.Lock()
	f.seq++
	ev := wire.NewEvent(time.Now(), "s1", f.seq, wire.Key{Action: action})
	f.mu.Unlock()
	f.c.Publish(wire.Event(hall, "hall-devices", "keypad-1", wire.EvtKey), 1, false, wire.Marshal(ev)).WaitTimeout(5 * time.Second)
}

const killHall = `hall: {id: kill-hall, name: 压测大厅, hours: {open: "00:00", close: "24:00"}}
departments: [{code: HR, name: 人社}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}
windows:
  - {number: 1, dept: HR, serves: ["*"], zone: east}
server: {demo: true, state_dir: %s} # anonymous loopback test agents
agents:
  - {id: kiosk-1, kiosk: true}
  - {id: window-1, windows: [1]}
  - {id: speakers, zones: [east]}
`

// kill -9 of hallctl during 20 concurrent HTTP issuers and a window that
// calls and starts service, ten times: every acknowledged ticket exists
// once after the restarts, no number repeats, and every ticket print and
// every acceptance receipt reaches the devices under exactly one command.
func TestKill9DuringLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("long: kills hallctl ten times")
	}
	bin := buildHallctl(t)
	ctx := context.Background()
	url, stopMosq, err := mosquitto.Start(ctx, t.TempDir())
	if err != nil {
		t.Skipf("SKIPPED LOUDLY: no mosquitto here (%v); CI installs it", err)
	}
	defer stopMosq()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cfgPath := filepath.Join(dir, "hall.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(killHall, state)), 0o600); err != nil {
		t.Fatal(err)
	}
	hall := "kill-hall"
	agent := newFakeAgent(t, url, hall)
	httpAddr := freeAddr(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", cfgPath, "--broker-url", url)
		cmd.Env = append(os.Environ(), "HTTP_ADDR="+httpAddr)
		cmd.Stdout, cmd.Stderr = nil, nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := http.Get("http://" + httpAddr + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return cmd
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("hallctl did not become healthy: %v", err)
			}
			time.Sleep(20 * time.Millisecond) // polling a child process's port
		}
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	for round := 0; round < 10; round++ {
		cmd := start()
		stopLoad := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 20; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				cl := &http.Client{Timeout: 15 * time.Second}
				for i := 0; ; i++ {
					select {
					case <-stopLoad:
						return
					default:
					}
					body := fmt.Sprintf(`{"item":"HR-001","agent":"hall-devices","request_id":"r%d-w%d-%d"}`, round, w, i)
					resp, err := cl.Post("http://"+httpAddr+"/api/v1/tickets", "application/json", strings.NewReader(body))
					if err != nil {
						return // killed
					}
					var tk struct {
						Number string `json:"number"`
					}
					_ = json.NewDecoder(resp.Body).Decode(&tk)
					resp.Body.Close()
					if resp.StatusCode == http.StatusCreated {
						mu.Lock()
						if acked[tk.Number] {
							t.Errorf("number %s acknowledged twice", tk.Number)
						}
						acked[tk.Number] = true
						mu.Unlock()
					}
				}
			}(w)
		}
		// The window works while tickets are issued: call, start (a case
		// and its receipt), call the next.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				agent.key(hall, wire.KeyCallNext)
				agent.key(hall, wire.KeyStart)
			}
		}()
		time.Sleep(time.Duration(150+round*40) * time.Millisecond) // let the load run, then kill mid-flight
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		close(stopLoad)
		wg.Wait()
	}
	// A last start delivers whatever was pending, then a clean stop.
	cmd := start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		agent.mu.Lock()
		missing := 0
		for n := range acked {
			if len(agent.tickets[n]) == 0 {
				missing++
			}
		}
		agent.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged tickets never printed", missing)
		}
		time.Sleep(50 * time.Millisecond) // waiting on a child process
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()

	st, err := store.Open(ctx, filepath.Join(state, "hallctl.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	issued := map[string]int{}
	serials := map[string]bool{}
	err = st.Read(ctx, "", 0, func(r store.Record) error {
		switch {
		case r.Stream == "queue" && r.Type == "issued":
			var ev struct {
				Number string `json:"number"`
			}
			_ = json.Unmarshal(r.Data, &ev)
			issued[ev.Number]++
		case r.Stream == casesys.CaseStream && r.Type == "accepted":
			var c casesys.Case
			_ = json.Unmarshal(r.Data, &c)
			serials[c.Serial] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for n, c := range issued {
		if c != 1 {
			t.Errorf("number %s issued %d times", n, c)
		}
	}
	for n := range acked {
		if issued[n] != 1 {
			t.Errorf("acknowledged ticket %s is not in the log once (%d)", n, issued[n])
		}
	}
	agent.mu.Lock()
	defer agent.mu.Unlock()
	for n, ids := range agent.tickets {
		if len(ids) != 1 {
			t.Errorf("ticket %s printed by %d commands", n, len(ids))
		}
	}
	for s, ids := range agent.receipt {
		if len(ids) != 1 {
			t.Errorf("receipt %s printed by %d commands", s, len(ids))
		}
		if !serials[s] {
			t.Errorf("receipt for %s, a case not in the log", s)
		}
	}
	missingReceipts := 0
	for s := range serials {
		if len(agent.receipt[s]) == 0 {
			missingReceipts++
		}
	}
	if missingReceipts > 0 {
		t.Errorf("%d of %d accepted cases got no receipt", missingReceipts, len(serials))
	}
	t.Logf("%d tickets acknowledged over 10 kills, %d in the log, %d cases with receipts", len(acked), len(issued), len(serials))
}
