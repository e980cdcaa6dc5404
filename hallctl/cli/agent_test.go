package cli

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/hallctl/app"
	"github.com/servicehall/servicehall/hallctl/config"

	"github.com/servicehall/servicehall/internal/mosquitto"
)

// enrolHall writes a hall config for enrolment tests in dir.
func enrolHall(t *testing.T, dir string) (path, stateDir string) {
	t.Helper()
	stateDir = filepath.Join(dir, "state")
	path = filepath.Join(dir, "hall.yaml")
	yaml := fmt.Sprintf(`hall: {id: mq, name: 测试大厅, timezone: Asia/Shanghai, hours: {open: "08:00", close: "18:00"}}
server:
  state_dir: %q
  users: [{username: legacy, password_hash: "$2a$10$abcdefghijklmnopqrstuuJ3V1b8Xr7jO6fWqkq8m3J5c5l9nYb7W"}]
departments: [{code: HR, name: 人社}]
items: [{code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}]
windows:
  - {number: 1, dept: HR, serves: ["*"], zone: east}
  - {number: 2, dept: HR, serves: ["*"], zone: west}
agents: [{id: legacy, windows: [1]}]
`, stateDir)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, stateDir
}

// readBundle returns the bundle's files and their modes.
func readBundle(t *testing.T, path string) (map[string]string, map[string]int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files, modes := map[string]string{}, map[string]int64{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, modes
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name], modes[h.Name] = string(b), h.Mode
	}
}

func TestAgentAddListRevoke(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := enrolHall(t, dir)
	code, out, errOut := runCLI(t, "agent", "add", "kiosk-1", "--config", cfg, "--kiosk", "--window", "2", "--broker", "tcp://hall.local:1883", "--out", dir)
	if code != 0 {
		t.Fatalf("add: %d %s", code, errOut)
	}
	if !strings.Contains(out, "sudo install -d -m 0755 /etc/servicehall && sudo tar --no-same-owner -xzf kiosk-1.tar.gz -C /etc/servicehall") ||
		!strings.Contains(out, "systemctl enable --now servicehall-agent") {
		t.Fatalf("no install command:\n%s", out)
	}
	archive := filepath.Join(dir, "kiosk-1.tar.gz")
	if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bundle: %v %v", err, fi)
	}
	files, _ := readBundle(t, archive)
	if len(files) != 3 || files["id-hash.key"] == "" || len(strings.TrimSpace(files["mqtt-password"])) < 24 {
		t.Fatalf("bundle files: %v", len(files))
	}
	// The ID-hash key is the hall secret, not a token key.
	secret, err := os.ReadFile(filepath.Join(dir, "state", "hall-secret"))
	if err == nil && strings.TrimSpace(files["id-hash.key"]) != strings.TrimSpace(string(secret)) {
		t.Error("id-hash.key is not the hall secret")
	}
	if code, _, errOut := runCLI(t, "agent", "add", "kiosk-1", "--config", cfg, "--kiosk", "--out", dir); code != 1 || !strings.Contains(errOut, "already enrolled") {
		t.Fatalf("second add: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "agent", "add", "x-1", "--config", cfg, "--window", "7", "--out", dir); code != 1 || !strings.Contains(errOut, "window 7") {
		t.Fatalf("bad window: %d %s", code, errOut)
	}
	code, out, _ = runCLI(t, "agent", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "kiosk-1") || !strings.Contains(out, "legacy") || strings.Contains(out, "$2") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "agent", "revoke", "legacy", "--config", cfg); code != 1 || !strings.Contains(errOut, "remove it from the config") {
		t.Fatalf("revoke config agent: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "agent", "revoke", "kiosk-1", "--config", cfg); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	_, out, _ = runCLI(t, "agent", "list", "--config", cfg)
	if !strings.Contains(out, "revoked") {
		t.Fatalf("list after revoke:\n%s", out)
	}
}

// mqttConnect connects as user with password (client id = user).
func mqttConnect(t *testing.T, url, user, pass string) (mqtt.Client, error) {
	t.Helper()
	return mqttConnectLost(t, url, user, pass, nil)
}

// mqttConnectLost is mqttConnect telling lost when the broker drops it.
func mqttConnectLost(t *testing.T, url, user, pass string, lost chan error) (mqtt.Client, error) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(user).SetUsername(user).SetPassword(pass).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetCleanSession(true).SetConnectTimeout(5 * time.Second)
	if lost != nil {
		o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("connect: no answer")
	}
	return c, tok.Error()
}

func waitTok(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt: %v", tok.Error())
	}
}

