package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/internal/secret"
)

// Bearer tokens are hallctl/auth's JWTs; these names keep the web layer's
// vocabulary. Kiosk pages need no token on the hall network; a kiosk token
// is accepted where one is sent.
const (
	RoleKiosk   = auth.RoleKiosk
	RoleClerk   = auth.RoleClerk
	RoleManager = auth.RoleManager
	RoleAdmin   = auth.RoleAdmin
)

// Claims is what a bearer token says (auth.Claims).
type Claims = auth.Claims

// Token errors.
var (
	ErrBadToken     = auth.ErrBadToken
	ErrTokenExpired = auth.ErrTokenExpired
	ErrTokenRevoked = auth.ErrTokenRevoked
	ErrBadRole      = auth.ErrBadRole
	// ErrSessionEnded refuses the token of a signed-out staff session.
	ErrSessionEnded = errors.New("the session was signed out")
)

// ValidRole reports whether r is a role.
func ValidRole(r string) bool { return auth.ValidRole(r) }

// authenticate is the web layer's one token check: the signature, claims
// and expiry (auth.Keys.Parse), then revocation — a token whose subject
// an admin disabled is refused with ErrTokenRevoked. Bearer headers and
// the browser session both go through it.
func (s *server) authenticate(tok string) (Claims, error) {
	c, err := s.o.Keys.Parse(tok, s.c.Now())
	if err != nil {
		return Claims{}, err
	}
	if s.c.SubjectDisabled(c.Subject) {
		s.o.Keys.Refused("revoked")
		return Claims{}, ErrTokenRevoked
	}
	if s.c.SessionEnded(c.Session) { // signed out (signin.go, ctl.EndSession)
		s.o.Keys.Refused("signed_out")
		return Claims{}, ErrSessionEnded
	}
	return c, nil
}

// tokenProblem is the problem code for a refused token.
func tokenProblem(err error) string {
	switch {
	case errors.Is(err, ErrTokenExpired):
		return "token_expired"
	case errors.Is(err, ErrTokenRevoked):
		return "token_revoked"
	case errors.Is(err, ErrSessionEnded):
		return "session_ended"
	}
	return "unauthorized"
}

// SecretFileName is the generated hall secret inside the state directory.
// The hall secret is the ID-hash key kiosks hold (agent.secret_file); it
// signs no token.
const SecretFileName = "hall.secret"

// LoadSecret reads the hall secret from file (server.secret_file) or, when
// file is empty, from stateDir/hall.secret; with create, a missing
// state-dir secret is generated (32 random bytes, hex) and written 0600.
// A secret file that group or others can access is refused.
func LoadSecret(file, stateDir string, create bool) ([]byte, error) {
	if file != "" {
		b, err := secret.Read(file)
		if err != nil {
			return nil, fmt.Errorf("hall secret (server.secret_file): %w", err)
		}
		s := strings.TrimSpace(string(b))
		if len(s) < 16 {
			return nil, fmt.Errorf("hall secret %s is shorter than 16 bytes", file)
		}
		return []byte(s), nil
	}
	path := filepath.Join(stateDir, SecretFileName)
	b, err := secret.Read(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if errors.Is(err, secret.ErrExposed) {
		return nil, fmt.Errorf("hall secret: %w", err)
	}
	if !create {
		if err == nil {
			err = errors.New("too short")
		}
		return nil, fmt.Errorf("hall secret %s: %w (start hallctl serve once, or set server.secret_file)", path, err)
	}
	if err == nil {
		return nil, fmt.Errorf("hall secret %s is shorter than 16 bytes; remove it to make a new one", path)
	}
	var r [32]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, err
	}
	s := hex.EncodeToString(r[:])
	if err := secret.Create(path, []byte(s+"\n")); err != nil {
		if secret.IsExist(err) {
			return LoadSecret(file, stateDir, false)
		}
		return nil, fmt.Errorf("write hall secret: %w", err)
	}
	return []byte(s), nil
}
