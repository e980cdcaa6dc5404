package cli

import (
	"crypto/rand"
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/certs"
)

// secretPath matches the files an example hall config names under
// /etc/servicehall/ (secrets and password hashes: none is in the repo).
var secretPath = regexp.MustCompile(`/etc/servicehall/[^\s"'}\],]+`)

// Every configs/examples/**/hall.yaml passes `hallctl check` with no
// problem and no warning. The files it names under /etc/servicehall/ are
// created (mode 0600, a random 32-byte key) in a temporary copy, since the
// check opens the secret files it is given (case_system.webhook.secret_file).
func TestExampleHallConfigs(t *testing.T) {
	root := filepath.Join("..", "..", "configs", "examples")
	var halls []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "hall.yaml" {
			halls = append(halls, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(halls) == 0 {
		t.Fatal("no configs/examples/**/hall.yaml")
	}
	for _, h := range halls {
		t.Run(filepath.Base(filepath.Dir(h)), func(t *testing.T) {
			b, err := os.ReadFile(h)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			// The TLS files are real: a hall CA and a server certificate,
			// as `hallctl certs init` makes them.
			if _, err := certs.Init(filepath.Join(dir, "etc", "tls"), []string{"hall-ctl.local"}, certs.Options{}); err != nil {
				t.Fatal(err)
			}
			text := secretPath.ReplaceAllStringFunc(string(b), func(p string) string {
				local := filepath.Join(dir, "etc", strings.TrimPrefix(p, "/etc/servicehall/"))
				if p == "/etc/servicehall/tls" || strings.HasPrefix(p, "/etc/servicehall/tls/") {
					return local
				}
				if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
					t.Fatal(err)
				}
				key := make([]byte, 32)
				if _, err := rand.Read(key); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(local, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return local
			})
			path := filepath.Join(dir, "hall.yaml")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCLI(t, "check", "--config", path)
			if code != 0 || !strings.Contains(out, ": ok") || strings.Contains(out+errs, "warning") {
				t.Fatalf("hallctl check %s: exit %d\n%s%s", h, code, out, errs)
			}
			t.Log(strings.TrimSpace(out))
		})
	}
}
