package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/servicehall/servicehall/hallctl/store"
)

// A read-only open reads what a running log appends, takes no lock, and
// refuses a file that is not an event log.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "hallctl.db")
	l, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, store.Record{Stream: "queue", Type: "issued", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	r, err := store.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, store.Record{Stream: "rating", Type: "rated", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	var types []string
	if err := r.Read(ctx, "", 0, func(rec store.Record) error { types = append(types, rec.Type); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(types) != 2 || types[0] != "issued" || types[1] != "rated" {
		t.Fatalf("read %v, want [issued rated]", types)
	}
	if n, err := r.LastSeq(ctx, "rating"); err != nil || n != 2 {
		t.Fatalf("LastSeq = %d, %v", n, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Read(ctx, "", 0, func(store.Record) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("read after close: %v, want ErrClosed", err)
	}
	if _, err := store.OpenReadOnly(ctx, filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	other := filepath.Join(dir, "other.db")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenReadOnly(ctx, other); !errors.Is(err, store.ErrSchema) {
		t.Fatalf("empty file: %v, want ErrSchema", err)
	}
}
