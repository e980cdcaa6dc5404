package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/ctl"
)

// The ticket-check key is made once, mode 0600, and read back unchanged
// on every later start (printed QR links keep working); a damaged key
// file is an error that says what to do, never silently replaced.
func TestTicketKeyFile(t *testing.T) {
	dir := t.TempDir()
	k1, err := loadTicketKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 {
		t.Fatalf("key of %d bytes", len(k1))
	}
	path := filepath.Join(dir, ctl.TicketKeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := loadTicketKey(dir)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second start read another key (%v)", err)
	}
	if err := os.WriteFile(path, []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadTicketKey(dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("damaged key: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not hex\n" {
		t.Fatal("a damaged key file was replaced")
	}
}
