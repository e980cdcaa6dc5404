package ptypair

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/servicehall/servicehall/firmware-agent/serialport"
)

func TestBytesPassRawBothWays(t *testing.T) {
	p, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	port, err := serialport.Open(context.Background(), p.Path(), 9600)
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	out := []byte{0x1b, 0x40, 0x0a, 0x0d, 0x03, 0x11, 0x13, 0xff}
	if _, err := port.Write(out); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(out))
	if _, err := io.ReadFull(p.Master, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, out) {
		t.Fatalf("driver→emulator: got % x want % x", got, out)
	}
	if _, err := p.Master.Write([]byte{0x12, 0x0d, 0x0a}); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, 3)
	if _, err := io.ReadFull(port, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, []byte{0x12, 0x0d, 0x0a}) {
		t.Fatalf("emulator→driver: got % x", back)
	}
	if _, err := serialport.Open(context.Background(), p.Path(), 9600); err == nil {
		t.Fatal("second open of a locked port succeeded")
	}
}
