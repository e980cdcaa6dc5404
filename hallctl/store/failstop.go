package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrFailed is returned by every write after the event log failed to make a
// write durable (a full disk, a read-only or vanished file, an I/O error).
// Later writes could depend on the lost one, so the log stops accepting
// writes until it is reopened: a restart rebuilds state from what is on disk.
var ErrFailed = errors.New("event log failed")

// failure records the first I/O failure; later writes fail with it.
func (l *Log) fail(cause error) {
	err := fmt.Errorf("%w: %s: %w", ErrFailed, l.where(), cause)
	if l.failure.CompareAndSwap(nil, &err) {
		l.log.Error("event log failed; it refuses writes until restarted", "path", l.path, "err", cause,
			"free_bytes", FreeBytes(filepath.Dir(l.path)))
	}
}

// where describes the file and the free space beside it, for error messages.
func (l *Log) where() string {
	free := FreeBytes(filepath.Dir(l.path))
	if free < 0 {
		return l.path
	}
	return fmt.Sprintf("%s (%s free)", l.path, humanBytes(free))
}

// Err is the failure that stopped the log, nil while it is healthy.
func (l *Log) Err() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// Check verifies that the database file is still the one opened (not
// deleted or replaced while running) and that the log has not failed. A
// caller runs it periodically and treats an error as fatal.
func (l *Log) Check() error {
	if err := l.Err(); err != nil {
		return err
	}
	fi, err := os.Stat(l.path)
	switch {
	case err != nil:
		l.fail(fmt.Errorf("database file is gone: %w", err))
	case l.fileInfo != nil && !os.SameFile(fi, l.fileInfo):
		l.fail(errors.New("database file was replaced while running"))
	}
	return l.Err()
}

// FreeBytes is the space available to this process on the file system of
// dir, or -1 when it cannot be read.
func FreeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// isLogical reports whether a request's error is about the request itself
// (a duplicate key, invalid input), not about the log's ability to write.
func isLogical(err error) bool {
	return errors.Is(err, ErrDuplicateKey) || errors.Is(err, ErrInvalid)
}
