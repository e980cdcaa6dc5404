// Package ptypair makes pseudo-terminal pairs for device emulators: the
// emulator owns the master side and speaks the device's protocol on it; the
// driver opens the slave path like any serial port (/dev/pts/N).
package ptypair

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Pair is an open pseudo-terminal. The slave stays open here too, so the
// master never reads EIO while a driver closes and reopens the port
// (an "unplug" is simulated by the emulator, not by closing the slave).
type Pair struct {
	Master *os.File
	slave  *os.File
}

// Open creates a pair with the slave in raw mode.
func Open() (*Pair, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	if err := makeRaw(int(s.Fd())); err != nil {
		m.Close()
		s.Close()
		return nil, fmt.Errorf("raw pty: %w", err)
	}
	return &Pair{Master: m, slave: s}, nil
}

// Path is the slave device a driver opens.
func (p *Pair) Path() string { return p.slave.Name() }

// Close closes both sides.
func (p *Pair) Close() error {
	err := p.Master.Close()
	if e := p.slave.Close(); err == nil {
		err = e
	}
	return err
}

func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
