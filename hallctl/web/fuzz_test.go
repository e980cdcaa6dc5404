package web

import (
	"testing"
	"time"
)

// FuzzParseToken: any bearer string is refused or parsed, never a panic,
// and only a correctly signed token parses.
func FuzzParseToken(f *testing.F) {
	secret := []byte("fuzz-secret-0123456789abcdef")
	good, _ := NewToken(secret, Claims{Role: RoleClerk, Window: 3, Expires: time.Now().Add(time.Hour).Unix()})
	f.Add(good)
	f.Add("")
	f.Add(".")
	f.Add("eyJyIjoiYWRtaW4ifQ.")
	f.Add("eyJyIjoiYWRtaW4ifQ.AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := ParseToken(secret, tok, time.Now())
		if err == nil {
			if tok != good && !ValidRole(c.Role) {
				t.Fatalf("accepted %q as %+v", tok, c)
			}
			if re, _ := NewToken(secret, c); re == "" && c.Role != RoleClerk {
				t.Fatalf("parsed claims do not re-sign: %+v", c)
			}
		}
	})
}
