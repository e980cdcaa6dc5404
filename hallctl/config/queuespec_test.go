package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/queue"
)

// QueueSpec carries the hall's departments, items, windows and rules; a
// config without `queue:` gets the engine's default rules.
func TestQueueSpec(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`hall: {id: q, name: Q}
departments: [{code: HR, name: 人社}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A}
  - {code: HR-002, name: 就业, dept: HR, prefix: B, service_s: 120}
windows:
  - {number: 1, dept: HR, serves: ["dept:HR"], backup: [HR-002], zone: east}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := queue.Spec{
		Departments: []queue.DeptSpec{{Code: "HR"}},
		Items:       []queue.ItemSpec{{Code: "HR-001", Dept: "HR", Prefix: "A", ServiceS: 300}, {Code: "HR-002", Dept: "HR", Prefix: "B", ServiceS: 120}},
		Windows: []queue.WindowSpec{{Number: 1, Dept: "HR", Zone: "east", Serves: []string{"dept:HR"}, Backup: []string{"HR-002"},
			Hours: []queue.Span{{OpenMin: 540, CloseMin: 1020}}}}, // the hall's default hours
		Rules: queue.DefaultRules(),
	}
	got := c.QueueSpec()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("spec\n%+v\nwant\n%+v", got, want)
	}
	c.Queue.MaxOvertake = 7
	c.Queue.HeadStartMin["green"] = 45
	if r := c.QueueSpec().Rules; r.MaxOvertake != 7 || r.HeadStartMin["green"] != 45 {
		t.Errorf("rules %+v", r)
	}
	if got.Rules.HeadStartMin["green"] != 30 {
		t.Error("a spec shares the config's head start map")
	}
}

// The wait-proportional head start keys: defaults, overrides, and bad
// values named by key.
func TestQueueHeadStartShare(t *testing.T) {
	base := `hall: {id: q, name: Q}
departments: [{code: HR, name: 人社}]
items: [{code: HR-001, name: 社保卡, dept: HR, prefix: A}]
windows: [{number: 1, dept: HR, serves: ["dept:HR"]}]
`
	c, err := Parse("t.yaml", []byte(base+"queue: {head_start_share: {green: 0.5}, head_start_max_min: 45}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := c.QueueSpec().Rules
	if r.HeadStartShare["green"] != 0.5 || r.HeadStartShare["elderly"] != 0.25 || r.HeadStartMaxMin != 45 {
		t.Errorf("rules %+v", r)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"queue: {head_start_share: {green: 1.5}}", "queue.head_start_share.green: must be a share from 0 to 1"},
		{"queue: {head_start_share: {vip: 0.5}}", "queue.head_start_share.vip: unknown class"},
		{"queue: {head_start_max_min: -1}", "queue.head_start_max_min: must be a positive number of minutes"},
	} {
		_, err := Parse("t.yaml", []byte(base+tc.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
