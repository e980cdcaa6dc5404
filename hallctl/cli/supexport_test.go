package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/store"
)

// `hallctl cases supervision-export` writes the day's 电子监察 records
// from the event log and a detached signature that verifies with the
// supervision secret (and fails for a changed byte).
func TestSupervisionExportCLI(t *testing.T) {
	path, stateDir := hallFile(t)
	secretPath := filepath.Join(t.TempDir(), "sup-secret")
	key := "supervision-secret-for-the-cli-test"
	if err := os.WriteFile(secretPath, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(path)
	cfg = append(cfg, []byte("case_system: {supervision: {secret_file: "+secretPath+"}}\n")...)
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(stateDir, "hallctl.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC) // 10:00 Shanghai
	q := func(typ string, at time.Time, m map[string]any) store.Record {
		m["type"], m["at"] = typ, at
		b, _ := json.Marshal(m)
		return store.Record{Stream: casesys.QueueStream, Type: typ, At: at, Data: b}
	}
	ar := casesys.AlertRecord{ID: "window_paused/window-1/1", Raised: at.Add(20 * time.Minute), At: at.Add(20 * time.Minute),
		Alert: casesys.Alert{Kind: casesys.AlertPaused, Severity: "warning", Window: 1, Value: 20, Threshold: 15}}
	arb, _ := json.Marshal(ar)
	_, err = st.Append(ctx,
		q("window_paused", at, map[string]any{"window": 1, "note": "设备维护"}),
		store.Record{Stream: casesys.SupervisionStream, Type: casesys.AlertRaised, Key: "raised/" + ar.Key(), At: ar.At, Data: arb},
		q("window_resumed", at.Add(30*time.Minute), map[string]any{"window": 1}),
		// The next local day: not in the 2026-11-20 file.
		q("window_paused", at.Add(24*time.Hour), map[string]any{"window": 1}),
	)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	for _, format := range []string{"json", "csv"} {
		out := filepath.Join(t.TempDir(), "export."+format)
		code, stdout, stderr := runCLI(t, "cases", "supervision-export", "--config", path, "--date", "2026-11-20", "--format", format, "--out", out)
		if code != 0 || !strings.Contains(stdout, "3 supervision record(s)") {
			t.Fatalf("%s: exit %d\n%s\n%s", format, code, stdout, stderr)
		}
		file, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := os.ReadFile(out + ".sig")
		if err != nil {
			t.Fatal(err)
		}
		if err := casesys.VerifyExport([]byte(key), file, string(sig)); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if err := casesys.VerifyExport([]byte(key), append(file, ' '), string(sig)); err == nil {
			t.Fatalf("%s: a changed file verified", format)
		}
		if !strings.Contains(string(file), "设备维护") || !strings.Contains(string(file), "alert/raised/window_paused/window-1/1/") {
			t.Fatalf("%s export:\n%s", format, file)
		}
	}
	code, _, stderr := runCLI(t, "cases", "supervision-export", "--config", path, "--date", "2026-11-20", "--format", "xml", "--out", "x")
	if code != 2 || !strings.Contains(stderr, "json or csv") {
		t.Fatalf("bad format: %d %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "cases", "supervision-export", "--config", path, "--date", "20.11.2026", "--out", filepath.Join(t.TempDir(), "x"))
	if code != 2 || !strings.Contains(stderr, "YYYY-MM-DD") {
		t.Fatalf("bad date: %d %s", code, stderr)
	}
}
