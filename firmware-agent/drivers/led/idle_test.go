package led

import (
	"os"
	"path/filepath"
	"testing"
)

// The emulated panel's screen file exists from the start, idle (blank),
// so `cat …/led-screen.json` works before the first call.
func TestEmulatorScreenFileAtStart(t *testing.T) {
	ctx := testCtx(t)
	r := startEmulated(t, ctx, onbon128)
	b, err := os.ReadFile(filepath.Join(r.d.env.StateDir, "led-screen.json"))
	if err != nil || string(b) != `{"lines":[]}` {
		t.Fatalf("screen file before any call: %q %v", b, err)
	}
}
