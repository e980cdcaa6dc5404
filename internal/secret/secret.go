// Package secret reads and creates the files that hold keys and
// passwords: one file per purpose, mode 0600 in a 0700 directory when this
// package creates it, and refused when group or world may read or write
// it, with an error that names the file and the chmod that fixes it.
//
// Errors never contain a file's content.
package secret

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// ErrExposed is returned (wrapped) for a secret file that group or world
// may access.
var ErrExposed = errors.New("secret file is accessible to group or others")

// Check refuses a secret file whose mode has group or world bits, or that
// is not a regular file. On Windows, which has no such bits, it only checks
// that the file exists.
func Check(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("secret file %s is not a regular file", path)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o; run: chmod 600 %s", ErrExposed, path, perm, path)
	}
	return nil
}

// Read returns the content of the secret file at path after Check.
func Read(path string) ([]byte, error) {
	if err := Check(path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	return b, nil
}

// Create writes data to a new file at path, mode 0600, creating missing
// parent directories with mode 0700. It fails with fs.ErrExist (wrapped)
// when the file exists, so two processes racing keep one secret. A failed
// write leaves no file behind.
func Create(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create secret %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create secret %s: %w", path, err)
	}
	_, werr := f.Write(data)
	if serr := f.Sync(); werr == nil {
		werr = serr
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return fmt.Errorf("write secret %s: %w", path, werr)
	}
	return nil
}

// IsExist reports whether err is Create's "file exists".
func IsExist(err error) bool { return errors.Is(err, fs.ErrExist) }
