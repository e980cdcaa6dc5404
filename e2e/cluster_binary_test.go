package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/device/devicetest"
)

// TestHallctlBinaryBrokerList: the real hallctl binary, `serve
// --broker-url` with the three NATS nodes separated by commas; the node it
// is connected to is killed between two batches of presses: it moves to
// another node and every press prints once.
func TestHallctlBinaryBrokerList(t *testing.T) {
	if testing.Short() {
		t.Skip("long: builds hallctl and starts a 3-node NATS cluster")
	}
	cl := startNATS(t)
	defer cl.Stop()
	bin := buildHallctl(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hall.yaml")
	cfg := strings.Replace(clusterHall, "server: {demo: true}", fmt.Sprintf("server: {demo: true, state_dir: %s}", filepath.Join(dir, "state")), 1)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--broker-url", cl.URLs(0, 1, 2))
	cmd.Env = append(os.Environ(), "HTTP_ADDR="+httpAddr)
	logs := &syncBuf{}
	cmd.Stdout, cmd.Stderr = nil, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("hallctl log:\n%s", tail(logs.String(), 4000))
		}
	}()
	metrics := func() string {
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond) // polling a child process
		}
	}
	waitFor("hallctl connected", func() bool { return strings.Contains(metrics(), "\nhallctl_broker_connected 1") })

	set := devicetest.NewSet()
	startClusterAgent(t, "kiosk-1", cl.URLs(1, 2, 0), kioskDevices, set)
	ctx := context.Background()
	press := func(n int) {
		for i := 0; i < n; i++ {
			if err := set.Button("btn-1").Press(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := func() int { return len(set.Printer("printer-1").Calls()) }
	press(10)
	waitFor("10 prints", func() bool { return p() >= 10 })
	cl.Kill(0) // hallctl's node
	press(10)
	waitFor("20 prints after hallctl's node died", func() bool { return p() >= 20 })
	waitFor("20 print acks at hallctl", func() bool {
		return strings.Contains(metrics(), `hallctl_commands_total{name="print",status="done"} 20`)
	})
	seen := map[string]int{}
	for _, c := range set.Printer("printer-1").Calls() {
		seen[printedNumber(t, c)]++
	}
	if len(seen) != 20 || p() != 20 {
		t.Fatalf("%d prints with %d distinct numbers, want 20", p(), len(seen))
	}
	t.Logf("hallctl binary with --broker-url of 3 nodes: its node killed after 10 presses; 20 pressed, 20 printed once")
}

// syncBuf collects a child process's output.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
