package queue

import "testing"

// A window hint is a promise: only the one window that can call an item
// is named (issue 11: "请到 2号窗口", then called to window 1).
func TestSoleWindowFor(t *testing.T) {
	spec := testSpec(t, nil)
	spec.Windows = []WindowSpec{
		{Number: 1, Dept: "HR", Serves: []string{"HR-001"}},
		{Number: 2, Dept: "HR", Serves: []string{"HR-001", "HR-002"}},
		{Number: 5, Dept: "TX", Serves: []string{"dept:TX"}},
	}
	e, err := New(spec, shanghai, DefaultOpts())
	if err != nil {
		t.Fatal(err)
	}
	check := func(item string, want int) {
		t.Helper()
		w, ok := e.SoleWindowFor(item)
		if (want != 0) != ok || w != want {
			t.Errorf("%s: window %d %v, want %d", item, w, ok, want)
		}
	}
	check("HR-001", 0) // windows 1 and 2, however idle either is
	check("HR-002", 2)
	check("TX-001", 5) // closed now, still the only one that will call it
	check("NOPE", 0)
	openAll(t, e, at(9, 0))
	check("HR-001", 0)
	must(t)(e.SetBackup(at(9, 1), 1, []string{"TX-001"}))
	check("TX-001", 0) // a backup may take the line over
	must(t)(e.SetServes(at(9, 2), 2, []string{"HR-001"}))
	check("HR-002", 0) // nobody serves it now
}
