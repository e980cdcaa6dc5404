package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/servicehall/servicehall/hallctl/config"
)

// `hallctl staff` (docs/config.md, "staff"): staff sign in to the clerk
// and manager consoles with a staff id and password; the hall config
// keeps only bcrypt hashes. `hallctl staff hash` reads a password from
// the terminal without echo (twice) or from a pipe (one line) and prints
// its hash — with --id, --name and --role, a ready `staff:` entry.
// `hallctl staff list` shows the section without the hashes.

// StaffMinPassword is the shortest password `hallctl staff hash` takes.
const StaffMinPassword = 8

// StaffHashCost is the bcrypt cost of the hashes it makes.
const StaffHashCost = 12

// staffHashCost is StaffHashCost (tests lower it).
var staffHashCost = StaffHashCost

func runStaff(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "usage: hallctl staff hash [--id ID --name NAME --role clerk|manager|admin] | hallctl staff list --config FILE")
		return 2
	}
	switch args[0] {
	case "hash":
		return runStaffHash(e, args[1:])
	case "list":
		return runStaffList(e, args[1:])
	}
	fmt.Fprintf(e.stderr, "hallctl staff: unknown subcommand %q (hash, list)\n", args[0])
	return 2
}

func runStaffHash(e *env, args []string) int {
	fs := newFlags(e, "staff hash", "[--id ID --name NAME --role clerk|manager|admin] < password\n"+
		"  reads the password from the terminal (no echo, asked twice) or one line of stdin; prints its bcrypt hash")
	id := fs.String("id", "", "staff id (工号): with --name and --role, print a whole staff: entry")
	name := fs.String("name", "", "display name colleagues see (not a legal full name)")
	role := fs.String("role", "clerk", "clerk, manager or admin")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	pw, err := readPassword(e)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl staff hash:", err)
		return 1
	}
	if utf8.RuneCountInString(pw) < StaffMinPassword {
		fmt.Fprintf(e.stderr, "hallctl staff hash: the password is shorter than %d characters\n", StaffMinPassword)
		return 2
	}
	if len(pw) > 72 {
		fmt.Fprintln(e.stderr, "hallctl staff hash: the password is longer than 72 bytes (bcrypt's limit)")
		return 2
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), staffHashCost)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl staff hash:", err)
		return 1
	}
	if *id == "" {
		fmt.Fprintln(e.stdout, string(h))
		return 0
	}
	switch *role {
	case "clerk", "manager", "admin":
	default:
		fmt.Fprintf(e.stderr, "hallctl staff hash: --role %q must be clerk, manager or admin\n", *role)
		return 2
	}
	if *name == "" {
		*name = *id
	}
	fmt.Fprintf(e.stdout, "  - {id: %s, name: %s, role: %s, password_hash: %q}\n", strconv.Quote(*id), strconv.Quote(*name), *role, string(h))
	return 0
}

// readPassword reads the password: from a terminal without echo (asked
// twice, on stderr), else the first line of stdin.
func readPassword(e *env) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(e.stderr, "密码 Password: ")
		a, err := readNoEcho(f)
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(e.stderr, "再输一次 Again: ")
		b, err := readNoEcho(f)
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		if a != b {
			return "", fmt.Errorf("the two passwords differ")
		}
		return a, nil
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func runStaffList(e *env, args []string) int {
	fs := newFlags(e, "staff list", "--config FILE")
	path := fs.String("config", "", "hall config `file`")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	fmt.Fprintln(e.stdout, "id\tname\trole\twindows\tpassword")
	for _, s := range cfg.Staff {
		ws := "any"
		if len(s.Windows) > 0 {
			ws = strings.Trim(strings.Join(strings.Fields(fmt.Sprint(s.Windows)), ","), "[]")
		}
		src := "password_hash"
		if s.PasswordFile != "" {
			src = "password_file " + s.PasswordFile
		}
		if s.Role != "clerk" {
			ws = "-"
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.Name, s.Role, ws, src)
	}
	return 0
}

// printStaffSignIn is the demo's cheat-sheet lines on staff sign-in: the
// demo hall's accounts (configs/demo/hall.yaml, demo only) and the token
// line for machine clients.
func printStaffSignIn(w io.Writer, cfg *config.Config, tok string) {
	fmt.Fprintf(w, "Staff consoles: sign in with a staff id (工号) and password; a clerk picks the window.\n")
	fmt.Fprintf(w, "  DEMO ONLY accounts, password %q for each:\n", config.DemoStaffPassword)
	for _, s := range cfg.Staff {
		where := ""
		if s.Role == "clerk" {
			where = " at any window"
			if len(s.Windows) > 0 {
				where = " at windows " + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(s.Windows)), ","), "[]")
			}
		}
		fmt.Fprintf(w, "    %-6s %s (%s%s)\n", s.ID, s.Name, s.Role, where)
	}
	fmt.Fprintf(w, "  Machine clients use bearer tokens instead:\n")
	fmt.Fprintf(w, "    %s --role clerk --window 1\n\n", tok)
}
