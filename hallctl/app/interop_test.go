package app

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/internal/mosquitto"
	"github.com/servicehall/servicehall/wire"
)

// needTool skips outside CI when a command is missing, and fails in CI.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/" + name); err == nil {
		return "/usr/sbin/" + name
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; .ci/run installs it", name)
	}
	t.Skipf("SKIPPED: %s is not installed (apt-get install mosquitto mosquitto-clients); CI runs this test", name)
	return ""
}

// TestMosquittoInterop runs hallctl against a real Mosquitto and plays a
// third-party device with mosquitto_pub/mosquitto_sub: it announces itself
// with its own retained info, sees the controller's retained status,
// publishes a press, receives the print command and acks it.
func TestMosquittoInterop(t *testing.T) {
	needTool(t, "mosquitto")
	pub := needTool(t, "mosquitto_pub")
	sub := needTool(t, "mosquitto_sub")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url, stopMosq, err := mosquitto.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer stopMosq()
	hostPort := strings.TrimPrefix(url, "tcp://")
	host, port, _ := strings.Cut(hostPort, ":")

	a, err := Start(ctx, Options{Config: testConfig(t), Logger: quietLogger(), BrokerURL: url, HTTPAddr: "127.0.0.1:0", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	defer func() { rcancel(); <-done }()
	<-a.Controller.Connected()

	hall, agent := "t-hall", "third-party"
	root := "hall/v1/" + hall
	mpub := func(args ...string) {
		t.Helper()
		out, err := exec.CommandContext(ctx, pub, append([]string{"-h", host, "-p", port, "-q", "1"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("mosquitto_pub %v: %v: %s", args, err, out)
		}
	}
	info := wire.InfoMsg{V: 1, Agent: agent, Version: "shell", BootID: wire.NewID(time.Now()), Session: "sh",
		Devices: []wire.DeviceInfo{{ID: "printer-9", Kind: wire.KindPrinter}, {ID: "btn-9", Kind: wire.KindButton, Item: "HR-001"}}}
	mpub("-r", "-i", agent, "-t", wire.AgentInfo(hall, agent), "-m", string(wire.Marshal(info)))
	mpub("-r", "-i", agent, "-t", wire.AgentStatus(hall, agent), "-m", "online")
	mpub("-r", "-i", agent, "-t", wire.DevStatus(hall, agent, "printer-9"), "-m", `{"state":"online"}`)
	waitRegistered(t, a, agent, 2)

	// The subscriber sees the retained statuses first (proof it is
	// subscribed), then the print command.
	cmd := exec.CommandContext(ctx, sub, "-h", host, "-p", port, "-q", "1", "-v", "-C", "3",
		"-t", root+"/ctl/status", "-t", root+"/agent/"+agent+"/dev/+/status", "-t", root+"/agent/"+agent+"/dev/+/cmd/+")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	retained := map[string]string{}
	for len(retained) < 2 && lines.Scan() {
		topic, payload, _ := strings.Cut(lines.Text(), " ")
		retained[topic] = payload
	}
	if retained[root+"/ctl/status"] != "online" {
		t.Errorf("retained ctl/status = %q, want online", retained[root+"/ctl/status"])
	}
	if !strings.Contains(retained[root+"/agent/"+agent+"/dev/printer-9/status"], "online") {
		t.Errorf("retained device status: %v", retained)
	}
	ev := wire.NewEvent(time.Now(), "sh", 1, wire.Press{Item: "HR-001"})
	mpub("-i", agent+"-pub", "-t", wire.Event(hall, agent, "btn-9", wire.EvtPress), "-m", string(wire.Marshal(ev)))
	if !lines.Scan() {
		t.Fatalf("mosquitto_sub got no command: %v", lines.Err())
	}
	topic, payload, _ := strings.Cut(lines.Text(), " ")
	if topic != wire.Command(hall, agent, "printer-9", wire.CmdPrint) {
		t.Fatalf("command on %s", topic)
	}
	cm, err := wire.DecodeCommand([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cm.Args), `"number":"A001"`) {
		t.Errorf("print args: %s", cm.Args)
	}
	mpub("-i", agent+"-pub", "-t", wire.Ack(hall, agent, "printer-9"), "-m", fmt.Sprintf(`{"id":%q,"status":"done"}`, cm.ID))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(get(t, "http://"+a.HTTPAddr()+"/metrics"), `hallctl_commands_total{name="print",status="done"} 1`) {
		if time.Now().After(deadline) {
			t.Fatal("the controller never counted the ack")
		}
		time.Sleep(50 * time.Millisecond) // polling an HTTP endpoint of a running server
	}
}
