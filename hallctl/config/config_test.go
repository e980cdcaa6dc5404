package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const good = `hall:
  id: t-hall
  name: 测试大厅
departments:
  - {code: HR, name: 人社}
  - {code: TX, name: 税务}
items:
  - {code: HR-001, name: 人才引进, dept: HR, prefix: A, service_s: 300}
  - {code: TX-001, name: 发票, dept: TX, prefix: B}
windows:
  - {number: 1, dept: HR, serves: ["dept:HR"], zone: east}
  - {number: 2, dept: TX, serves: ["*"], backup: [HR-001]}
`

func TestParseGoodAppliesDefaults(t *testing.T) {
	c, err := Parse("hall.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hall.Timezone != "Asia/Shanghai" || c.Loc == nil {
		t.Errorf("timezone default: %q %v", c.Hall.Timezone, c.Loc)
	}
	if c.Items[1].ServiceS != 300 || c.Items[1].Kind != "immediate" {
		t.Errorf("item defaults: %+v", c.Items[1])
	}
	if got := c.Expand(c.Windows[1].Serves); len(got) != 2 {
		t.Errorf("expand *: %v", got)
	}
	if got := c.Expand(c.Windows[0].Serves); len(got) != 1 || got[0] != "HR-001" {
		t.Errorf("expand dept: %v", got)
	}
	if !c.Windows[1].NoDifference() || c.Windows[0].NoDifference() {
		t.Error("NoDifference")
	}
	if c.Queue.HeadStartMin["green"] == 0 || c.Queue.EscalateAfterS == 0 {
		t.Errorf("queue defaults: %+v", c.Queue)
	}
}

func TestUnknownKeyNamesLine(t *testing.T) {
	bad := strings.Replace(good, "  name: 测试大厅\n", "  name: 测试大厅\n  colour: red\n", 1)
	_, err := Parse("hall.yaml", []byte(bad))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "hall.yaml:4: hall.colour: unknown key") {
		t.Errorf("message: %v", err)
	}
}

func TestEveryProblemListedWithLineAndKey(t *testing.T) {
	bad := strings.Replace(good, `serves: ["dept:HR"]`, `serves: ["dept:XX"]`, 1)
	bad = strings.Replace(bad, "dept: TX, prefix: B", "dept: NOPE, prefix: b", 1)
	_, err := Parse("s.yaml", []byte(bad))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		`s.yaml:9: items[1].dept: unknown department "NOPE"`,
		`s.yaml:9: items[1].prefix: "b" must be one or two capital letters`,
		`s.yaml:11: windows[0].serves[0]: unknown department in "dept:XX"`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in\n%s", w, msg)
		}
	}
}

func TestScenarioArrivalsResolvedBesideFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.yaml")
	body := "scenario: {name: x, arrivals: x.arrivals.csv, walk_s: 20, no_show_hold_s: 60}\n" + good
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Scenario.ArrivalsPath != filepath.Join(dir, "x.arrivals.csv") {
		t.Errorf("arrivals path %q", c.Scenario.ArrivalsPath)
	}
}

func TestSharedScenariosLoad(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/bench/scenarios/*.yaml")
	if len(files) == 0 {
		t.Skip("../shared/bench/scenarios not found beside the repo")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