// The bundle's password opens a real Mosquitto run from the files hallctl
// mosquitto-config writes; a wrong one does not; the ACL keeps an agent
// in its own subtree; a revoked agent is refused after a regenerate and
// SIGHUP.
func TestMosquittoConfigWithRealMosquitto(t *testing.T) {
	if _, err := mosquitto.Binary(); err != nil {
		t.Skip(err)
	}
	// Mosquitto started as root runs as user mosquitto: its files must be
	// reachable by that user (t.TempDir's parent is 0700).
	dir, err := os.MkdirTemp("", "enrol-mosq-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	persist := filepath.Join(dir, "persist")
	os.Mkdir(persist, 0o700)
	if u, err := user.Lookup("mosquitto"); err == nil && os.Geteuid() == 0 {
		uid, _ := strconv.Atoi(u.Uid)
		os.Chown(persist, uid, -1)
	}
	cfg, stateDir := enrolHall(t, dir)
	port, err := mosquitto.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := "tcp://127.0.0.1:" + strconv.Itoa(port)
	pw := map[string]string{}
	for _, a := range [][]string{{"kiosk-1", "--kiosk"}, {"win-2", "--window", "2"}} {
		args := append([]string{"agent", "add", a[0], "--config", cfg, "--broker", url, "--out", dir}, a[1:]...)
		if code, _, errOut := runCLI(t, args...); code != 0 {
			t.Fatalf("add %s: %s", a[0], errOut)
		}
		files, _ := readBundle(t, filepath.Join(dir, a[0]+".tar.gz"))
		pw[a[0]] = strings.TrimSpace(files["mqtt-password"])
		if !strings.Contains(files["agent.yaml"], url) {
			t.Fatalf("agent.yaml lacks the broker url:\n%s", files["agent.yaml"])
		}
	}
	out := filepath.Join(dir, "mosq")
	gen := func() {
		t.Helper()
		code, stdout, errOut := runCLI(t, "mosquitto-config", "--config", cfg, "--out", out, "--listener", "127.0.0.1:"+strconv.Itoa(port), "--persistence-dir", persist)
		if code != 0 {
			t.Fatalf("mosquitto-config: %d %s", code, errOut)
		}
		if !strings.Contains(errOut, "legacy has a bcrypt hash, which Mosquitto cannot check") {
			t.Fatalf("no warning for the bcrypt-only user: %s\n%s", errOut, stdout)
		}
	}
	gen()
	for _, n := range []string{"mosquitto.conf", "passwd", "acl"} {
		fi, err := os.Stat(filepath.Join(out, n))
		if err != nil || fi.Mode().Perm()&0o007 != 0 {
			t.Fatalf("%s: %v %v", n, err, fi)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := mosquitto.StartConfig(ctx, filepath.Join(out, "mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	ctlPass, err := os.ReadFile(filepath.Join(stateDir, "enrolled", "controller-mqtt-password"))
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := mqttConnect(t, url, "hallctl-mq", strings.TrimSpace(string(ctlPass)))
	if err != nil {
		t.Fatalf("controller refused: %v\n%s", err, srv.Log())
	}
	defer ctl.Disconnect(0)
	if _, err := mqttConnect(t, url, "kiosk-1", pw["kiosk-1"]+"x"); err == nil {
		t.Fatal("a wrong password was admitted")
	}
	if _, err := mqttConnect(t, url, "legacy", "anything"); err == nil {
		t.Fatal("a bcrypt-only user was admitted")
	}
	kiosk, err := mqttConnect(t, url, "kiosk-1", pw["kiosk-1"])
	if err != nil {
		t.Fatalf("kiosk-1 with its bundle's password: %v\n%s", err, srv.Log())
	}
	defer kiosk.Disconnect(0)
	winLost := make(chan error, 1)
	win, err := mqttConnectLost(t, url, "win-2", pw["win-2"], winLost)
	if err != nil {
		t.Fatal(err)
	}

	// What the controller sees of the hall.
	seen := make(chan string, 16)
	waitTok(t, ctl.Subscribe("hall/v1/mq/#", 1, func(_ mqtt.Client, m mqtt.Message) { seen <- m.Topic() }))
	// The kiosk's own subscriptions (the agent's filters) are granted, and
	// a command from the controller reaches it.
	cmds := make(chan string, 4)
	st := kiosk.SubscribeMultiple(map[string]byte{"hall/v1/mq/agent/kiosk-1/dev/+/cmd/+": 1, "hall/v1/mq/ctl/status": 1},
		func(_ mqtt.Client, m mqtt.Message) { cmds <- m.Topic() })
	waitTok(t, st)
	for f, q := range st.(*mqtt.SubscribeToken).Result() {
		if q == 0x80 {
			t.Fatalf("agent's own subscription %s refused", f)
		}
	}
	waitTok(t, ctl.Publish("hall/v1/mq/agent/kiosk-1/dev/printer-1/cmd/print", 1, false, "{}"))
	select {
	case tp := <-cmds:
		if tp != "hall/v1/mq/agent/kiosk-1/dev/printer-1/cmd/print" {
			t.Fatalf("kiosk got %s", tp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the kiosk did not get its command")
	}
	// Another agent's commands do not reach win-2: Mosquitto 2.0 grants
	// the subscription but checks every delivery against the read ACL.
	// Its own command after kiosk-1's is the barrier.
	winGot := make(chan string, 4)
	waitTok(t, win.SubscribeMultiple(map[string]byte{"hall/v1/mq/agent/kiosk-1/dev/+/cmd/+": 1, "hall/v1/mq/agent/win-2/dev/+/cmd/+": 1},
		func(_ mqtt.Client, m mqtt.Message) { winGot <- m.Topic() }))
	waitTok(t, ctl.Publish("hall/v1/mq/agent/kiosk-1/dev/printer-1/cmd/print", 1, false, "{}"))
	waitTok(t, ctl.Publish("hall/v1/mq/agent/win-2/dev/led-2/cmd/show", 1, false, "{}"))
	select {
	case tp := <-winGot:
		if tp != "hall/v1/mq/agent/win-2/dev/led-2/cmd/show" {
			t.Fatalf("win-2 received %s", tp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("win-2 did not get its own command")
	}
	<-cmds        // kiosk-1's second command
	for range 3 { // the controller's own three commands
		if tp := <-seen; !strings.Contains(tp, "/cmd/") {
			t.Fatalf("controller saw %s", tp)
		}
	}
	// Publishes outside the kiosk's subtree or of a kind it may not send
	// are dropped; the allowed publish after them is the barrier.
	for _, tp := range []string{"hall/v1/mq/agent/win-2/status", "hall/v1/mq/agent/kiosk-1/dev/printer-1/cmd/print",
		"hall/v1/mq/ctl/status", "hall/v1/mq/agent/kiosk-1/dev/btn-1/desired"} {
		waitTok(t, kiosk.Publish(tp, 1, false, "x"))
	}
	waitTok(t, kiosk.Publish("hall/v1/mq/agent/kiosk-1/dev/btn-1/evt/press", 1, false, "{}"))
	select {
	case tp := <-seen:
		if tp != "hall/v1/mq/agent/kiosk-1/dev/btn-1/evt/press" {
			t.Fatalf("a publish outside the ACL was delivered: %s", tp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the allowed publish was not delivered")
	}

	// hallctl serve with the external broker logs in with the controller
	// credential mosquitto-config made, without --broker-user.
	hall, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(ctx, app.Options{Config: hall, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BrokerURL: url,
		HTTPAddr: "127.0.0.1:0", StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	runCtx, stopRun := context.WithCancel(ctx)
	go func() { runDone <- a.Run(runCtx) }()
	select {
	case <-a.Controller.Connected():
	case <-time.After(10 * time.Second):
		t.Fatalf("the controller did not connect to Mosquitto:\n%s", srv.Log())
	}
	stopRun()
	<-runDone
	a.Close()

	// Revoke win-2, regenerate, reload: its live connection is cut and it
	// is refused; kiosk-1 stays.
	if code, _, errOut := runCLI(t, "agent", "revoke", "win-2", "--config", cfg); code != 0 {
		t.Fatal(errOut)
	}
	gen()
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-winLost:
	case <-time.After(5 * time.Second):
		t.Fatalf("Mosquitto kept the revoked agent connected after the reload:\n%s", srv.Log())
	}
	if _, err := mqttConnect(t, url, "win-2", pw["win-2"]); err == nil {
		t.Fatal("a revoked agent was admitted after the reload")
	}
	k2, err := mqttConnect(t, url, "kiosk-1", pw["kiosk-1"])
	if err != nil {
		t.Fatalf("kiosk-1 refused after the reload: %v", err)
	}
	k2.Disconnect(0)
}

// hallctl check counts agents enrolled with hallctl agent add.
func TestCheckCountsEnrolledAgents(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := enrolHall(t, dir)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "agents: [{id: legacy, windows: [1]}]\n", "", 1)), 0o600)
	if code, _, errOut := runCLI(t, "check", "--config", cfg); code != 1 || !strings.Contains(errOut, "no agent is enrolled") {
		t.Fatalf("check without agents: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "agent", "add", "desk-1", "--config", cfg, "--window", "1", "--broker", "tcp://h:1883", "--out", dir); code != 0 {
		t.Fatal(errOut)
	}
	if code, out, errOut := runCLI(t, "check", "--config", cfg); code != 0 {
		t.Fatalf("check with an enrolled agent: %d %s %s", code, out, errOut)
	}
}
