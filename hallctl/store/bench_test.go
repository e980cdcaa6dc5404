package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/pgtest"
)

// BenchmarkAppend appends one ~200-byte record per op, one appender at a
// time: every op is its own transaction and fsync. Reports p50/p99
// latency, for SQLite and for PostgreSQL on the same machine
// (BenchmarkAppend/sqlite, /postgres; docs/bench.md).
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	b.Run("sqlite", func(b *testing.B) {
		l, err := store.Open(ctx, filepath.Join(b.TempDir(), "events.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		benchAppend(b, l)
	})
	b.Run("postgres", func(b *testing.B) {
		p, err := store.OpenPostgres(ctx, pgtest.DSN(b), store.Options{Hall: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		benchAppend(b, p)
	})
}

func benchAppend(b *testing.B, l store.Store) {
	ctx := context.Background()
	data := []byte(`{"ticket":"A012","item":"HR-001","window":8,"class":"walk-in","issued_at":"2026-11-21T09:30:00.123Z","ahead":4,"eta_p50_s":600,"eta_p90_s":1200,"id":"01936f1e-7c2a-7b3e-9f00-000000000000"}`)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		if _, err := l.Append(ctx, store.Record{Stream: "queue", Type: "ticket-issued", Key: fmt.Sprint(i), Data: data}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	report(b, lat)
}

// BenchmarkAppendConcurrent has 16 appenders at once: group commit shares
// each fsync (each PostgreSQL commit) among whoever is waiting.
func BenchmarkAppendConcurrent(b *testing.B) {
	ctx := context.Background()
	b.Run("sqlite", func(b *testing.B) {
		l, err := store.Open(ctx, filepath.Join(b.TempDir(), "events.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		benchAppendConcurrent(b, l)
	})
	b.Run("postgres", func(b *testing.B) {
		p, err := store.OpenPostgres(ctx, pgtest.DSN(b), store.Options{Hall: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		benchAppendConcurrent(b, p)
	})
}

func benchAppendConcurrent(b *testing.B, l store.EventLog) {
	ctx := context.Background()
	data := make([]byte, 200)
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if _, err := l.Append(ctx, store.Record{Stream: "queue", Type: "t", Data: data}); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	report(b, lat)
	if s := l.Stats(); s.Transactions > 0 {
		b.ReportMetric(float64(s.Commits)/float64(s.Transactions), "appends/fsync")
	}
}

func report(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
