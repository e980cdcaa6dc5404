package idcard

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/device"
)

// writeControl writes a line to an emulator's control pipe once it exists.
func writeControl(t *testing.T, path, line string) {
	t.Helper()
	deadline := time.Now().Add(watchdog)
	for {
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no control pipe %s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
}

// The demo hall presents the emulated card on demand: `echo >
// STATE_DIR/card` puts it in the field again (a new read), `echo remove`
// takes it out.
func TestEmulatorCardPipe(t *testing.T) {
	dir := t.TempDir()
	h, _, _ := start(t, hopts{cfg: func(c *device.Config) { c.Port = ""; c.Emulate = true },
		env: func(e *device.Env) { e.StateDir = dir }})
	h.tick()
	if c := h.event(); c != demoEvent {
		t.Fatalf("event %+v", c)
	}
	h.tick()
	h.noEvent() // read once until presented again
	pipe := filepath.Join(dir, "card")
	for _, line := range []string{"", "present"} {
		writeControl(t, pipe, line)
		got := false
		for range 200 { // the pipe is read by its own goroutine: poll until the card is seen
			h.tick()
			select {
			case c := <-h.events.ch:
				if c != demoEvent {
					t.Fatalf("event %+v", c)
				}
				got = true
			default:
			}
			if got {
				break
			}
		}
		if !got {
			t.Fatalf("%q: no card event", line)
		}
	}
	writeControl(t, pipe, "remove")
	for range 5 {
		h.tick()
		h.noEvent()
	}
}
