package pins

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

// Press pushes an emulated pull-up button: Low, held for hold, then High.
func Press(ctx context.Context, clock clockwork.Clock, name string, hold time.Duration) error {
	if err := Set(name, gpio.Low); err != nil {
		return err
	}
	t := clock.NewTimer(hold)
	defer t.Stop()
	select {
	case <-t.Chan():
	case <-ctx.Done():
	}
	return Set(name, gpio.High)
}

// ServeControl makes a named pipe at path through which people and tests
// outside the process press emulated buttons: every line written to it is
// passed to press (e.g. `echo > STATE_DIR/btn-1/press`, or
// `echo 5 > STATE_DIR/pad-8/press` for a rating pad's level 5). It returns
// when ctx ends and removes the pipe.
func ServeControl(ctx context.Context, path string, press func(line string) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("control pipe: %w", err)
	}
	_ = os.Remove(path)
	if err := syscall.Mkfifo(path, 0o620); err != nil {
		return fmt.Errorf("control pipe %s: %w", path, err)
	}
	defer os.Remove(path)
	// Opened read-write, the pipe always has a writer (us), so the reader
	// never sees EOF between two writers: closing and reopening it there
	// would throw away a line written in between.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("control pipe %s: %w", path, err)
	}
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() && ctx.Err() == nil {
		_ = press(strings.TrimSpace(sc.Text()))
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("control pipe %s: %w", path, err)
	}
	return nil
}
