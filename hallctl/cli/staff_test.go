package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"

	"github.com/servicehall/servicehall/hallctl/config"
)

func runStaffCLI(t *testing.T, stdin *os.File, in string, args ...string) (int, string, string) {
	t.Helper()
	staffHashCost = bcrypt.MinCost
	var out, errb bytes.Buffer
	e := &env{version: "v-test", stdin: strings.NewReader(in), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	if stdin != nil {
		e.stdin = stdin
	}
	code := run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

// `hallctl staff hash` reads the password from a pipe and prints a bcrypt
// hash of it; with --id a staff: entry the config accepts.
func TestStaffHash(t *testing.T) {
	code, out, errs := runStaffCLI(t, nil, "s3cret-pass\n", "staff", "hash")
	h := strings.TrimSpace(out)
	if code != 0 || bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret-pass")) != nil {
		t.Fatalf("hash: %d %q %q", code, out, errs)
	}
	if strings.Contains(out+errs, "s3cret-pass") {
		t.Error("the password was printed")
	}
	if code, _, errs := runStaffCLI(t, nil, "short\n", "staff", "hash"); code != 2 || !strings.Contains(errs, "shorter") {
		t.Errorf("short password: %d %q", code, errs)
	}
	code, out, _ = runStaffCLI(t, nil, "s3cret-pass\n", "staff", "hash", "--id", "c9", "--name", "小周", "--role", "clerk")
	if code != 0 {
		t.Fatal(code)
	}
	cfg := "hall: {id: x}\ndepartments: [{code: D, name: 部门}]\nitems: [{code: I1, name: 事项, dept: D, prefix: A, kind: immediate}]\n" +
		"windows: [{number: 1, dept: D, serves: [I1]}]\nstaff:\n" + out
	c, err := config.Parse("x.yaml", []byte(cfg))
	if err != nil {
		t.Fatalf("the printed entry %q: %v", out, err)
	}
	if s, ok := c.StaffMember("c9"); !ok || s.Name != "小周" || s.Role != "clerk" {
		t.Errorf("entry %+v", s)
	}
}

// On a terminal the password is asked twice and not echoed.
func TestStaffHashNoEcho(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skip("no pty:", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	done := make(chan struct{})
	var code int
	var out, errs string
	go func() {
		code, out, errs = runStaffCLI(t, tty, "", "staff", "hash")
		close(done)
	}()
	// Type once the program has turned echo off (the terminal echoes as
	// characters arrive).
	for {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			break
		}
		time.Sleep(time.Millisecond) // polls the terminal's mode
	}
	ptmx.Write([]byte("terminal-pw1\nterminal-pw1\n"))
	<-done
	echoed := make([]byte, 4096)
	tty.Close()
	n, _ := ptmx.Read(echoed)
	if code != 0 || bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out)), []byte("terminal-pw1")) != nil {
		t.Fatalf("tty hash: %d %q %q", code, out, errs)
	}
	if strings.Contains(string(echoed[:n]), "terminal-pw1") {
		t.Errorf("the terminal echoed the password: %q", echoed[:n])
	}
	if !strings.Contains(errs, "Again") {
		t.Errorf("not asked twice: %q", errs)
	}
}

// The demo's cheat sheet names the demo accounts and their password, and
// the demo config's accounts sign in with it.
func TestDemoPrintsStaffAccounts(t *testing.T) {
	cfg, err := config.Load("../../configs/demo/hall.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	printStaffSignIn(&b, cfg, "bin/hallctl token --config configs/demo/hall.yaml")
	for _, want := range []string{"c101", "小李", "m201", "demo1234", "DEMO ONLY", "bin/hallctl token --config configs/demo/hall.yaml"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("demo text lacks %q:\n%s", want, b.String())
		}
	}
	for _, s := range cfg.Staff {
		if bcrypt.CompareHashAndPassword([]byte(s.PasswordHash), []byte(config.DemoStaffPassword)) != nil {
			t.Errorf("demo account %s does not take the demo password", s.ID)
		}
	}
}
