package ctl

import (
	"errors"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/config"
)

// The case_system and holidays sections are validated by config.Parse
// (registered by this package) with file, line and key.
func TestCaseSystemConfigProblems(t *testing.T) {
	const bad = hoursHall + `case_system:
  region: "44"
  wat: 1
  webhook: {url: "ftp://x", secret: short}
  supervision: {item_wait_min: {NOPE: 5}}
holidays:
  - {date: 2026-10-01}
  - {date: 2026-10-01}
`
	_, err := config.Parse("bad.yaml", []byte(bad), CheckConfig)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	// Unknown keys are reported before the section is validated further.
	if len(ce.Problems) != 1 || ce.Problems[0].Key != "case_system.wat" || ce.Problems[0].Line != 9 {
		t.Fatalf("problems: %v", err)
	}
	_, err = config.Parse("bad.yaml", []byte(strings.Replace(bad, "  wat: 1\n", "", 1)), CheckConfig)
	for _, want := range []string{
		`bad.yaml:8: case_system.region: "44" must be 6 digits`,
		`bad.yaml:9: case_system.webhook.url: "ftp://x" must be http:// or https://`,
		`bad.yaml:9: case_system.webhook.secret: is shorter than 16 bytes`,
		`bad.yaml:10: case_system.supervision.item_wait_min.NOPE: unknown item`,
		`bad.yaml:13: holidays[1].date: 2026-10-01 is listed twice`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	good := hoursHall + "case_system: {region: \"440300\", follow_up_days: 2}\nholidays: [{date: 2026-10-01, name: 国庆节}]\n"
	cfg, err := config.Parse("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	cs, hs, ps := CaseConfig(cfg)
	if len(ps) != 0 || cs.Region != "440300" || cs.FollowUpDays != 2 || len(hs) != 1 || hs[0].Name != "国庆节" {
		t.Errorf("decoded %+v %+v %v", cs, hs, ps)
	}
}
