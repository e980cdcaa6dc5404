//go:build !linux

package cli

import (
	"errors"
	"os"
)

func isTerminal(*os.File) bool { return false }

func readNoEcho(*os.File) (string, error) {
	return "", errors.New("no terminal support: pipe the password on stdin")
}
