package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/web"
)

func startErr(t *testing.T, cfg *config.Config, dir string) error {
	t.Helper()
	a, err := Start(context.Background(), Options{Config: cfg, Logger: quietLogger(), MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: dir})
	if a != nil {
		a.Close()
	}
	return err
}

// Issue 10, "every secret is created 0600 and refused when group/world
// readable", and "one key per purpose": a first start creates the hall
// secret, the ticket-check key and the token key ring 0600 (ring directory
// 0700), three different keys; each, made readable to others, stops the
// next start with the file and the chmod named — and so do
// server.secret_file, an MQTT user's password_file, and the push and
// case-system secret files at config load.
func TestSecretFilesAre0600AndRefusedWhenExposed(t *testing.T) {
	dir := t.TempDir()
	if err := startErr(t, testConfig(t), dir); err != nil {
		t.Fatal(err)
	}
	keys, err := auth.Open(dir, "t-hall", false)
	if err != nil {
		t.Fatal(err)
	}
	kid := keys.List()[0].KID
	files := []string{web.SecretFileName, ctl.TicketKeyFile, filepath.Join(auth.KeyDir, kid+".key")}
	seen := map[string]bool{}
	for _, f := range files {
		p := filepath.Join(dir, f)
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", f, fi, err)
		}
		b, _ := os.ReadFile(p)
		if seen[strings.TrimSpace(string(b))] {
			t.Errorf("%s holds the same key as another purpose", f)
		}
		seen[strings.TrimSpace(string(b))] = true
	}
	if di, _ := os.Stat(filepath.Join(dir, auth.KeyDir)); di.Mode().Perm() != 0o700 {
		t.Errorf("key ring directory mode %04o, want 0700", di.Mode().Perm())
	}
	for _, f := range files {
		p := filepath.Join(dir, f)
		os.Chmod(p, 0o644)
		if err := startErr(t, testConfig(t), dir); err == nil || !strings.Contains(err.Error(), "chmod 600 "+p) {
			t.Errorf("%s 0644: start %v", f, err)
		}
		os.Chmod(p, 0o600)
	}
	if err := startErr(t, testConfig(t), dir); err != nil {
		t.Fatalf("after chmod 600: %v", err)
	}

	exposed := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(exposed, []byte("0123456789abcdef0123456789abcdef\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Server.SecretFile = exposed
	if err := startErr(t, cfg, t.TempDir()); err == nil || !strings.Contains(err.Error(), "chmod 600 "+exposed) {
		t.Errorf("server.secret_file 0644: %v", err)
	}
	cfg = testConfig(t)
	cfg.Server.Users = []config.User{{Username: "kiosk-1", PasswordFile: exposed}}
	if err := startErr(t, cfg, t.TempDir()); err == nil || !strings.Contains(err.Error(), "chmod 600 "+exposed) {
		t.Errorf("server.users password_file 0644: %v", err)
	}
	for name, section := range map[string]string{
		"appointments.push_secret_file":   "appointments: {push_secret_file: %q}\n",
		"case_system.webhook.secret_file": "case_system: {webhook: {url: \"https://cases.example/hook\", secret_file: %q}}\n",
		"case_system.inbound_secret_file": "case_system: {inbound_secret_file: %q}\n",
	} {
		_, err := config.Parse("test.yaml", []byte(testHall+strings.ReplaceAll(section, "%q", `"`+exposed+`"`)), ctl.CheckConfig)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+exposed) {
			t.Errorf("%s 0644: %v", name, err)
		}
	}
}
