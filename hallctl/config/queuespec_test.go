package config

import (
	"reflect"
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
		Windows:     []queue.WindowSpec{{Number: 1, Dept: "HR", Zone: "east", Serves: []string{"dept:HR"}, Backup: []string{"HR-002"}}},
		Rules:       queue.DefaultRules(),
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
