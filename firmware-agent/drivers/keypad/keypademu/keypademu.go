// Package keypademu emulates a caller keypad (呼叫器) on a pseudo-terminal,
// speaking the servicehall keypad protocol of package keypad: it "presses"
// keys (one byte each, or one line each in line framing), types digits,
// sends garbage, and can be unplugged and plugged back in.
//
// The driver opens Path, a stable symlink to the current /dev/pts/N (like a
// /dev/serial/by-id link): Unplug closes the pty, so the driver's reads fail,
// and removes the link; Replug makes a new pty and points the link at it.
// The same Emulator serves any one-way serial device that only sends bytes
// to the host (the QR scanner emulator wraps it).
package keypademu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/servicehall/servicehall/firmware-agent/ptypair"
)

// ErrUnplugged is returned when sending while unplugged.
var ErrUnplugged = errors.New("emulator unplugged")

// Emulator is a device on a pty behind a stable link.
type Emulator struct {
	mu   sync.Mutex
	link string
	pair *ptypair.Pair
}

// New plugs in a device whose link is created at link (its directory must
// exist; an old link there is replaced).
func New(link string) (*Emulator, error) {
	e := &Emulator{link: link}
	if err := e.Replug(); err != nil {
		return nil, err
	}
	return e, nil
}

// Path is the stable link the driver opens.
func (e *Emulator) Path() string { return e.link }

// Replug plugs the device (back) in on a fresh pty. It is a no-op when
// already plugged in.
func (e *Emulator) Replug() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pair != nil {
		return nil
	}
	p, err := ptypair.Open()
	if err != nil {
		return fmt.Errorf("keypad emulator: %w", err)
	}
	tmp := e.link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(p.Path(), tmp); err != nil {
		p.Close()
		return fmt.Errorf("keypad emulator: link: %w", err)
	}
	if err := os.Rename(tmp, e.link); err != nil {
		p.Close()
		return fmt.Errorf("keypad emulator: link: %w", err)
	}
	// Nothing reads the master: a keypad never listens, and a blocked
	// read would keep the fd open past Unplug.
	e.pair = p
	return nil
}

// Unplug pulls the cable: the pty closes and the link disappears.
func (e *Emulator) Unplug() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pair == nil {
		return nil
	}
	_ = os.Remove(e.link)
	err := e.pair.Close()
	e.pair = nil
	return err
}

// Plugged reports whether the device is plugged in.
func (e *Emulator) Plugged() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pair != nil
}

// Send writes raw bytes to the host.
func (e *Emulator) Send(b []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pair == nil {
		return ErrUnplugged
	}
	_, err := e.pair.Master.Write(b)
	return err
}

// Press sends keys in byte framing: each code is one byte, given as a
// single character ("N") or in hex ("0x81").
func (e *Emulator) Press(codes ...string) error {
	var b []byte
	for _, c := range codes {
		k, err := code(c)
		if err != nil {
			return err
		}
		b = append(b, k)
	}
	return e.Send(b)
}

// Type sends digits (or any text) byte by byte, e.g. "12" before "T".
func (e *Emulator) Type(s string) error { return e.Send([]byte(s)) }

// Line sends one line in line framing ("XFER 12") ended by CRLF.
func (e *Emulator) Line(s string) error { return e.Send([]byte(s + "\r\n")) }

// Garbage are bytes no keypad map uses: line noise on a long RS-232 run.
var Garbage = []byte{0x00, 0xff, 0x1b, 0x7f, 0x80, 0xfe, 0x07, '#', '?', 0x95}

// SendGarbage sends n bytes of line noise.
func (e *Emulator) SendGarbage(n int) error {
	b := make([]byte, n)
	for i := range b {
		b[i] = Garbage[i%len(Garbage)]
	}
	return e.Send(b)
}

// Close unplugs for good and removes the link.
func (e *Emulator) Close() error { return e.Unplug() }

func code(c string) (byte, error) {
	if len(c) == 1 {
		return c[0], nil
	}
	var v byte
	if _, err := fmt.Sscanf(c, "0x%02x", &v); err == nil && len(c) == 4 {
		return v, nil
	}
	return 0, fmt.Errorf("key code %q is not one character or 0xNN", c)
}

// TempLink returns a link path in a fresh temporary directory, for emulate
// mode and tests; remove the directory when done.
func TempLink(name string) (string, error) {
	dir, err := os.MkdirTemp("", "servicehall-emu-")
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}
