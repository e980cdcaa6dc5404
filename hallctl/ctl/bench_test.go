package ctl

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/config"
)

// BenchmarkIssueConcurrent issues tickets from 1, 10 and 100 goroutines on
// a real event log: the controller's own ceiling, without HTTP. It reports
// fsyncs per ticket (group commit shares one among concurrent units).
func BenchmarkIssueConcurrent(b *testing.B) {
	yaml := strings.Replace(hoursHall, `"09:00", close: "17:00"}}`, `"00:00", close: "24:00"}}`, 1)
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			cfg, err := config.Parse("t.yaml", []byte(yaml))
			if err != nil {
				b.Fatal(err)
			}
			st := openStore(b)
			c, err := New(context.Background(), Options{Config: cfg, Clock: clockwork.NewRealClock(), Store: st,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Manage(context.Background(), ManagerAction{Type: "open", Window: 1}); err != nil {
				b.Fatal(err)
			}
			before := st.Stats().Transactions
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			per := b.N/n + 1
			for g := 0; g < n; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						if _, err := c.Issue(context.Background(), IssueRequest{Item: "HR-001"}, "", ""); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			total := per * n
			b.ReportMetric(float64(total)/el.Seconds(), "tickets/s")
			b.ReportMetric(float64(st.Stats().Transactions-before)/float64(total), "fsyncs/ticket")
		})
	}
}
