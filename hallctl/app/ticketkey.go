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
)

// loadTicketKey reads the hall's ticket-check key (ctl.TicketKeyFile in
// the state directory), creating it with 32 random bytes, mode 0600, on
// first start. The key signs the links printed in tickets' QR codes: a
// new key makes every printed link invalid, so it is kept, never rotated
// silently.
func loadTicketKey(stateDir string) ([]byte, error) {
	path := filepath.Join(stateDir, ctl.TicketKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(key) < 16 {
			return nil, fmt.Errorf("ticket-check key %s is not 16 or more hex-encoded bytes; remove it to make a new one (printed QR links stop working)", path)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("ticket-check key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("ticket-check key: %w", err)
	}
	// O_EXCL: two starts racing on a new state directory keep one key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return loadTicketKey(stateDir)
		}
		return nil, fmt.Errorf("create ticket-check key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	if serr := f.Sync(); werr == nil {
		werr = serr
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write ticket-check key %s: %w", path, werr)
	}
	return key, nil
}
