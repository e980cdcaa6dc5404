package store

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Issue 10, "database files are created 0644": the agent's state database
// and its -wal/-shm files are readable by their owner only.
func TestStateDBIs0600(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits")
	}
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.db.ExecContext(context.Background(), `INSERT INTO meta(k,v) VALUES('mode-test','1')`); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), FileName) {
			continue
		}
		n++
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", e.Name(), m)
		}
	}
	if n < 2 {
		t.Errorf("only %d database files seen; want the database and its WAL", n)
	}
}
