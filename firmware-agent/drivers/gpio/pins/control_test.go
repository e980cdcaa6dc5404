package pins

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestServeControlPassesLinesAndCleansUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev", "press")
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 100)
	done := make(chan error, 1)
	go func() { done <- ServeControl(ctx, path, func(l string) error { got <- l; return nil }) }()
	// Wait for the pipe to exist (created by the goroutine).
	for i := 0; ; i++ {
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
			break
		}
		if i > 500 {
			t.Fatal("control pipe never appeared")
		}
		time.Sleep(2 * time.Millisecond) // waiting for a file another goroutine creates
	}
	for _, batch := range []string{"5\n", "\n3\n"} {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(batch)
		f.Close()
	}
	for _, want := range []string{"5", "", "3"} {
		select {
		case l := <-got:
			if l != want {
				t.Fatalf("line %q, want %q", l, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("line %q never arrived", want)
		}
	}
	// Writers one right after another: none of their lines may be lost
	// while the reader moves from one writer to the next.
	for i := 0; i < 50; i++ {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("x\n")
		f.Close()
	}
	for i := 0; i < 50; i++ {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of 50 back-to-back presses arrived", i)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeControl did not return on cancel")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("pipe left behind: %v", err)
	}
}
