package cli

import (
	"github.com/servicehall/servicehall/hallctl/config"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A config with 9 problems: `hallctl check` lists all 9 at once, each
// with its line and key path, a did-you-mean for the misspelt keys and
// references, and then the warnings (items no window serves, a window
// that serves nothing); exit 1. Problems sharing a flow-style line are
// all listed; a value of the wrong type once (not again as its zero).
func TestCheckReportsEveryProblem(t *testing.T) {
	const bad = `hall: {id: demo, name: 市民中心, hours: {open: "08:00", close: "18:00"}}
departments:
  - {code: HR, name: 人社}
  - {code: TAX, name: 税务}
  - {code: EMPTY, name: 空部门}
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A}
  - {code: HR-002, name: 就业, dept: HR, prefix: B}
  - {code: TAX-001, name: 发票, dept: TAX, prefix: C}
  - {code: TAX-002, name: 税务登记, dept: TAXX, prefix: d, servce_s: 300}
windows:
  - {number: 1, dept: HR, serves: ["dept:HR"]}
  - {number: 2, dept: TAX, serves: [TAX-01]}
  - {number: 3, dept: HR, serves: ["dept:EMPTY"], zonee: east}
  - {number: 4, dept: HR, serves: [HR-001, "dept:HRR"], backup: [TAX-002]}
  - {number: four, dept: TAX, serves: ["dept:TAX"], hours: [{open: "9:00", close: "17:00"}]}
agents: [{id: win-1, windows: [1]}]
quue: {escalate_after_s: 600}
`
	dir := t.TempDir()
	path := filepath.Join(dir, "hall.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "check", "--config", path)
	if code != 1 {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	t.Log("\n" + errs)
	want := []string{
		`hall.yaml:10: items[3].servce_s: unknown key (did you mean "service_s"?)`,
		`hall.yaml:10: items[3].dept: unknown department "TAXX"`,
		`hall.yaml:10: items[3].prefix: "d" must be one or two capital letters`,
		`hall.yaml:13: windows[1].serves[0]: unknown item "TAX-01" (did you mean "TAX-001"?)`,
		`hall.yaml:14: windows[2].zonee: unknown key (did you mean "zone"?)`,
		`hall.yaml:15: windows[3].serves[1]: unknown department in "dept:HRR" (did you mean "dept:HR"?)`,
		"hall.yaml:16: windows[4].number: cannot unmarshal !!str `four` into int",
		`hall.yaml:16: windows[4].hours[0].open: "9:00" is not HH:MM`,
		`hall.yaml:18: quue: unknown key (did you mean "queue"?)`,
	}
	for _, w := range want {
		if !strings.Contains(errs, w) {
			t.Errorf("missing %q", w)
		}
	}
	warnings := []string{
		`hall.yaml:14: warning: windows[2].serves: window 3 serves no item (dept:EMPTY names no item of this hall)`,
		`hall.yaml:10: warning: items[3]: no window serves TAX-002 (税务登记); only as a backup of window 4, after waits escalate`,
	}
	for _, w := range warnings {
		if !strings.Contains(errs, w) {
			t.Errorf("missing warning %q", w)
		}
	}
	if !strings.Contains(errs, "9 errors, 2 warnings") {
		t.Errorf("summary: want 9 errors, 2 warnings")
	}
}

// Warnings alone do not fail the check.
func TestCheckWarningsPass(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hall.yaml")
	yaml := `hall: {id: w, name: 警告大厅}
departments: [{code: HR, name: 人社}]
items: [{code: HR-001, name: 社保卡, dept: HR, prefix: A}, {code: HR-002, name: 就业, dept: HR, prefix: B}]
windows: [{number: 1, dept: HR, serves: [HR-001]}]
agents: [{id: win-1, windows: [1]}]
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "check", "--config", path)
	if code != 0 || !strings.Contains(out, "hall.yaml:3: warning: items[1]: no window serves HR-002 (就业): its tickets would never be called") ||
		!strings.Contains(out, "1 warnings") {
		t.Errorf("exit %d\n%s\n%s", code, out, errs)
	}
}

func TestSuggestKeys(t *testing.T) {
	for _, tc := range []struct{ s, want string }{{"servce_s", "service_s"}, {"zonee", "zone"}, {"colour", ""}, {"Serves", "serves"}} {
		if got := suggest(tc.s); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func suggest(s string) string {
	return config.Suggest(s, []string{"number", "dept", "serves", "backup", "zone", "hours", "service_s", "code", "name"})
}
