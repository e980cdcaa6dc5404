package web

import (
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/auth"
)

// FuzzParseToken: any bearer string is refused or parsed, never a panic,
// and only a correctly signed token parses.
func FuzzParseToken(f *testing.F) {
	keys := auth.Memory("fuzz", map[string][]byte{"k0001-fuzz": []byte("fuzz-secret-0123456789abcdef0123")})
	now := time.Now()
	good, err := keys.Sign(Claims{Role: RoleClerk, Window: 3, Subject: "c3", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add(".")
	f.Add("eyJyIjoiYWRtaW4ifQ.")
	f.Add("eyJyIjoiYWRtaW4ifQ.AAAA")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := keys.Parse(tok, now)
		if err == nil {
			if !ValidRole(c.Role) || c.Subject == "" || c.Expires == 0 {
				t.Fatalf("accepted %q as %+v", tok, c)
			}
			if re, err := keys.Sign(c); re == "" || err != nil {
				t.Fatalf("parsed claims do not re-sign: %+v %v", c, err)
			}
		}
	})
}
