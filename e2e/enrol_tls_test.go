package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/internal/mosquitto"
)

// run runs a binary and fails the test on a non-zero exit.
func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// unbundle extracts an agent bundle into dir and points its agent.yaml at
// dir instead of /etc/servicehall (and its state at state).
func unbundle(t *testing.T, bundle, dir, state string) string {
	t.Helper()
	f, err := os.Open(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Name == "agent.yaml" {
			s := strings.ReplaceAll(string(b), "/etc/servicehall/", dir+"/")
			s = strings.ReplaceAll(s, "/var/lib/firmware-agent", state)
			s = strings.Replace(s, "devices: []", "devices:\n  - {id: printer-1, kind: escpos-printer, port: emulated, emulate: true}", 1)
			b = []byte(s)
		}
		if err := os.WriteFile(filepath.Join(dir, h.Name), b, os.FileMode(h.Mode)&0o600|0o400); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "agent.yaml")
}

// Issue 12, "the enrolment flow end to end against the embedded broker and
// against Mosquitto, with TLS": a hall CA from `hallctl certs init`, the
// board enrolled with `hallctl agent add --ca --broker ssl://…`, and the
// real firmware-agent started from the bundle as the board would: it
// verifies the broker's certificate and logs in with the bundle's
// password, to hallctl's embedded broker over TLS and to a Mosquitto on a
// TLS listener made by `hallctl mosquitto-config`.
func TestEnrolmentOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	hallctl, agentBin := buildHallctl(t), buildAgent(t)
	// Mosquitto (run as root) reads its files as user mosquitto.
	dir, err := os.MkdirTemp("", "e2e-enrol-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_ = os.Chmod(dir, 0o755)
	tlsDir := filepath.Join(dir, "tls")
	run(t, hallctl, "certs", "init", "--dir", tlsDir, "--host", "localhost")
	mqttAddr, httpAddr := freeAddr(t), freeAddr(t)
	hallPath := filepath.Join(dir, "hall.yaml")
	hall := fmt.Sprintf(`hall: {id: tls-hall, name: 加密大厅, timezone: Asia/Shanghai, hours: {open: "00:00", close: "23:59"}}
departments: [{code: HR, name: 人社}]
items: [{code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}]
windows:
  - {number: 1, dept: HR, serves: ["*"]}
server:
  state_dir: %q
  mqtt_addr: %q
  http_addr: %q
  tls: {cert_file: %q, key_file: %q, ca_file: %q}
`, filepath.Join(dir, "state"), mqttAddr, httpAddr, filepath.Join(tlsDir, "server.pem"), filepath.Join(tlsDir, "server.key"), filepath.Join(tlsDir, "ca.pem"))
	if err := os.WriteFile(hallPath, []byte(hall), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(mqttAddr, ":")
	out := run(t, hallctl, "agent", "add", "kiosk-1", "--config", hallPath, "--kiosk", "--ca", filepath.Join(tlsDir, "ca.pem"),
		"--broker", "ssl://localhost:"+port, "--out", dir)
	if !strings.Contains(out, "tar") || !strings.Contains(out, "systemctl enable --now servicehall-agent") {
		t.Errorf("agent add printed no command for the board:\n%s", out)
	}
	board := filepath.Join(dir, "board")
	if err := os.Mkdir(board, 0o700); err != nil {
		t.Fatal(err)
	}
	agentYAML := unbundle(t, filepath.Join(dir, "kiosk-1.tar.gz"), board, filepath.Join(dir, "agent-state"))
	run(t, agentBin, "--config", agentYAML, "--check")
	pw, _ := os.ReadFile(filepath.Join(board, "mqtt-password"))

	// The embedded broker over TLS.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var serveLog, agentLog bytes.Buffer
	serve := exec.CommandContext(ctx, hallctl, "serve", "--config", hallPath)
	serve.Stdout, serve.Stderr = &serveLog, &serveLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = serve.Wait() }()
	ag := exec.CommandContext(ctx, agentBin, "--config", agentYAML)
	ag.Stdout, ag.Stderr = &agentLog, &agentLog
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = ag.Wait() }()
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(filepath.Join(tlsDir, "ca.pem"))
	pool.AppendCertsFromPEM(caPEM)
	tok := strings.TrimSpace(run(t, hallctl, "token", "--config", hallPath, "--role", "manager"))
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "https://"+httpAddr+"/api/v1/manager/devices", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := hc.Do(req)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if strings.Contains(string(b), `"printer-1"`) && strings.Contains(string(b), `"online"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the enrolled board's printer never came online over TLS (%v)\nserve:\n%s\nagent:\n%s", err, serveLog.String(), agentLog.String())
		}
		time.Sleep(200 * time.Millisecond) // polling real processes
	}
	cancel()
	_ = ag.Wait()
	_ = serve.Wait()

	// Mosquitto on a TLS listener, from hallctl mosquitto-config.
	if _, err := mosquitto.Binary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("SKIPPED LOUDLY: the Mosquitto half needs mosquitto: %v", err)
	}
	persist := filepath.Join(dir, "persist")
	_ = os.Mkdir(persist, 0o700)
	if u, err := user.Lookup("mosquitto"); err == nil && os.Geteuid() == 0 {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		_ = os.Chown(persist, uid, -1)
		// Mosquitto reads the server key as user mosquitto.
		_ = os.Chown(filepath.Join(tlsDir, "server.key"), uid, gid)
		_ = os.Chmod(tlsDir, 0o755)
	}
	mport, _ := mosquitto.FreePort()
	mdir := filepath.Join(dir, "mosq")
	run(t, hallctl, "mosquitto-config", "--config", hallPath, "--out", mdir, "--listener", "127.0.0.1:"+strconv.Itoa(mport),
		"--persistence-dir", persist, "--tls-cert", filepath.Join(tlsDir, "server.pem"), "--tls-key", filepath.Join(tlsDir, "server.key"),
		"--tls-ca", filepath.Join(tlsDir, "ca.pem"))
	mctx, mcancel := context.WithCancel(context.Background())
	defer mcancel()
	srv, err := mosquitto.StartConfig(mctx, filepath.Join(mdir, "mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	connect := func(url, user, pass string, tc *tls.Config) error {
		o := mqtt.NewClientOptions().AddBroker(url).SetClientID(user).SetUsername(user).SetPassword(pass).
			SetConnectTimeout(5 * time.Second).SetAutoReconnect(false).SetConnectRetry(false)
		if tc != nil {
			o.SetTLSConfig(tc)
		}
		c := mqtt.NewClient(o)
		tk := c.Connect()
		if !tk.WaitTimeout(10 * time.Second) {
			return fmt.Errorf("connect timed out")
		}
		if tk.Error() == nil {
			c.Disconnect(100)
		}
		return tk.Error()
	}
	murl := "ssl://localhost:" + strconv.Itoa(mport)
	tc := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if err := connect(murl, "kiosk-1", strings.TrimSpace(string(pw)), tc); err != nil {
		t.Fatalf("the bundle's password over TLS to Mosquitto: %v\n%s", err, srv.Log())
	}
	if err := connect(murl, "kiosk-1", "wrong-password", tc); err == nil {
		t.Error("Mosquitto admitted a wrong password")
	}
	if err := connect(murl, "kiosk-1", strings.TrimSpace(string(pw)), &tls.Config{ServerName: "localhost", MinVersion: tls.VersionTLS12}); err == nil {
		t.Error("a client that does not trust the hall CA connected")
	}
	if err := connect("tcp://127.0.0.1:"+strconv.Itoa(mport), "kiosk-1", strings.TrimSpace(string(pw)), nil); err == nil {
		t.Error("plain MQTT reached the TLS listener")
	}
	// And the real agent from the same bundle, pointed at Mosquitto.
	var agent2 bytes.Buffer
	actx, acancel := context.WithCancel(context.Background())
	ag2 := exec.CommandContext(actx, agentBin, "--config", agentYAML)
	ag2.Env = append(os.Environ(), "MQTT_URL="+murl)
	ag2.Stdout, ag2.Stderr = &agent2, &agent2
	if err := ag2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { acancel(); _ = ag2.Wait() }()
	// The controller's credential from mosquitto-config watches the agent's retained status.
	ctlPass, err := os.ReadFile(filepath.Join(dir, "state", "enrolled", "controller-mqtt-password"))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 10)
	o := mqtt.NewClientOptions().AddBroker(murl).SetClientID("hallctl-tls-hall").SetUsername("hallctl-tls-hall").
		SetPassword(strings.TrimSpace(string(ctlPass))).SetTLSConfig(tc).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(o)
	if tk := c.Connect(); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("controller credential: %v\n%s", tk.Error(), srv.Log())
	}
	defer c.Disconnect(100)
	c.Subscribe("hall/v1/tls-hall/agent/kiosk-1/status", 1, func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) })
	for {
		select {
		case s := <-got:
			if s == "online" {
				return
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the agent never came online at Mosquitto over TLS\nagent:\n%s\nmosquitto:\n%s", agent2.String(), srv.Log())
		}
	}
}
