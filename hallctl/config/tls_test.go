package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/certs"
)

func tlsConfig(t *testing.T, section string) *Config {
	t.Helper()
	c, err := Parse("hall.yaml", []byte(good+"server:\n  tls:\n"+section))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestServerTLSKeys(t *testing.T) {
	c := tlsConfig(t, "    cert_file: /x/server.pem\n    key_file: /x/server.key\n    ca_file: /x/ca.pem\n    client_ca_file: /x/ca.pem\n")
	if tl := c.Server.TLS; tl == nil || tl.CertFile != "/x/server.pem" || tl.KeyFile != "/x/server.key" || tl.CAFile != "/x/ca.pem" || tl.ClientCAFile != "/x/ca.pem" {
		t.Fatalf("server.tls: %+v", c.Server.TLS)
	}
	_, err := Parse("hall.yaml", []byte(good+"server:\n  tls:\n    cert_file: a.pem\n    keyfile: a.key\n"))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("missing key_file / unknown key: %v", err)
	}
	msg := ce.Error()
	if !strings.Contains(msg, "server.tls.key_file: is empty") || !strings.Contains(msg, `server.tls.keyfile: unknown key (did you mean "key_file"?)`) {
		t.Errorf("problems: %s", msg)
	}
}

// `hallctl check` (CheckTLS): every file problem is named with its key;
// a certificate near its end is a warning, not an error.
func TestCheckTLSFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, []string{"hall"}, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if _, err := certs.Init(other, []string{"hall"}, certs.Options{Days: 10}); err != nil {
		t.Fatal(err)
	}
	p := func(d, name string) string { return filepath.Join(d, name) }
	section := func(cert, key, ca, clientCA string) string {
		return fmt.Sprintf("    cert_file: %s\n    key_file: %s\n    ca_file: %s\n    client_ca_file: %s\n", cert, key, ca, clientCA)
	}
	now := time.Now()

	c := tlsConfig(t, section(p(dir, certs.ServerCert), p(dir, certs.ServerKey), p(dir, certs.CACert), p(dir, certs.CACert)))
	if ps := c.TLSFileProblems(now); len(ps) != 0 {
		t.Fatalf("good files: %v", ps)
	}
	if ps := c.TLSFileProblems(now.AddDate(5, 0, 0)); len(ps) != 1 || !strings.Contains(ps[0].String(), "server.tls.cert_file") || !strings.Contains(ps[0].Msg, "expired") {
		t.Errorf("expired: %v", ps)
	}

	c = tlsConfig(t, section(p(dir, certs.ServerCert), p(other, certs.ServerKey), p(other, certs.CACert), p(dir, "none.pem")))
	got := fmt.Sprint(c.TLSFileProblems(now))
	for _, want := range []string{"server.tls.cert_file: ", "does not match", "server.tls.ca_file: ", "not signed by", "server.tls.client_ca_file: "} {
		if !strings.Contains(got, want) {
			t.Errorf("mismatched files: %q lacks %q", got, want)
		}
	}

	c = tlsConfig(t, section(p(other, certs.ServerCert), p(other, certs.ServerKey), p(other, certs.CACert), p(other, certs.CACert)))
	ps := c.TLSFileProblems(now)
	if len(ps) != 1 || !ps[0].Warning || !strings.Contains(ps[0].Msg, "expires in") {
		t.Fatalf("10-day certificate: %v", ps)
	}
	// Through Load with the Check, the warning is a warning.
	cfgPath := filepath.Join(t.TempDir(), "hall.yaml")
	if err := os.WriteFile(cfgPath, []byte(good+"server:\n  tls:\n"+section(p(other, certs.ServerCert), p(other, certs.ServerKey), p(other, certs.CACert), p(other, certs.CACert))), 0o600); err != nil {
		t.Fatal(err)
	}
	lc, err := Load(cfgPath, CheckTLS)
	if err != nil {
		t.Fatalf("a warning made the config invalid: %v", err)
	}
	if w := fmt.Sprint(lc.Warnings); !strings.Contains(w, "warning: server.tls.cert_file: ") {
		t.Errorf("warnings: %s", w)
	}

	if err := os.Chmod(p(dir, certs.ServerKey), 0o640); err != nil {
		t.Fatal(err)
	}
	c = tlsConfig(t, section(p(dir, certs.ServerCert), p(dir, certs.ServerKey), p(dir, certs.CACert), p(dir, certs.CACert)))
	if ps := c.TLSFileProblems(now); len(ps) != 1 || !strings.Contains(ps[0].Msg, "chmod 600") {
		t.Errorf("0640 key: %v", ps)
	}
}
