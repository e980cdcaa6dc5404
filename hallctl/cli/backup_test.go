package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/hallctl/web"
)

// writeKeys puts key files in stateDir as a running hall has them.
func writeKeys(t *testing.T, stateDir string) map[string]string {
	t.Helper()
	keys := map[string]string{
		web.SecretFileName:           "hall-secret-0123456789abcdef",
		ctl.TicketKeyFile:            "ticket-key-0123456789abcdef",
		ctl.CaseKeyFile:              "case-key-0123456789abcdef",
		auth.KeyDir + "/k-2026.json": `{"kid":"k-2026"}`,
		auth.KeyDir + "/k-2027.json": `{"kid":"k-2027"}`,
	}
	for name, v := range keys {
		p := filepath.Join(stateDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func readSeqs(t *testing.T, dbPath string) []int64 {
	t.Helper()
	r, err := store.OpenReadOnly(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var seqs []int64
	if err := r.Read(context.Background(), "", 0, func(rec store.Record) error { seqs = append(seqs, rec.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	return seqs
}

// A backup taken while writers commit holds every record acknowledged
// before it began (and a consistent prefix of the log); restore refuses
// while the log is open, and puts the log and the keys in a fresh state
// directory.
func TestBackupWhileWritingAndRestore(t *testing.T) {
	ctx := context.Background()
	cfg, stateDir := hallFile(t)
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	keys := writeKeys(t, stateDir)
	st, err := store.Open(ctx, filepath.Join(stateDir, "hallctl.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var mu sync.Mutex
	var acked []int64
	stop := make(chan struct{})
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				seqs, err := st.Append(ctx, store.Record{Stream: "queue", Type: "ticket-issued", Key: fmt.Sprintf("w%d-%d", w, i), Data: []byte(`{"n":1}`)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, seqs[0])
				if len(acked) >= 300 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	<-enough
	mu.Lock()
	before := append([]int64(nil), acked...)
	mu.Unlock()
	out := filepath.Join(t.TempDir(), "hall.tar.gz")
	code, stdout, stderr := runCLI(t, "backup", "--config", cfg, "--out", out)
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	if code != 0 || !strings.Contains(stdout, "6 files") {
		t.Fatalf("backup: exit %d %q %q", code, stdout, stderr)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	// Restore refuses while the log is open (as under hallctl serve).
	if code, _, stderr := runCLI(t, "restore", "--config", cfg, "--in", out); code != 1 || !strings.Contains(stderr, "stop it first") {
		t.Fatalf("restore beside a running log: exit %d %q", code, stderr)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d records acknowledged before the backup, %d while it ran", len(before), during)
	if code, _, _ := runCLI(t, "backup", "--config", cfg, "--out", out); code != 1 {
		t.Fatal("backup over an existing file")
	}

	cfg2, stateDir2 := hallFile(t)
	code, stdout, stderr = runCLI(t, "restore", "--config", cfg2, "--in", out)
	if code != 0 || !strings.Contains(stdout, "restored hall cli") || strings.Contains(stdout, "replaced") {
		t.Fatalf("restore: exit %d %q %q", code, stdout, stderr)
	}
	seqs := readSeqs(t, filepath.Join(stateDir2, "hallctl.db"))
	have := map[int64]bool{}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("restored log is not a prefix: seq %d at %d", s, i)
		}
		have[s] = true
	}
	for _, s := range before {
		if !have[s] {
			t.Fatalf("acknowledged record %d missing from the backup (%d records)", s, len(seqs))
		}
	}
	for name, v := range keys {
		p := filepath.Join(stateDir2, filepath.FromSlash(name))
		b, err := os.ReadFile(p)
		fi, _ := os.Stat(p)
		if err != nil || string(b) != v || fi.Mode().Perm() != 0o600 {
			t.Fatalf("restored %s: %q %v", name, b, err)
		}
	}
	// The restored log opens read-write and goes on.
	l, err := store.Open(ctx, filepath.Join(stateDir2, "hallctl.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := l.Append(ctx, store.Record{Stream: "queue", Type: "after-restore"}); n[0] != int64(len(seqs)+1) {
		t.Fatalf("append after restore: %v", n)
	}
	l.Close()

	// Restoring over existing state keeps it aside.
	code, stdout, _ = runCLI(t, "restore", "--config", cfg2, "--in", out)
	if code != 0 || !strings.Contains(stdout, "pre-restore-") {
		t.Fatalf("second restore: exit %d %q", code, stdout)
	}
	if got := readSeqs(t, filepath.Join(stateDir2, "hallctl.db")); len(got) != len(seqs) {
		t.Fatalf("second restore: %d records, want %d", len(got), len(seqs))
	}
}

// writeArchive writes a .tar.gz of members (name → content), in order.
func writeArchive(t *testing.T, names []string, members map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		b := members[n]
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A damaged, foreign or too-new backup is refused and the state
// directory is left as it was.
func TestRestoreRefusesBadBackups(t *testing.T) {
	ctx := context.Background()
	// A real event log, then the same with a newer schema version.
	dbDir := t.TempDir()
	l, err := store.Open(ctx, filepath.Join(dbDir, "good.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Append(ctx, store.Record{Stream: "queue", Type: "x"})
	l.Close()
	good, _ := os.ReadFile(filepath.Join(dbDir, "good.db"))
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dbDir, "good.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Exec("PRAGMA user_version = 99")
	db.Close()
	newer, _ := os.ReadFile(filepath.Join(dbDir, "good.db"))
	manifest := func(hall string, files ...string) []byte {
		b, _ := json.Marshal(backupManifest{Format: 1, Hall: hall, Created: time.Now(), Schema: 1, Files: files})
		return b
	}
	garbage := bytes.Repeat([]byte("not sqlite "), 500)

	cfg, stateDir := hallFile(t)
	for name, c := range map[string]struct {
		in   string
		want string
	}{
		"not gzip":   {writeGarbage(t), "not a hallctl backup"},
		"corrupt db": {writeArchive(t, []string{"backup.json", "hallctl.db"}, map[string][]byte{"backup.json": manifest("cli", "hallctl.db"), "hallctl.db": garbage}), "verify event log"},
		"newer":      {writeArchive(t, []string{"backup.json", "hallctl.db"}, map[string][]byte{"backup.json": manifest("cli", "hallctl.db"), "hallctl.db": newer}), "schema version 99"},
		"other hall": {writeArchive(t, []string{"backup.json", "hallctl.db"}, map[string][]byte{"backup.json": manifest("elsewhere", "hallctl.db"), "hallctl.db": good}), `hall "elsewhere"`},
		"escape": {writeArchive(t, []string{"backup.json", "hallctl.db", "../evil"},
			map[string][]byte{"backup.json": manifest("cli", "hallctl.db"), "hallctl.db": good, "../evil": []byte("x")}), `unexpected member "../evil"`},
		"truncated": {writeArchive(t, []string{"backup.json", "hallctl.db"},
			map[string][]byte{"backup.json": manifest("cli", "hallctl.db", "hall.secret"), "hallctl.db": good}), "hall.secret is missing"},
	} {
		code, _, stderr := runCLI(t, "restore", "--config", cfg, "--in", c.in)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d %q, want %q", name, code, stderr, c.want)
		}
	}
	ents, _ := os.ReadDir(stateDir)
	for _, e := range ents {
		if e.Name() != "hallctl.db.lock" {
			t.Errorf("refused restores left %s in the state directory", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(stateDir), "evil")); err == nil {
		t.Error("a member escaped the staging directory")
	}
}

func writeGarbage(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "junk.tar.gz")
	os.WriteFile(p, []byte("junk"), 0o600)
	return p
}
