package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	"github.com/servicehall/servicehall/firmware-agent/device/devicetest"
)

// Issue 10, secrets: the MQTT password file and the hall secret (the
// ID-hash key) are refused when group or others can read them, with the
// chmod that fixes it, and the error never shows the secret.
func TestExposedSecretFilesAreAStartError(t *testing.T) {
	for _, which := range []string{"mqtt.password_file", "agent.secret_file"} {
		dir := t.TempDir()
		path := filepath.Join(dir, "secret")
		if err := os.WriteFile(path, []byte("s3cret-0123456789abcdef\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(t, "tcp://127.0.0.1:1", filepath.Join(dir, "state"))
		if which == "mqtt.password_file" {
			cfg.MQTT.PasswordFile = path
		} else {
			cfg.Agent.SecretFile = path
		}
		cfg.Defaults()
		a, err := agent.New(context.Background(), cfg, agent.Opts{Lookup: devicetest.NewSet().Lookup})
		if err == nil {
			a.Close()
			t.Fatalf("%s 0644: started", which)
		}
		if msg := err.Error(); !strings.Contains(msg, which) || !strings.Contains(msg, "chmod 600 "+path) || strings.Contains(msg, "s3cret") {
			t.Errorf("%s 0644: %q", which, msg)
		}
	}
}
