package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicehall/servicehall/hallctl/auth"
)

var t0 = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)

func ring(t *testing.T) (*auth.Keys, string, []byte) {
	t.Helper()
	key := []byte("0123456789abcdef0123456789abcdef")
	return auth.Memory("h1", map[string][]byte{"k1": key}), "k1", key
}

// raw signs arbitrary claims and headers, as an attacker (or an old
// minting tool) could.
func raw(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tk := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tk.Header["kid"] = kid
	}
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func good() jwt.MapClaims {
	return jwt.MapClaims{"iss": auth.Issuer, "aud": auth.Audience("h1"), "sub": "m01", "role": "manager",
		"iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix()}
}

func with(m jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for a, b := range m {
		out[a] = b
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestSignParse(t *testing.T) {
	k, _, _ := ring(t)
	tok, err := k.Sign(auth.Claims{Role: auth.RoleClerk, Window: 4, Subject: "工号1024", Issued: t0.Unix(), Expires: t0.Add(12 * time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.Parse(tok, t0.Add(time.Minute))
	if err != nil || c.Role != auth.RoleClerk || c.Window != 4 || c.Subject != "工号1024" || c.KeyID != "k1" || c.Expires-c.Issued != 12*3600 {
		t.Fatalf("parse: %+v %v", c, err)
	}
	if _, err := k.Parse(tok, t0.Add(12*time.Hour+auth.Leeway+time.Second)); !errors.Is(err, auth.ErrTokenExpired) || auth.Reason(err) != "expired" {
		t.Errorf("after exp: %v", err)
	}
	// Signing refuses what Parse would refuse.
	bad := map[string]auth.Claims{
		"no expiry":   {Role: auth.RoleManager, Subject: "m", Issued: t0.Unix()},
		"no subject":  {Role: auth.RoleManager, Issued: t0.Unix(), Expires: t0.Add(time.Hour).Unix()},
		"bad subject": {Role: auth.RoleManager, Subject: "a/b", Issued: t0.Unix(), Expires: t0.Add(time.Hour).Unix()},
		"over cap":    {Role: auth.RoleAdmin, Subject: "a", Issued: t0.Unix(), Expires: t0.Add(2 * time.Hour).Unix()},
		"bad role":    {Role: "root", Subject: "a", Issued: t0.Unix(), Expires: t0.Add(time.Hour).Unix()},
		"no window":   {Role: auth.RoleClerk, Subject: "a", Issued: t0.Unix(), Expires: t0.Add(time.Hour).Unix()},
	}
	for name, c := range bad {
		if _, err := k.Sign(c); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

// Finding "tokens: a home-made format with no key id, no audience, and
// exp == 0 meaning never expires": each of these is refused, with its reason.
func TestParseRefuses(t *testing.T) {
	k, kid, key := ring(t)
	other := []byte("another-key-0123456789abcdef0123")
	hallSecret := []byte("the-hall-secret-kiosks-hold-0123")
	cases := map[string]struct {
		tok    string
		reason string
	}{
		// tokens issued without expiry are accepted forever (today's exp == 0)
		"no exp":            {raw(t, jwt.SigningMethodHS256, key, kid, with(good(), "exp", nil)), "no_expiry"},
		"wrong aud":         {raw(t, jwt.SigningMethodHS256, key, kid, with(good(), "aud", auth.Audience("h2"))), "audience"},
		"no aud":            {raw(t, jwt.SigningMethodHS256, key, kid, with(good(), "aud", nil)), "audience"},
		"wrong iss":         {raw(t, jwt.SigningMethodHS256, key, kid, with(good(), "iss", "someone")), "issuer"},
		"unknown kid":       {raw(t, jwt.SigningMethodHS256, key, "k9", good()), "unknown_key"},
		"no kid":            {raw(t, jwt.SigningMethodHS256, key, "", good()), "unknown_key"},
		"other key":         {raw(t, jwt.SigningMethodHS256, other, kid, good()), "signature"},
		"hall secret":       {raw(t, jwt.SigningMethodHS256, hallSecret, kid, good()), "signature"},
		"alg none":          {raw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, good()), "algorithm"},
		"alg HS512":         {raw(t, jwt.SigningMethodHS512, key, kid, good()), "algorithm"},
		"alg HS384":         {raw(t, jwt.SigningMethodHS384, key, kid, good()), "algorithm"},
		"iat in future":     {raw(t, jwt.SigningMethodHS256, key, kid, with(good(), "iat", t0.Add(time.Hour).Unix())), "issued_in_future"},
		"no iat":            {raw(t, jwt.SigningMethodHS256, key, kid, with(good(), "iat", nil)), "claims"},
		"lifetime over cap": {raw(t, jwt.SigningMethodHS256, key, kid, with(good(), "exp", t0.Add(13*time.Hour).Unix())), "lifetime"},
		"no subject":        {raw(t, jwt.SigningMethodHS256, key, kid, with(good(), "sub", nil)), "no_subject"},
		"bad role":          {raw(t, jwt.SigningMethodHS256, key, kid, with(good(), "role", "root")), "role"},
		"clerk no window":   {raw(t, jwt.SigningMethodHS256, key, kid, with(good(), "role", "clerk")), "role"},
		"expired":           {raw(t, jwt.SigningMethodHS256, key, kid, with(good(), "exp", t0.Unix())), "expired"},
		"garbage":           {"not.a.token", "malformed"},
		"empty":             {"", "malformed"},
		"too long":          {strings.Repeat("a", auth.MaxTokenLen+1), "malformed"},
		"old format":        {"eyJyIjoiYWRtaW4iLCJpYXQiOjAsImV4cCI6MH0.c2ln", "malformed"},
	}
	now := t0.Add(10 * time.Minute)
	if _, err := k.Parse(raw(t, jwt.SigningMethodHS256, key, kid, good()), now); err != nil {
		t.Fatalf("the good token: %v", err)
	}
	for name, tc := range cases {
		_, err := k.Parse(tc.tok, now)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if got := auth.Reason(err); got != tc.reason {
			t.Errorf("%s: reason %q (%v), want %q", name, got, err, tc.reason)
		}
		if tc.tok != "" && strings.Contains(err.Error(), tc.tok) {
			t.Errorf("%s: the error shows the token", name)
		}
	}
}

func TestParseRefusesCounted(t *testing.T) {
	k, kid, key := ring(t)
	k.Parse(raw(t, jwt.SigningMethodHS256, key, kid, with(good(), "exp", nil)), t0)
	k.Parse(raw(t, jwt.SigningMethodHS256, key, "nope", good()), t0)
	reg := prometheus.NewRegistry()
	reg.MustRegister(k.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if len(got) != 2 || got["no_expiry"] != 1 || got["unknown_key"] != 1 {
		t.Errorf("refusals %v, want no_expiry 1 and unknown_key 1", got)
	}
}

// Key rotation by kid: a new key signs, the old one verifies until
// retired; another process's ring (the running controller) follows the
// directory; files are 0600 in a 0700 directory.
func TestRotateRetire(t *testing.T) {
	state := t.TempDir()
	ctl, err := auth.Open(state, "h1", true)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := auth.Open(state, "h1", false)
	if err != nil {
		t.Fatal(err)
	}
	claims := auth.Claims{Role: auth.RoleManager, Subject: "m01", Issued: time.Now().Unix(), Expires: time.Now().Add(time.Hour).Unix()}
	old, err := cli.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	first := cli.List()[0].KID
	kid2, err := cli.Rotate(time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	newer, _ := cli.Sign(claims)
	for name, tok := range map[string]string{"old": old, "new": newer} {
		if c, err := ctl.Parse(tok, time.Now()); err != nil {
			t.Errorf("%s token after rotation: %v", name, err)
		} else if name == "new" && c.KeyID != kid2 {
			t.Errorf("new token signed by %s, want %s", c.KeyID, kid2)
		}
	}
	if err := cli.Retire(kid2); err == nil {
		t.Error("retired the signing key")
	}
	if err := cli.Retire("../hall"); !errors.Is(err, auth.ErrUnknownKey) {
		t.Errorf("retire ../hall: %v", err)
	}
	if err := cli.Retire(first); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Parse(old, time.Now()); auth.Reason(err) != "unknown_key" {
		t.Errorf("token of a retired key: %v", err)
	}
	if _, err := ctl.Parse(newer, time.Now()); err != nil {
		t.Errorf("new token after retiring the old key: %v", err)
	}
	dir := filepath.Join(state, auth.KeyDir)
	di, _ := os.Stat(dir)
	fi, _ := os.Stat(filepath.Join(dir, kid2+".key"))
	if di.Mode().Perm() != 0o700 || fi.Mode().Perm() != 0o600 {
		t.Errorf("dir %04o key %04o, want 0700 and 0600", di.Mode().Perm(), fi.Mode().Perm())
	}
	// A key file readable by others is refused at start and, while
	// running, no longer trusted.
	os.Chmod(filepath.Join(dir, kid2+".key"), 0o644)
	os.Chtimes(dir, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	if _, err := auth.Open(state, "h1", false); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("open with a 0644 key: %v", err)
	}
	if _, err := ctl.Parse(newer, time.Now()); err == nil {
		t.Error("a 0644 key still verifies")
	}
	// Another hall's ring refuses this hall's tokens (aud).
	os.Chmod(filepath.Join(dir, kid2+".key"), 0o600)
	h2, _ := auth.Open(state, "h2", false)
	if _, err := h2.Parse(newer, time.Now()); auth.Reason(err) != "audience" {
		t.Errorf("other hall: %v", err)
	}
}

// BenchmarkParse: the cost of one bearer check on a ring in a directory
// (a stat of the directory per check, to see rotations).
func BenchmarkParse(b *testing.B) {
	k, err := auth.Open(b.TempDir(), "h1", true)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok, _ := k.Sign(auth.Claims{Role: auth.RoleClerk, Window: 1, Subject: "c1", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Parse(tok, now); err != nil {
			b.Fatal(err)
		}
	}
}
