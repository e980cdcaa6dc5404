package scanner

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

// The demo hall scans a code on demand: `echo A001 > STATE_DIR/scan`.
func TestEmulatorScanPipe(t *testing.T) {
	dir := t.TempDir()
	s := &sink{codes: make(chan string, 64), states: make(chan wire.DevStatusMsg, 64)}
	d, err := New(device.Config{ID: "scan-1", Emulate: true}, device.Env{Events: s, Status: s, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "scan")); !os.IsNotExist(err) {
			t.Errorf("the pipe outlives the device: %v", err)
		}
	}()
	s.waitState(t, wire.StateOnline, "")
	pipe := filepath.Join(dir, "scan")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if fi, err := os.Stat(pipe); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no scan pipe")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f, err := os.OpenFile(pipe, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("A001\n\nhttp://127.0.0.1:8080/t/A002?d=x\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, want := range []string{"A001", "http://127.0.0.1:8080/t/A002?d=x"} {
		if got := s.next(t); got != want {
			t.Fatalf("scanned %q, want %q", got, want)
		}
	}
}
