package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/internal/secret"
)

// loadTicketKey reads the hall's ticket-check key (ctl.TicketKeyFile in
// the state directory), creating it with 32 random bytes, mode 0600, on
// first start (secret.Create), and refused when group or others can read
// it. The key signs the links printed in tickets' QR codes: a
// new key makes every printed link invalid, so it is kept, never rotated
// silently.
func loadTicketKey(stateDir string) ([]byte, error) {
	return loadKeyFile(stateDir, ctl.TicketKeyFile, "ticket-check key")
}

// loadCaseKey reads the hall's case-check key (ctl.CaseKeyFile), made
// like the ticket-check key: it keys the check codes printed on case
// receipts (a key of its own, one per purpose).
func loadCaseKey(stateDir string) ([]byte, error) {
	return loadKeyFile(stateDir, ctl.CaseKeyFile, "case-check key")
}

// loadKeyFile reads the key file name in stateDir (what names it in
// errors), creating it with 32 random bytes, mode 0600, on first start.
func loadKeyFile(stateDir, name, what string) ([]byte, error) {
	path := filepath.Join(stateDir, name)
	b, err := secret.Read(path)
	if err == nil {
		key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(key) < 16 {
			return nil, fmt.Errorf("%s %s is not 16 or more hex-encoded bytes; remove it to make a new one (printed codes stop working)", what, path)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// Create is O_EXCL: two starts racing on a new state directory keep
	// one key.
	if err := secret.Create(path, []byte(hex.EncodeToString(key)+"\n")); err != nil {
		if secret.IsExist(err) {
			return loadKeyFile(stateDir, name, what)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return key, nil
}
