package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/hallctl/config"
)

const certsHall = `hall: {id: t-hall, name: 测试大厅}
departments: [{code: HR, name: 人社}]
items: [{code: HR-001, name: 社保卡, dept: HR, prefix: A}]
windows: [{number: 1, dept: HR, serves: ["*"]}]
agents: [{id: kiosk-1, kiosk: true}]
`

// `hallctl certs init` writes the CA and server certificate and prints a
// server.tls section that `hallctl check` accepts as pasted; a second
// init refuses to replace anything without --force; `certs agent` makes
// the agent's certificate and prints its mqtt.tls keys.
func TestCertsInitAgentCheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	code, out, errs := runCLI(t, "certs", "init", "--dir", dir, "--host", "hall.local,192.168.1.10")
	if code != 0 {
		t.Fatalf("init: %d %s", code, errs)
	}
	for _, f := range []string{"ca.pem", "ca.key", "server.pem", "server.key"} {
		if !strings.Contains(out, "wrote "+filepath.Join(dir, f)) {
			t.Errorf("init output lacks %s:\n%s", f, out)
		}
	}
	// The printed hall config section, pasted under the hall.
	start := strings.Index(out, "server:\n")
	end := strings.Index(out[start:], "\n\n")
	if start < 0 || end < 0 {
		t.Fatalf("no server: section in\n%s", out)
	}
	section := out[start : start+end+1]
	cfgPath := filepath.Join(t.TempDir(), "hall.yaml")
	if err := os.WriteFile(cfgPath, []byte(certsHall+section), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCLI(t, "check", "--config", cfgPath); code != 0 {
		t.Fatalf("check of the pasted section: %d %s %s", code, out, errs)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil || cfg.Server.TLS == nil || cfg.Server.TLS.CertFile != filepath.Join(dir, "server.pem") {
		t.Fatalf("pasted section: %+v %v", cfg.Server.TLS, err)
	}

	before, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	code, _, errs = runCLI(t, "certs", "init", "--dir", dir, "--host", "hall.local")
	if code != 1 || !strings.Contains(errs, "--force") {
		t.Fatalf("second init: %d %q", code, errs)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "ca.key")); string(after) != string(before) {
		t.Fatal("the CA key was replaced")
	}

	code, out, errs = runCLI(t, "certs", "agent", "kiosk-1", "--dir", dir)
	if code != 0 {
		t.Fatalf("agent: %d %s", code, errs)
	}
	var printed struct {
		MQTT struct {
			Username string            `yaml:"username"`
			TLS      map[string]string `yaml:"tls"`
		} `yaml:"mqtt"`
	}
	if err := yaml.Unmarshal([]byte(out[strings.Index(out, "mqtt:"):]), &printed); err != nil {
		t.Fatalf("agent output is not YAML: %v\n%s", err, out)
	}
	if printed.MQTT.Username != "kiosk-1" || printed.MQTT.TLS["cert_file"] == "" || printed.MQTT.TLS["key_file"] == "" || printed.MQTT.TLS["ca_file"] == "" {
		t.Errorf("agent keys: %+v", printed.MQTT)
	}
	if fi, err := os.Stat(filepath.Join(dir, "agents", "kiosk-1.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("agent key: %v %v", fi, err)
	}
	if code, _, _ := runCLI(t, "certs", "agent", "--dir", dir, "kiosk-1"); code != 1 {
		t.Errorf("second agent certificate without --force: exit %d", code)
	}
	if code, _, errs := runCLI(t, "certs", "agent", "--dir", dir, "kiosk-1", "--force"); code != 2 {
		t.Errorf("flag after the id in the second form: exit %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, "certs", "agent", "kiosk-1", "--dir", dir, "--force"); code != 0 {
		t.Errorf("--force: %d %s", code, errs)
	}

	// A key that does not match: check names the key and fails.
	bad := strings.Replace(section, filepath.Join(dir, "server.key"), filepath.Join(dir, "agents", "kiosk-1.key"), 1)
	if err := os.WriteFile(cfgPath, []byte(certsHall+bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runCLI(t, "check", "--config", cfgPath)
	if code != 1 || !strings.Contains(errs, "server.tls.cert_file") || !strings.Contains(errs, "does not match") {
		t.Errorf("check with a mismatched key: %d %s", code, errs)
	}
	if code, _, _ := runCLI(t, "certs", "init", "--dir", t.TempDir()); code != 2 {
		t.Errorf("init without --host: exit %d", code)
	}
}

// hallctl serve with server.tls prints https:// and mqtts:// addresses,
// and the admin commands (hallctl token disabled) reach it over HTTPS
// trusting server.tls.ca_file.
func TestServeTLSAndAdminOverHTTPS(t *testing.T) {
	path, _ := hallFile(t)
	pki := filepath.Join(t.TempDir(), "pki")
	if code, _, errs := runCLI(t, "certs", "init", "--dir", pki, "--host", "hall.local"); code != 0 {
		t.Fatal(errs)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tlsKeys := fmt.Sprintf(", tls: {cert_file: %s, key_file: %s, ca_file: %s}}", filepath.Join(pki, "server.pem"), filepath.Join(pki, "server.key"), filepath.Join(pki, "ca.pem"))
	s := strings.Replace(string(b), "}\ndepartments:", tlsKeys+"\ndepartments:", 1)
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	hall := serveHall(t, path, "warn")
	var mqtt string
	for _, l := range hall.printed {
		if strings.HasPrefix(l, "MQTT broker") {
			mqtt = strings.Fields(l)[2]
		}
	}
	if !strings.HasPrefix(hall.base, "https://") || !strings.HasPrefix(mqtt, "mqtts://") {
		t.Fatalf("serve printed %q (stderr %s)", hall.printed, hall.stderr.String())
	}
	base := hall.base
	if code, out, errs := runCLI(t, "token", "disabled", "--config", path, "--url", base); code != 0 {
		t.Fatalf("token disabled over HTTPS: %d %q %q", code, out, errs)
	}
}
