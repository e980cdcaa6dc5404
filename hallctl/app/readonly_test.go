package app

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/internal/tmpfs"
)

// A state directory that is read-only at start (a file system remounted
// ro after an I/O error is the usual way) is refused with a clear error
// naming it, not a crash loop; once it is writable again the hall starts
// with what was acknowledged. (A directory cannot be remounted read-only
// while the log is open for writing — the kernel answers "busy" — so the
// running case is the full-disk test's.)
func TestReadOnlyStateDirIsRefused(t *testing.T) {
	dir := tmpfs.Mount(t, "64m")
	a, stop := startApp(t, dir)
	resp, err := http.Post("http://"+a.HTTPAddr()+"/api/v1/tickets", "application/json", strings.NewReader(`{"item":"HR-001"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("first ticket: %d", resp.StatusCode)
	}
	stop()
	tmpfs.ReadOnly(t, dir, true)

	_, err = Start(context.Background(), Options{Config: testConfig(t), Logger: quietLogger(), MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("start on a read-only state directory: %v, want a clear refusal naming it", err)
	}
	t.Logf("start on a read-only directory: %v", err)

	tmpfs.ReadOnly(t, dir, false)
	a2, stop2 := startApp(t, dir)
	defer stop2()
	if n := len(a2.Controller.Snapshot().Waiting); n != 1 {
		t.Fatalf("after restart %d tickets wait, want the 1 acknowledged", n)
	}
}
