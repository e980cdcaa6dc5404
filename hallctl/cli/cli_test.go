package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/store"
)

// runCLI runs hallctl with args and an empty environment.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{version: "v-test", stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(string) string { return "" }}
	code = run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

// hallFile writes a hall config whose state lives in a temporary
// directory; it returns the config path and the state directory.
func hallFile(t *testing.T) (path, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	stateDir = filepath.Join(dir, "state")
	path = filepath.Join(dir, "hall.yaml")
	yaml := fmt.Sprintf(`hall: {id: cli, name: 命令行大厅, timezone: Asia/Shanghai, hours: {open: "00:00", close: "24:00"}} # any time of day: serve runs on the real clock
server: {state_dir: %q}
departments: [{code: HR, name: 人社}]
items: [{code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}]
windows:
  - {number: 1, dept: HR, serves: ["*"]}
agents: [{id: win-1, windows: [1]}]
`, stateDir)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, stateDir
}

// The command table is what `hallctl help` lists, and every command there
// answers -h with its flags.
func TestUsageListsEveryCommand(t *testing.T) {
	want := []string{"agent", "backup", "cases", "certs", "check", "city", "demo", "loadtest", "migrate", "mosquitto-config", "report", "restore", "serve", "sim", "staff", "store", "token", "version"}
	var names []string
	for n := range commands() {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Fatalf("commands %v, want %v", names, want)
	}
	code, out, _ := runCLI(t, "help")
	if code != 0 {
		t.Errorf("help: exit %d", code)
	}
	for _, n := range want {
		if !strings.Contains(out, "  "+n+" ") {
			t.Errorf("help does not list %q:\n%s", n, out)
		}
	}
	if code, out, _ := runCLI(t); code != 2 || !strings.Contains(out, "usage: hallctl COMMAND") {
		t.Errorf("no command: exit %d, %q", code, out)
	}
	for _, n := range []string{"check", "serve", "demo", "report", "token", "loadtest", "agent", "mosquitto-config"} {
		code, _, errs := runCLI(t, n, "-h")
		if code != 0 || !strings.Contains(errs, "usage: hallctl "+n) {
			t.Errorf("%s -h: exit %d, %q", n, code, errs)
		}
	}
	if code, out, _ := runCLI(t, "version"); code != 0 || out != "hallctl v-test\n" {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// Mistakes on the command line are usage errors (exit 2) that say what
// was wrong.
func TestUsageErrors(t *testing.T) {
	path, _ := hallFile(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serv"}, `unknown command "serv"`},
		{[]string{"check", "--conf", path}, "flag provided but not defined: -conf"},
		{[]string{"check", "--config"}, "flag needs an argument: -config"},
		{[]string{"check", path}, `unexpected argument`},
		{[]string{"report", "--config", path, "--from", "2026-11-23", "--format", "pdf"}, `--format "pdf": csv or xlsx`},
		{[]string{"report", "--config", path, "--from", "2026-11-23", "--by", "colour"}, "colour"},
		{[]string{"token", "--config", path, "--role", "janitor"}, "role"},
		{[]string{"token", "--config", path, "--role", "manager", "--ttl", "-1h"}, "--ttl must be positive"},
		{[]string{"token", "--config", path, "--role", "manager", "--ttl", "soon"}, "invalid value"},
		{[]string{"sim", "bench", "extra"}, "unexpected argument"},
	}
	for _, tc := range cases {
		code, _, errs := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// A config that is missing or wrong fails (exit 1) with the file, line
// and problem.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("hall: {id: x, name: X}\nitems:\n  - {code: A, name: A, dept: NOPE, prefix: A}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"check"}, "--config is required"},
		{[]string{"check", "--config", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"check", "--config", bad}, "bad.yaml:3"},
		{[]string{"token", "--config", bad, "--role", "manager"}, "NOPE"},
		{[]string{"report", "--config", bad, "--from", "2026-11-23"}, "NOPE"},
		{[]string{"serve", "--config", bad}, "NOPE"},
	}
	for _, tc := range cases {
		code, _, errs := runCLI(t, tc.args...)
		if code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, code, errs, tc.want)
		}
	}
	// A hall that enrols no agent (and is no demo) would refuse every
	// device: check says so.
	noAgents := filepath.Join(dir, "no-agents.yaml")
	if err := os.WriteFile(noAgents, []byte("hall: {id: x, name: X}\ndepartments: [{code: HR, name: 人社}]\nitems: [{code: A, name: A, dept: HR, prefix: A}]\nwindows: [{number: 1, dept: HR, serves: [\"*\"]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, "check", "--config", noAgents); code != 1 || !strings.Contains(errs, "no agent is enrolled") {
		t.Errorf("check without agents: exit %d, %q", code, errs)
	}
	path, _ := hallFile(t)
	code, out, errs := runCLI(t, "check", "--config", path)
	if code != 0 || !strings.Contains(out, "ok — hall cli (命令行大厅), 1 departments, 1 items, 1 windows") {
		t.Errorf("check: exit %d, %q %q", code, out, errs)
	}
}

// `hallctl token` prints a JWT that verifies with the key ring it created
// in the state directory, for the role, window and subject asked; --ttl is
// capped per role, and a token has a subject even without --subject.
func TestToken(t *testing.T) {
	path, stateDir := hallFile(t)
	code, out, errs := runCLI(t, "token", "--config", path, "--role", "clerk", "--window", "1", "--subject", "staff-7", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("token: exit %d %s", code, errs)
	}
	keys, err := auth.Open(stateDir, "cli", false)
	if err != nil {
		t.Fatalf("the token command left no key ring: %v", err)
	}
	cl, err := keys.Parse(strings.TrimSpace(out), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cl.Role != "clerk" || cl.Window != 1 || cl.Subject != "staff-7" || cl.Expires-cl.Issued != 3600 {
		t.Errorf("claims %+v", cl)
	}
	if _, err := keys.Parse(strings.TrimSpace(out), time.Now().Add(2*time.Hour)); err == nil {
		t.Error("the token outlived its --ttl")
	}
	// A second token uses the same ring; defaults: the role's cap and a subject.
	_, out2, _ := runCLI(t, "token", "--config", path, "--role", "manager")
	cl2, err := keys.Parse(strings.TrimSpace(out2), time.Now())
	if err != nil || cl2.Subject != "manager" || time.Duration(cl2.Expires-cl2.Issued)*time.Second != auth.MaxTTL("manager") {
		t.Errorf("second token: %+v %v", cl2, err)
	}
	// Short lifetimes: --ttl over the role's cap is refused.
	for role, ttl := range map[string]string{"admin": "2h", "manager": "13h", "kiosk": "800h"} {
		code, _, errs := runCLI(t, "token", "--config", path, "--role", role, "--window", "1", "--ttl", ttl)
		if code != 2 || !strings.Contains(errs, "cap") {
			t.Errorf("%s --ttl %s: exit %d %q", role, ttl, code, errs)
		}
	}
	// The hall secret is not a token key: it is not in the ring's directory.
	if _, err := os.Stat(filepath.Join(stateDir, auth.KeyDir, "hall.secret")); err == nil {
		t.Error("hall secret in the key ring")
	}
}

// `hallctl token rotate-key` adds a signing key; tokens of the old one
// verify until `--retire` (or retire-key) removes it.
func TestTokenRotateKey(t *testing.T) {
	path, stateDir := hallFile(t)
	_, old, _ := runCLI(t, "token", "--config", path, "--role", "admin", "--subject", "a1")
	code, out, errs := runCLI(t, "token", "rotate-key", "--config", path)
	if code != 0 || !strings.HasPrefix(out, "new signing key ") {
		t.Fatalf("rotate-key: %d %q %q", code, out, errs)
	}
	keys, _ := auth.Open(stateDir, "cli", false)
	list := keys.List()
	if len(list) != 2 || !list[1].Signing {
		t.Fatalf("keys %+v", list)
	}
	_, newer, _ := runCLI(t, "token", "--config", path, "--role", "admin", "--subject", "a1")
	if _, err := keys.Parse(strings.TrimSpace(old), time.Now()); err != nil {
		t.Errorf("old token after rotation: %v", err)
	}
	_, out, _ = runCLI(t, "token", "keys", "--config", path)
	if !strings.Contains(out, list[0].KID) || !strings.Contains(out, list[1].KID+"  (signs new tokens)") {
		t.Errorf("keys: %q", out)
	}
	if code, _, errs := runCLI(t, "token", "retire-key", "--config", path, list[1].KID); code != 1 || !strings.Contains(errs, "rotate-key first") {
		t.Errorf("retiring the signing key: %d %q", code, errs)
	}
	code, out, errs = runCLI(t, "token", "rotate-key", "--config", path, "--retire", list[0].KID, "--retire", list[1].KID)
	if code != 0 {
		t.Fatalf("rotate-key --retire: %d %q %q", code, out, errs)
	}
	for name, tok := range map[string]string{"old": old, "newer": newer} {
		if _, err := keys.Parse(strings.TrimSpace(tok), time.Now()); auth.Reason(err) != "unknown_key" {
			t.Errorf("%s token after its key was retired: %v", name, err)
		}
	}
	if code, _, errs := runCLI(t, "token", "frobnicate", "--config", path); code != 2 || !strings.Contains(errs, "unknown subcommand") {
		t.Errorf("unknown subcommand: %d %q", code, errs)
	}
}

// `hallctl report` reads the event log a controller wrote.
func TestReport(t *testing.T) {
	path, stateDir := hallFile(t)
	cfg, err := config.Load(path, ctl.CheckConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db := filepath.Join(stateDir, "hallctl.db")
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 9, 0, 0, 0, cfg.Loc))
	c, err := ctl.New(ctx, ctl.Options{Config: cfg, Clock: clock, Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Manage(ctx, ctl.ManagerAction{Type: "open", Window: 1}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.Issue(ctx, ctl.IssueRequest{Item: "HR-001"}, "", ""); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Minute)
		for _, a := range []string{"call-next", "start", "finish"} {
			if _, err := c.Act(ctx, ctl.ActRequest{Window: 1, Action: a}); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "report", "--config", path, "--from", "2026-11-23", "--by", "item", "--headers", "keys")
	if code != 0 {
		t.Fatalf("report: exit %d %s", code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("report CSV (%v):\n%s", err, out)
	}
	line := strings.Join(rows[1], ",")
	if !strings.Contains(line, "2026-11-23") || !strings.Contains(line, "HR-001") || !slices.Contains(rows[1], "3") {
		t.Errorf("report row %q: want the day, HR-001 and 3 tickets (header %q)", line, rows[0])
	}
	xlsx := filepath.Join(t.TempDir(), "r.xlsx")
	if code, _, errs := runCLI(t, "report", "--config", path, "--from", "2026-11-23", "--format", "xlsx", "--out", xlsx); code != 0 {
		t.Fatalf("xlsx: exit %d %s", code, errs)
	}
	if b, err := os.ReadFile(xlsx); err != nil || !bytes.HasPrefix(b, []byte("PK")) {
		t.Errorf("xlsx file: %v", err)
	}
	// The default is the report for people: BOM, Chinese headers, minutes,
	// a totals row (issue 11).
	code, out, errs = runCLI(t, "report", "--config", path, "--from", "2026-11-23", "--by", "item")
	if code != 0 || !strings.HasPrefix(out, "\uFEFF期间,事项,事项名称,取号数") || !strings.Contains(out, "\r\n2026-11-23,HR-001,社保卡,3,3,") || !strings.Contains(out, "\r\n合计,,,3,3,0,") {
		t.Errorf("report for people: exit %d %q %s", code, out, errs)
	}
	// No log: a clear failure.
	code, _, errs = runCLI(t, "report", "--config", path, "--from", "2026-11-23", "--db", filepath.Join(t.TempDir(), "none.db"))
	if code != 1 || !strings.Contains(errs, "none.db") {
		t.Errorf("missing log: exit %d %q", code, errs)
	}
}

// `hallctl serve` starts the hall on the addresses of MQTT_ADDR and
// HTTP_ADDR, prints where everything is, and stops cleanly (exit 0) when
// told to.
func TestServe(t *testing.T) {
	path, stateDir := hallFile(t)
	srv := serveHall(t, path, "warn")
	// The API answers (healthz waits for the broker connection).
	res, err := http.Get(srv.base + "/api/v1/hall")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), "命令行大厅") {
		t.Errorf("GET /api/v1/hall: %d %s", res.StatusCode, b)
	}
	if code := srv.stop(); code != 0 {
		t.Errorf("serve exit %d: %s", code, srv.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(stateDir, "hallctl.db")); err != nil {
		t.Errorf("no event log in the state directory: %v", err)
	}
	// A password file that cannot be read is a failure, before anything starts.
	code, _, errs := runCLI(t, "serve", "--config", path, "--broker-url", "tcp://127.0.0.1:1", "--broker-password-file", filepath.Join(t.TempDir(), "none"))
	if code != 1 || !strings.Contains(errs, "none") {
		t.Errorf("missing password file: exit %d %q", code, errs)
	}
}

// `hallctl token disable SUBJECT` reaches the running controller (an admin
// token from the local key ring, over HTTP): the subject's token gets 401
// token_revoked at once; `enable` lifts it; `disabled` lists them.
func TestTokenDisableThroughServe(t *testing.T) {
	path, _ := hallFile(t)
	srv := serveHall(t, path, "warn")
	base := srv.base
	_, tok, _ := runCLI(t, "token", "--config", path, "--role", "clerk", "--window", "1", "--subject", "工号1024")
	status := func() (int, string) {
		req, _ := http.NewRequest("GET", base+"/api/v1/windows/1", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(b)
	}
	if code, body := status(); code != 200 {
		t.Fatalf("clerk token: %d %s", code, body)
	}
	code, out, errs := runCLI(t, "token", "disable", "--config", path, "--url", base, "工号1024")
	if code != 0 || !strings.Contains(out, "工号1024 disabled") {
		t.Fatalf("disable: %d %q %q", code, out, errs)
	}
	if code, body := status(); code != 401 || !strings.Contains(body, "token_revoked") {
		t.Errorf("after disable: %d %s", code, body)
	}
	if code, out, _ := runCLI(t, "token", "disable", "--config", path, "--url", base, "工号1024"); code != 0 || !strings.Contains(out, "already disabled") {
		t.Errorf("second disable: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "token", "disabled", "--config", path, "--url", base); code != 0 || !strings.Contains(out, "工号1024\tby hallctl-cli") {
		t.Errorf("disabled: %d %q", code, out)
	}
	if code, out, errs := runCLI(t, "token", "enable", "--config", path, "--url", base, "工号1024"); code != 0 || !strings.Contains(out, "enabled") {
		t.Errorf("enable: %d %q %q", code, out, errs)
	}
	if code, body := status(); code != 200 {
		t.Errorf("after enable: %d %s", code, body)
	}
	if code, _, errs := runCLI(t, "token", "disable", "--config", path, "--url", base, "a/b"); code != 2 || !strings.Contains(errs, "subject") {
		t.Errorf("bad subject: %d %q", code, errs)
	}
	srv.stop()
	if code, _, errs := runCLI(t, "token", "disable", "--config", path, "--url", base, "x"); code != 1 || !strings.Contains(errs, "not reachable") {
		t.Errorf("controller down: %d %q", code, errs)
	}
}

// served is a `hallctl serve` running in-process on free ports.
type served struct {
	base    string     // http://host:port (or https://) of its web server
	printed []string   // what it printed on start, up to the hall screen's line
	stderr  *syncBuf   // its log
	stop    func() int // cancels serve and returns its exit code; idempotent
}

// serveHall runs `hallctl serve --config path` with logs at level and
// waits until it has printed where everything is.
func serveHall(t *testing.T, path, level string) *served {
	t.Helper()
	pr, pw := io.Pipe()
	s := &served{stderr: &syncBuf{}}
	envs := map[string]string{"MQTT_ADDR": "127.0.0.1:0", "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": level}
	e := &env{version: "v-test", stdin: strings.NewReader(""), stdout: pw, stderr: s.stderr, getenv: func(k string) string { return envs[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code := run(ctx, e, []string{"serve", "--config", path})
		pw.Close()
		done <- code
	}()
	var once sync.Once
	code := 0
	s.stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	t.Cleanup(func() { s.stop() })
	lines := bufio.NewScanner(pr)
	var health string
	for lines.Scan() {
		l := lines.Text()
		s.printed = append(s.printed, l)
		if strings.HasPrefix(l, "health") {
			health = strings.Fields(l)[1]
		}
		if strings.HasPrefix(l, "hall screen") {
			break
		}
	}
	if health == "" {
		t.Fatalf("serve printed no health URL (exit %d, stderr %s)", s.stop(), s.stderr.String())
	}
	go io.Copy(io.Discard, pr)
	s.base = strings.TrimSuffix(health, "/healthz")
	return s
}

// syncBuf is a buffer that serve writes while a test may read it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
