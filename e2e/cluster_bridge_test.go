package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/servicehall/servicehall/firmware-agent/device/devicetest"
	"github.com/servicehall/servicehall/internal/mosquitto"
	"github.com/servicehall/servicehall/wire"
)

// startMosquittoConf writes body (with a listener line for a free port
// added) to dir/name.conf and runs it.
func startMosquittoConf(t *testing.T, dir, name, body string) (*mosquitto.Server, int) {
	t.Helper()
	port, err := mosquitto.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, name+".conf")
	full := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\nmax_queued_messages 100000\nmax_inflight_messages 0\n%s", port, body)
	if err := os.WriteFile(conf, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := mosquitto.StartConfig(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s, port
}

// TestMosquittoBridgedPressesPrint: two Mosquittos, B bridged to A with
// the hall's topics forwarded both ways (QoS 1, try_private so neither
// sends a message back where it came from). The kiosks are on A, hallctl
// on B: every press prints exactly once through the bridge, and the
// retained controller status crosses it (the agents send only after
// seeing it).
func TestMosquittoBridgedPressesPrint(t *testing.T) {
	_, err := mosquitto.Binary()
	needBroker(t, err)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // Mosquitto drops to its own user
		t.Fatal(err)
	}
	a, portA := startMosquittoConf(t, dir, "a", "")
	b, _ := startMosquittoConf(t, dir, "b", fmt.Sprintf(`connection hall-bridge
address 127.0.0.1:%d
topic hall/v1/e2e-hall/# both 1
cleansession false
try_private true
restart_timeout 1
notifications false
`, portA))
	c := startClusterController(t, b.URL)
	sets := map[string]*devicetest.Set{}
	kiosks := []string{"kiosk-1", "kiosk-2", "kiosk-3"}
	for _, k := range kiosks {
		sets[k] = devicetest.NewSet()
		startClusterAgent(t, k, a.URL, kioskDevices, sets[k])
	}
	for _, k := range kiosks {
		waitAgent(t, c, k)
	}
	ctx := context.Background()
	const per = 20
	for i := 0; i < per; i++ {
		for _, k := range kiosks {
			if err := sets[k].Button("btn-1").Press(ctx); err != nil {
				t.Fatalf("%s press: %v", k, err)
			}
		}
	}
	waitMetric(t, c, fmt.Sprintf(`hallctl_commands_total{name="print",status="done"} %d`, per*len(kiosks)))
	seen := map[string]int{}
	for _, k := range kiosks {
		calls := sets[k].Printer("printer-1").Calls()
		if len(calls) != per {
			t.Errorf("%s: %d presses, %d prints", k, per, len(calls))
		}
		for _, call := range calls {
			seen[printedNumber(t, call)]++
		}
	}
	for n, k := range seen {
		if k != 1 {
			t.Errorf("number %s printed %d times", n, k)
		}
	}
	if len(seen) != per*len(kiosks) {
		t.Errorf("%d distinct numbers printed, want %d", len(seen), per*len(kiosks))
	}
	// Retained state crosses the bridge both ways: the controller's status
	// (published on B) is retained on A, the agents' (on A) on B.
	onA := retained(t, a.URL, "hall/v1/e2e-hall/ctl/status", []string{wire.CtlStatus("e2e-hall")})
	if onA[wire.CtlStatus("e2e-hall")] != wire.Online {
		t.Errorf("A's retained ctl/status %q, want online", onA[wire.CtlStatus("e2e-hall")])
	}
	var need []string
	for _, k := range kiosks {
		need = append(need, wire.AgentStatus("e2e-hall", k))
	}
	onB := retained(t, b.URL, "hall/v1/e2e-hall/agent/+/status", need)
	for _, n := range need {
		if onB[n] != wire.Online {
			t.Errorf("B's retained %s %q, want online", n, onB[n])
		}
	}
	t.Logf("bridged Mosquittos: %d presses on A, %d distinct tickets printed via hallctl on B", per*len(kiosks), len(seen))
}
