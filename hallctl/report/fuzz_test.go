package report

import (
	"testing"
)

// FuzzOpts: any report options give rows or ErrBadOpts, never a panic.
func FuzzOpts(f *testing.F) {
	f.Add("2026-11-20", "2026-11-21", "day", "item")
	f.Add("2026-11-21", "2026-11-20", "week", "clerk")
	f.Add("2026-02-30", "x", "month", "zone")
	f.Fuzz(func(t *testing.T, from, to, period, by string) {
		l := ledgerOf(nil, handDay())
		if _, err := Compute(l, nil, Opts{From: from, To: to, Period: period, By: by}); err != nil {
			return
		}
	})
}
