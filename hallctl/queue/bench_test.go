package queue

import (
	"fmt"
	"testing"
	"time"
)

// bigHall is 58 departments × 10 items = 580 items and 100 windows: 58
// department windows (each backing up the next department) and 42
// no-difference windows.
func bigHall(testing.TB) Spec {
	s := Spec{Rules: DefaultRules()}
	for d := 0; d < 58; d++ {
		s.Departments = append(s.Departments, DeptSpec{Code: fmt.Sprintf("D%02d", d)})
		for i := 0; i < 10; i++ {
			s.Items = append(s.Items, ItemSpec{Code: fmt.Sprintf("D%02d-%d", d, i), Dept: fmt.Sprintf("D%02d", d),
				Prefix: fmt.Sprintf("%c%c", 'A'+d%26, 'A'+d/26), ServiceS: 120 + 30*i})
		}
	}
	for w := 1; w <= 100; w++ {
		if w <= 58 {
			s.Windows = append(s.Windows, WindowSpec{Number: w, Dept: fmt.Sprintf("D%02d", w-1),
				Serves: []string{fmt.Sprintf("dept:D%02d", w-1)}, Backup: []string{fmt.Sprintf("dept:D%02d", w%58)}})
		} else {
			s.Windows = append(s.Windows, WindowSpec{Number: w, Dept: "D00", Serves: []string{"*"}})
		}
	}
	return s
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
			e, err := New(bigHall(b), shanghai, DefaultOpts())
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
