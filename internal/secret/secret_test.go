package secret_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/internal/secret"
)

// Finding "every secret is created 0600 and refused when group/world
// readable": a 0644 secret is refused with a message naming the file and
// the chmod, and never its content.
func TestReadRefusesExposedFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits")
	}
	path := filepath.Join(t.TempDir(), "hall.secret")
	if err := os.WriteFile(path, []byte("s3cret-value-0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := secret.Read(path)
	if !errors.Is(err, secret.ErrExposed) {
		t.Fatalf("0644 secret: %v, want ErrExposed", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600 "+path) || !strings.Contains(msg, "0644") {
		t.Errorf("message %q does not name the file, its mode and the fix", msg)
	}
	if strings.Contains(msg, "s3cret") {
		t.Errorf("message %q shows the secret", msg)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o602} {
		os.Chmod(path, mode)
		if _, err := secret.Read(path); !errors.Is(err, secret.ErrExposed) {
			t.Errorf("mode %04o: %v, want ErrExposed", mode, err)
		}
	}
	os.Chmod(path, 0o600)
	if b, err := secret.Read(path); err != nil || string(b) != "s3cret-value-0123456789" {
		t.Errorf("0600 secret: %q %v", b, err)
	}
	os.Chmod(path, 0o400)
	if _, err := secret.Read(path); err != nil {
		t.Errorf("0400 secret: %v", err)
	}
}

func TestCreateIs0600In0700(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits")
	}
	dir := filepath.Join(t.TempDir(), "keys")
	path := filepath.Join(dir, "a.key")
	if err := secret.Create(path, []byte("k")); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	di, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("file %04o dir %04o, want 0600 and 0700", fi.Mode().Perm(), di.Mode().Perm())
	}
	if err := secret.Create(path, []byte("other")); !secret.IsExist(err) {
		t.Errorf("second create: %v, want exists", err)
	}
	if _, err := secret.Read(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file read")
	}
}
