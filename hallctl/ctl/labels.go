package ctl

import (
	"sync"

	"github.com/servicehall/servicehall/wire"
)

// actionLabels are the window actions counted by name.
var actionLabels = wire.KeyActions

// labelSet bounds the values one metric label takes: the first max
// distinct values are kept as they are, every later one is "other". Label
// values fed by input (a clerk's action, a device's ack status or event
// type) can then not grow /metrics without bound (limits.metric_label_values).
type labelSet struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

// otherLabel is the value every label value past the bound is counted as.
const otherLabel = "other"

func newLabelSet(max int) *labelSet {
	return &labelSet{max: max, seen: map[string]struct{}{}}
}

// value is v if v is known or there is room for it, else "other".
func (s *labelSet) value(v string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[v]; ok {
		return v
	}
	if len(s.seen) >= s.max {
		return otherLabel
	}
	s.seen[v] = struct{}{}
	return v
}

// knownAction is a window action's label: one of the contract's actions,
// else "other" (a clerk's free input never becomes a label value).
func knownAction(a string) string {
	for _, k := range actionLabels {
		if a == k {
			return a
		}
	}
	return otherLabel
}
