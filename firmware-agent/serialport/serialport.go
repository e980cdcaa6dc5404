// Package serialport opens serial lines for drivers: go.bug.st/serial with
// an exclusive flock (the library takes none, and a port has one owner:
// the screens of an RS-485 chain share it through the led driver's line,
// never by opening it twice), modem-line errors treated as non-fatal
// (pseudo-terminals refuse them), and a Reopen loop with backoff for
// unplug/replug.
package serialport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	"go.bug.st/serial"
)

// ErrBusy means another process or driver holds the port.
var ErrBusy = errors.New("serial port in use")

// Port is an open, locked serial line.
type Port struct {
	serial.Port
	lock *os.File
	path string
}

// Open opens path at baud (0 = 9600), 8N1, and takes an exclusive,
// non-blocking flock on the device node.
func Open(ctx context.Context, path string, baud int) (*Port, error) {
	if baud == 0 {
		baud = 9600
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open serial %s: %w", path, err)
	}
	lf, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("lock serial %s: %w", path, err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("%w: %s", ErrBusy, path)
	}
	p, err := serial.Open(path, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("open serial %s: %w", path, err)
	}
	return &Port{Port: p, lock: lf, path: path}, nil
}

// Path is the device path the port was opened with.
func (p *Port) Path() string { return p.path }

// Close closes the line and releases the lock.
func (p *Port) Close() error {
	err := p.Port.Close()
	if p.lock != nil {
		p.lock.Close()
	}
	return err
}

// Backoff is the reconnect schedule: Min doubling up to Max.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff waits 250 ms, then doubles to at most 10 s.
var DefaultBackoff = Backoff{Min: 250 * time.Millisecond, Max: 10 * time.Second}

// Next returns the delay after d.
func (b Backoff) Next(d time.Duration) time.Duration {
	if d < b.Min {
		return b.Min
	}
	d *= 2
	if d > b.Max {
		d = b.Max
	}
	return d
}

// Sleep waits d on clock or until ctx is done; false when ctx ended.
func Sleep(ctx context.Context, clock clockwork.Clock, d time.Duration) bool {
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.Chan():
		return true
	}
}
