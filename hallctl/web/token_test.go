package web_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/servicehall/servicehall/hallctl/app"
	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/web"
)

// lockedBuf is a log sink safe for the server's goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runIn starts hallctl on state dir, logging at debug level to logs; the
// returned stop ends it (a restart is stop, then runIn again).
func runIn(t *testing.T, dir string, logs io.Writer) (a *app.App, base string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Start(ctx, app.Options{Config: testConfig(t), Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: dir})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		a.Close()
	}
	t.Cleanup(stop)
	select {
	case <-a.Controller.Connected():
	case <-time.After(10 * time.Second):
		t.Fatal("controller did not connect")
	}
	return a, "http://" + a.HTTPAddr(), stop
}

// get answers status and body of method path with a bearer token.
func call(t *testing.T, method, u, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// ringKey is the signing key's kid and bytes, read from the state dir as
// someone with the controller's disk would.
func ringKey(t *testing.T, a *app.App) (string, []byte) {
	t.Helper()
	var kid string
	for _, k := range a.Keys.List() {
		if k.Signing {
			kid = k.KID
		}
	}
	b, err := os.ReadFile(filepath.Join(a.Keys.Dir(), kid+".key"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(strings.TrimSpace(string(b)))
	return kid, key
}

func forge(t *testing.T, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tk := jwt.NewWithClaims(m, c)
	if kid != "" {
		tk.Header["kid"] = kid
	}
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The token findings of issue 10, over HTTP: "tokens issued without expiry
// are accepted forever" (today exp == 0 means never), no audience, no key
// id, and "one kiosk board is the keys to the hall" (the hall secret, which
// kiosks hold for ID hashing, signed admin tokens). Each is a 401 now.
func TestTokenFindingsRefused(t *testing.T) {
	a, base, _ := runIn(t, t.TempDir(), io.Discard)
	kid, key := ringKey(t, a)
	hallSecret, err := web.LoadSecret("", filepath.Dir(a.Keys.Dir()), false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": auth.Issuer, "aud": auth.Audience("t-hall"), "sub": "a01", "role": "admin",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	good := forge(t, jwt.SigningMethodHS256, key, kid, claims(nil))
	if code, body := call(t, "GET", base+"/api/v1/manager/hall", good); code != 200 {
		t.Fatalf("the well-formed admin token: %d %s", code, body)
	}
	cases := map[string]string{
		"no expiry (accepted forever today)": forge(t, jwt.SigningMethodHS256, key, kid, claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"another hall's audience":            forge(t, jwt.SigningMethodHS256, key, kid, claims(func(c jwt.MapClaims) { c["aud"] = auth.Audience("other") })),
		"no audience":                        forge(t, jwt.SigningMethodHS256, key, kid, claims(func(c jwt.MapClaims) { delete(c, "aud") })),
		"unknown kid":                        forge(t, jwt.SigningMethodHS256, key, "k9999-x", claims(nil)),
		"alg none":                           forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, claims(nil)),
		"alg HS512":                          forge(t, jwt.SigningMethodHS512, key, kid, claims(nil)),
		"admin lifetime over its cap":        forge(t, jwt.SigningMethodHS256, key, kid, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(48 * time.Hour).Unix() })),
		// one kiosk board is the keys to the hall
		"signed with the hall secret":        forge(t, jwt.SigningMethodHS256, hallSecret, kid, claims(nil)),
		"hall secret, its own kid":           forge(t, jwt.SigningMethodHS256, hallSecret, "hall", claims(nil)),
		"today's format, hall secret, exp 0": oldToken(hallSecret, `{"r":"admin","s":"x","iat":1,"exp":0}`),
	}
	for name, tok := range cases {
		code, body := call(t, "GET", base+"/api/v1/manager/hall", tok)
		if code != 401 || !strings.Contains(body, `"unauthorized"`) {
			t.Errorf("%s: %d %s, want 401 unauthorized", name, code, body)
		}
	}
}

// oldToken is today's home-made format: base64url(JSON) "." HMAC.
func oldToken(secret []byte, claims string) string {
	p := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{}) // for its encoder
	enc := p.EncodeSegment([]byte(claims))
	sig, _ := jwt.SigningMethodHS256.Sign(enc, secret)
	return enc + "." + p.EncodeSegment(sig)
}

// Revocation: an admin disables a clerk's subject; the clerk's token gets
// 401 token_revoked at once and after a restart, other subjects keep
// working, only admins may do it, it is audited, and enabling lifts it.
// No token appears in any log line or in /metrics along the way (the
// expired and revoked paths included).
func TestRevokedSubjectAndNoTokenInLogs(t *testing.T) {
	dir := t.TempDir()
	logs := &lockedBuf{}
	a, base, stop := runIn(t, dir, logs)
	now := time.Now()
	sign := func(c web.Claims) string {
		tok, err := a.Keys.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	clerk := sign(web.Claims{Role: web.RoleClerk, Window: 1, Subject: "工号1024", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()})
	other := sign(web.Claims{Role: web.RoleClerk, Window: 1, Subject: "工号2048", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()})
	manager := sign(web.Claims{Role: web.RoleManager, Subject: "m01", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()})
	admin := sign(web.Claims{Role: web.RoleAdmin, Subject: "a01", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()})
	expired := sign(web.Claims{Role: web.RoleManager, Subject: "m02", Issued: now.Add(-2 * time.Hour).Unix(), Expires: now.Add(-time.Hour).Unix()})
	tokens := []string{clerk, other, manager, admin, expired}

	win := base + "/api/v1/windows/1"
	disable := base + "/api/v1/admin/subjects/" + url.PathEscape("工号1024") + "/disable"
	if code, body := call(t, "GET", win, clerk); code != 200 {
		t.Fatalf("clerk before: %d %s", code, body)
	}
	if code, body := call(t, "GET", base+"/api/v1/manager/hall", expired); code != 401 || !strings.Contains(body, "token_expired") {
		t.Errorf("expired: %d %s", code, body)
	}
	if code, _ := call(t, "POST", disable, manager); code != 403 {
		t.Errorf("a manager disabled a subject: %d", code)
	}
	if code, body := call(t, "POST", base+"/api/v1/admin/subjects/a%2Fb/disable", admin); code != 400 {
		t.Errorf("bad subject: %d %s", code, body)
	}
	if code, body := call(t, "POST", disable, admin); code != 200 || !strings.Contains(body, `"changed":true`) {
		t.Fatalf("disable: %d %s", code, body)
	}
	check := func(when string) {
		t.Helper()
		if code, body := call(t, "GET", win, clerk); code != 401 || !strings.Contains(body, `"token_revoked"`) {
			t.Errorf("%s: disabled subject's token: %d %s, want 401 token_revoked", when, code, body)
		}
		if code, body := call(t, "GET", win, other); code != 200 {
			t.Errorf("%s: another subject: %d %s", when, code, body)
		}
	}
	check("at once")
	if code, body := call(t, "GET", base+"/api/v1/manager/audit", manager); code != 200 || !strings.Contains(body, "disable_subject") || !strings.Contains(body, "工号1024") {
		t.Errorf("audit: %d %s", code, body)
	}

	stop()
	a, base, stop = runIn(t, dir, logs)
	win = base + "/api/v1/windows/1"
	check("after a restart")
	if code, body := call(t, "GET", base+"/api/v1/admin/subjects", admin); code != 200 || !strings.Contains(body, "工号1024") {
		t.Errorf("list: %d %s", code, body)
	}
	if code, body := call(t, "POST", base+"/api/v1/admin/subjects/"+url.PathEscape("工号1024")+"/enable", admin); code != 200 {
		t.Fatalf("enable: %d %s", code, body)
	}
	if code, body := call(t, "GET", win, clerk); code != 200 {
		t.Errorf("enabled again: %d %s", code, body)
	}
	call(t, "POST", base+"/api/v1/admin/subjects/"+url.PathEscape("工号1024")+"/disable", admin)
	call(t, "GET", win, clerk)
	call(t, "GET", base+"/api/v1/manager/hall", expired)
	_, metrics := call(t, "GET", base+"/metrics", "")
	if !strings.Contains(metrics, `servicehall_token_refusals_total{reason="revoked"}`) || !strings.Contains(metrics, `servicehall_token_refusals_total{reason="expired"}`) {
		t.Errorf("refusals not counted by reason:\n%s", grepLines(metrics, "token_refusals"))
	}
	stop()

	out := logs.String() + metrics
	for i, tok := range tokens {
		parts := strings.Split(tok, ".")
		for _, p := range []string{tok, parts[1], parts[2]} {
			if strings.Contains(out, p) {
				t.Errorf("token %d (or a part of it) is in the logs or /metrics", i)
			}
		}
	}
	for _, name := range []string{web.SecretFileName, "ticket-check.key"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if s := strings.TrimSpace(string(b)); s == "" || strings.Contains(out, s) {
			t.Errorf("%s is empty or in the logs", name)
		}
	}
	if len(out) < 100 {
		t.Errorf("captured almost no log (%d bytes): the check proves nothing", len(out))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
