package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/device/devicetest"
	"github.com/servicehall/servicehall/wire"
)

// startMosquitto runs a private Mosquitto on a free loopback port, or skips
// the test when it is not installed.
func startMosquitto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/mosquitto"); err2 != nil {
			t.Skip("mosquitto is not installed")
		}
		bin = "/usr/sbin/mosquitto"
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	body := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// An external process: poll until it listens.
	deadline := time.Now().Add(wait)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMosquittoInterop runs the agent against a real Mosquitto and talks
// to it with mosquitto_sub / mosquitto_pub, as a third party would.
func TestMosquittoInterop(t *testing.T) {
	if _, err := exec.LookPath("mosquitto_sub"); err != nil {
		t.Skip("mosquitto-clients are not installed")
	}
	addr := startMosquitto(t)
	host, port, _ := net.SplitHostPort(addr)
	set := devicetest.NewSet()
	startAgent(t, testConfig(t, "tcp://"+addr, t.TempDir()), set, clockwork.NewRealClock())

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	// The birth: 7 retained messages (status, info, 5 device statuses).
	out, err := exec.CommandContext(ctx, "mosquitto_sub", "-h", host, "-p", port, "-q", "1", "-v",
		"-t", wire.AgentFilter(hall, agentID), "-C", "7", "-W", "15").Output()
	if err != nil {
		t.Fatalf("mosquitto_sub: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		wire.AgentStatus(hall, agentID) + " online",
		wire.AgentInfo(hall, agentID) + ` {"v":1,"agent":"a1"`,
		wire.DevStatus(hall, agentID, "printer-1") + ` {"state":"online"}`,
		wire.DevStatus(hall, agentID, "pad-8") + ` {"state":"offline","code":"skipped"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("birth lacks %q:\n%s", want, got)
		}
	}

	// Listen for the ack; the retained agent status on the first line
	// shows the subscription is in place before the command goes out.
	sub := exec.CommandContext(ctx, "mosquitto_sub", "-h", host, "-p", port, "-q", "1", "-v",
		"-t", wire.AgentStatus(hall, agentID), "-t", wire.Ack(hall, agentID, "printer-1"), "-C", "2", "-W", "15")
	stdout, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || !strings.HasSuffix(lines.Text(), " online") {
		t.Fatalf("first line %q", lines.Text())
	}
	c := wire.NewCommand(time.Now(), time.Minute, printArgs("A001"))
	pub := exec.CommandContext(ctx, "mosquitto_pub", "-h", host, "-p", port, "-q", "1",
		"-t", wire.Command(hall, agentID, "printer-1", wire.CmdPrint), "-m", string(wire.Marshal(c)))
	if out, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	if !lines.Scan() {
		t.Fatalf("no ack: %v", lines.Err())
	}
	want := wire.Ack(hall, agentID, "printer-1") + ` {"id":"` + c.ID + `","status":"done"}`
	if lines.Text() != want {
		t.Fatalf("ack line %q, want %q", lines.Text(), want)
	}
	sub.Wait()
	if n := len(set.Printer("printer-1").Calls()); n != 1 {
		t.Fatalf("printed %d times", n)
	}
}
