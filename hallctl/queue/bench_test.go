package queue

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
)

// bigHall is 58 departments × 10 items = 580 items and 100 windows: 58
// department windows (each backing up the next department) and 42
// no-difference windows.
func bigHall(tb testing.TB) *config.Config {
	var b strings.Builder
	b.WriteString("hall: {id: big, name: big}\ndepartments:\n")
	for d := 0; d < 58; d++ {
		fmt.Fprintf(&b, "  - {code: D%02d, name: d}\n", d)
	}
	b.WriteString("items:\n")
	for d := 0; d < 58; d++ {
		for i := 0; i < 10; i++ {
			fmt.Fprintf(&b, "  - {code: D%02d-%d, name: x, dept: D%02d, prefix: %c%c, service_s: %d}\n", d, i, d, 'A'+d%26, 'A'+d/26, 120+30*i)
		}
	}
	b.WriteString("windows:\n")
	for w := 1; w <= 100; w++ {
		if w <= 58 {
			fmt.Fprintf(&b, "  - {number: %d, dept: D%02d, serves: [\"dept:D%02d\"], backup: [\"dept:D%02d\"]}\n", w, w-1, w-1, w%58)
		} else {
			fmt.Fprintf(&b, "  - {number: %d, dept: D00, serves: [\"*\"]}\n", w)
		}
	}
	cfg, err := config.Parse("big.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func fill(tb testing.TB, e *Engine, now time.Time, n int) {
	for i := 0; i < n; i++ {
		it := e.cfg.Items[(i*7919)%len(e.cfg.Items)].Code
		if _, err := e.Issue(now.Add(time.Duration(i)*time.Millisecond), IssueReq{Item: it, Class: Class(i % 4)}); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkCallNext is one call-next decision (plus the finish that frees
// the window again) with 580 items and 100 windows, every line non-empty.
func BenchmarkCallNext(b *testing.B) {
	for _, tc := range []struct {
		name  string
		first int
		count int
	}{{"all-windows", 1, 100}, {"no-difference", 59, 42}} {
		b.Run(tc.name, func(b *testing.B) {
			e, err := New(bigHall(b), DefaultOpts())
			if err != nil {
				b.Fatal(err)
			}
			start := at(9, 0)
			for w := 1; w <= 100; w++ {
				if _, err := e.OpenWindow(start, w); err != nil {
					b.Fatal(err)
				}
			}
			const batch = 20000
			fill(b, e, start, batch)
			left := batch
			now := start.Add(time.Hour)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if left == 0 {
					b.StopTimer()
					fill(b, e, now, batch)
					left = batch
					b.StartTimer()
				}
				w := tc.first + i%tc.count
				if _, err := e.CallNext(now, w); err != nil {
					b.Fatal(err)
				}
				if _, err := e.Finish(now, w); err != nil {
					b.Fatal(err)
				}
				left--
			}
		})
	}
}
