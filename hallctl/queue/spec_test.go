package queue

import (
	"reflect"
	"testing"
)

// The engine keeps its own copy of the spec: the caller changing theirs
// later changes nothing, and Spec hands out copies.
func TestSpecIsCopied(t *testing.T) {
	s := testSpec(t, nil)
	e, err := New(s, shanghai, DefaultOpts())
	if err != nil {
		t.Fatal(err)
	}
	want := testSpec(t, nil)
	s.Items[0].Code = "XX"
	s.Windows[0].Serves[0] = "*"
	s.Rules.HeadStartMin["green"] = 99
	if got := e.Spec(); !reflect.DeepEqual(got, want) {
		t.Errorf("the engine's spec changed with the caller's:\n%+v", got)
	}
	got := e.Spec()
	got.Windows[2].Serves[0] = "HR-001"
	if e.Expand(e.Spec().Windows[2].Serves)[2] != "TX-001" {
		t.Error("a copy from Spec changed the engine")
	}
	if _, err := New(want, nil, DefaultOpts()); err == nil {
		t.Error("an engine without a time zone")
	}
	if _, err := New(want, shanghai, Opts{Policy: 9}); err == nil {
		t.Error("an engine with an unknown policy")
	}
}

func TestSpecExpand(t *testing.T) {
	s := testSpec(t, nil)
	for _, tc := range []struct {
		refs []string
		want []string
	}{
		{[]string{"*"}, []string{"HR-001", "HR-002", "TX-001"}},
		{[]string{"TX-001", "dept:HR"}, []string{"HR-001", "HR-002", "TX-001"}},
		{[]string{"dept:TX", "TX-001"}, []string{"TX-001"}},
		{[]string{"NOPE"}, nil},
	} {
		if got := s.Expand(tc.refs); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Expand(%v) = %v, want %v", tc.refs, got, tc.want)
		}
	}
}
