package cli

import (
	"strings"
	"testing"
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
