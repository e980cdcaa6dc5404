package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The roles of DESIGN.md. Kiosk pages need no token on the hall network;
// a kiosk token is accepted where one is sent.
const (
	RoleKiosk   = "kiosk"
	RoleClerk   = "clerk"
	RoleManager = "manager"
	RoleAdmin   = "admin"
)

// Claims is what a bearer token says.
type Claims struct {
	Role    string `json:"r"`
	Window  int    `json:"w,omitempty"` // clerk tokens: the window they act for
	Subject string `json:"s,omitempty"` // staff id shown in the audit log
	Issued  int64  `json:"iat"`
	Expires int64  `json:"exp"`
}

// Token errors.
var (
	ErrBadToken     = errors.New("malformed or wrongly signed token")
	ErrTokenExpired = errors.New("token expired")
	ErrBadRole      = errors.New("role must be kiosk, clerk, manager or admin")
)

// ValidRole reports whether r is a role.
func ValidRole(r string) bool {
	switch r {
	case RoleKiosk, RoleClerk, RoleManager, RoleAdmin:
		return true
	}
	return false
}

// NewToken signs claims with the hall secret: base64url(JSON) "." base64url(HMAC-SHA256).
func NewToken(secret []byte, c Claims) (string, error) {
	if !ValidRole(c.Role) {
		return "", ErrBadRole
	}
	if c.Role == RoleClerk && c.Window <= 0 {
		return "", errors.New("a clerk token needs a window (--window N)")
	}
	if len(secret) < 16 {
		return "", errors.New("hall secret is shorter than 16 bytes")
	}
	b, _ := json.Marshal(c)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + sign(secret, p), nil
}

func sign(secret []byte, p string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(p))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ParseToken verifies a token's signature and expiry.
func ParseToken(secret []byte, tok string, now time.Time) (Claims, error) {
	p, s, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 2048 || !hmac.Equal([]byte(s), []byte(sign(secret, p))) {
		return Claims{}, ErrBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return Claims{}, ErrBadToken
	}
	var c Claims
	if err := json.Unmarshal(b, &c); err != nil || !ValidRole(c.Role) {
		return Claims{}, ErrBadToken
	}
	if c.Expires != 0 && now.Unix() >= c.Expires {
		return Claims{}, ErrTokenExpired
	}
	return c, nil
}

// SecretFileName is the generated hall secret inside the state directory.
const SecretFileName = "hall.secret"

// LoadSecret reads the hall secret from file (server.secret_file) or, when
// file is empty, from stateDir/hall.secret; with create, a missing
// state-dir secret is generated (32 random bytes, hex) and written 0600.
func LoadSecret(file, stateDir string, create bool) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
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
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if !create {
		if err == nil {
			err = errors.New("too short")
		}
		return nil, fmt.Errorf("hall secret %s: %w (start hallctl serve once, or set server.secret_file)", path, err)
	}
	var r [32]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, err
	}
	s := hex.EncodeToString(r[:])
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write hall secret: %w", err)
	}
	return []byte(s), nil
}
