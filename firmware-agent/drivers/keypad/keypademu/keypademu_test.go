package keypademu

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestPressCodesAndUnplug(t *testing.T) {
	link := filepath.Join(t.TempDir(), "kp")
	e, err := New(link)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := os.Readlink(link); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(link, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := e.Press("N", "0x81", "7"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3)
	if _, err := io.ReadFull(f, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "N\x817" {
		t.Fatalf("got % x", got)
	}
	if err := e.Press("NEXT"); err == nil {
		t.Fatal("multi-char code accepted")
	}
	if err := e.Unplug(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("link still there: %v", err)
	}
	if err := e.Type("1"); !errors.Is(err, ErrUnplugged) {
		t.Fatalf("send unplugged: %v", err)
	}
	if err := e.Replug(); err != nil {
		t.Fatal(err)
	}
	if !e.Plugged() {
		t.Fatal("not plugged after Replug")
	}
	if _, err := os.Readlink(link); err != nil {
		t.Fatal(err)
	}
}
