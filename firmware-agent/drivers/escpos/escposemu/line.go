package escposemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/servicehall/servicehall/firmware-agent/ptypair"
)

// Line plugs an Emulator into a pseudo-terminal reachable at a fixed path
// (a symlink to the current /dev/pts/N, like socat's link=), so a driver
// configured with that path survives Unplug/Replug exactly as with a USB
// printer that comes back under /dev/serial/by-id.
type Line struct {
	emu  *Emulator
	link string

	mu     sync.Mutex
	ctx    context.Context
	pair   *ptypair.Pair
	master *os.File // non-blocking dup of pair.Master, so Close ends a Read
	served chan error
}

// Plug creates the pty, points link at it and serves e on the master until
// ctx ends or Unplug. link's directory must exist.
func Plug(ctx context.Context, e *Emulator, link string) (*Line, error) {
	l := &Line{emu: e, link: link, ctx: ctx}
	if err := l.Replug(); err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { l.Unplug() })
	return l, nil
}

// Path is the stable path a driver opens.
func (l *Line) Path() string { return l.link }

// Replug attaches a fresh pty (after Unplug; a no-op when plugged).
func (l *Line) Replug() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pair != nil {
		return nil
	}
	if l.ctx.Err() != nil {
		return l.ctx.Err()
	}
	p, err := ptypair.Open()
	if err != nil {
		return fmt.Errorf("escposemu: %w", err)
	}
	tmp := l.link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(p.Path(), tmp); err != nil {
		p.Close()
		return fmt.Errorf("escposemu: link: %w", err)
	}
	if err := os.Rename(tmp, l.link); err != nil {
		p.Close()
		return fmt.Errorf("escposemu: link: %w", err)
	}
	m, err := pollable(p.Master)
	if err != nil {
		p.Close()
		return fmt.Errorf("escposemu: %w", err)
	}
	l.pair, l.master = p, m
	done := make(chan error, 1)
	l.served = done
	go func() { done <- l.emu.Serve(l.ctx, m) }()
	return nil
}

// Unplug closes the pty: the driver's reads fail (EIO) and the link
// dangles until Replug, as when a USB cable is pulled.
func (l *Line) Unplug() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pair == nil {
		return nil
	}
	l.master.Close()
	err := l.pair.Close()
	<-l.served
	l.pair, l.master = nil, nil
	return err
}

// Close unplugs and removes the link.
func (l *Line) Close() error {
	err := l.Unplug()
	if e := os.Remove(l.link); e != nil && !errors.Is(e, os.ErrNotExist) && err == nil {
		err = e
	}
	return err
}

// LinkIn returns the conventional link path in dir ("printer.tty").
func LinkIn(dir string) string { return filepath.Join(dir, "printer.tty") }

// pollable returns a non-blocking duplicate of a pty master. creack/pty
// leaves the master in blocking mode (it calls Fd()), and a blocking Read
// is not interrupted by Close; a non-blocking fd goes through Go's poller.
func pollable(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.Dup(int(s)) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}
