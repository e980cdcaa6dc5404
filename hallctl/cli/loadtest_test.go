package cli

import (
	"strings"
	"testing"

	"github.com/servicehall/servicehall/internal/pgtest"
)

// --halls without PostgreSQL says what it needs; with --pg-optional it
// says SKIPPED loudly and succeeds (make bench goes on).
func TestLoadtestHallsNeedsPostgres(t *testing.T) {
	code, _, stderr := runCLI(t, "loadtest", "--halls", "3")
	if code != 2 || !strings.Contains(stderr, "--halls needs PostgreSQL") {
		t.Fatalf("exit %d, stderr %q: want 2 and the reason", code, stderr)
	}
	code, stdout, _ := runCLI(t, "loadtest", "--halls", "3", "--pg-optional")
	if code != 0 || !strings.Contains(stdout, "SKIPPED") {
		t.Fatalf("--pg-optional: exit %d, stdout %q: want 0 and SKIPPED", code, stdout)
	}
	code, stdout, _ = runCLI(t, "loadtest", "--halls", "3", "--pg-optional", "--store", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if code != 0 || !strings.Contains(stdout, "SKIPPED") || !strings.Contains(stdout, "not reachable") {
		t.Fatalf("unreachable --pg-optional: exit %d, stdout %q: want 0 and SKIPPED", code, stdout)
	}
}

// hallctl loadtest --halls 2 on the tests' PostgreSQL: a table, nothing
// lost, exit 0.
func TestLoadtestHallsOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	code, stdout, stderr := runCLI(t, "loadtest", "--halls", "2", "--store", dsn, "--mqtt", "embedded", "--multiples", "200", "--seconds", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var line string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "embedded") {
			line = l
		}
	}
	f := strings.Fields(line)
	if len(f) < 9 || f[1] != "2" || f[4] != "200" || f[8] != "0" {
		t.Fatalf("want a row of 2 halls, 200 samples, 0 lost; got %q in\n%s", line, stdout)
	}
}
