// Package tmpfs mounts small, size-limited file systems for tests that
// must see a full disk (root only, as CI runs).
package tmpfs

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Mount mounts a tmpfs of size (e.g. "600k") on a new temporary directory
// and unmounts it when the test ends. Where mounting is not allowed the
// test is skipped loudly outside CI and fails in CI (CI=true runs as root).
func Mount(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("SKIPPED LOUDLY: cannot mount a small tmpfs here (%v: %s); the full-disk test needs root", err, out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// Resize changes the size of a tmpfs mounted by Mount ("space returns").
func Resize(t testing.TB, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s: %v: %s", dir, err, out)
	}
}

// ReadOnly remounts a tmpfs mounted by Mount read-only (ro true) or
// read-write again.
func ReadOnly(t testing.TB, dir string, ro bool) {
	t.Helper()
	mode := "rw"
	if ro {
		mode = "ro"
	}
	if out, err := exec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v: %s", dir, mode, err, out)
	}
}
