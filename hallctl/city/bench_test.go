package city_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/servicehall/servicehall/hallctl/city"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/pgtest"
)

// The city view's bench (make bench): 1,000,000 tickets of 50 halls over
// 60 days (2026-10-01 … 2026-11-29) written straight into city_tickets
// with COPY, then the summary queries timed — by hall and by department,
// over the last 30 days and over "today" — reporting the median of the
// runs (ms-median). SERVICEHALL_CITY_EXPLAIN=FILE writes their
// EXPLAIN (ANALYZE, BUFFERS) plans to FILE (docs/city.md).

const (
	benchHalls   = 50
	benchDays    = 60
	benchTickets = 1_000_000
)

var (
	bigOnce sync.Once
	bigPool *pgxpool.Pool
	bigErr  error
)

func bigDB(b *testing.B) *pgxpool.Pool {
	bigOnce.Do(func() {
		ctx := context.Background()
		dsn := pgtest.DSN(b)
		if _, _, bigErr = store.MigratePostgres(ctx, dsn); bigErr != nil {
			return
		}
		if bigPool, bigErr = pgxpool.New(ctx, dsn); bigErr != nil {
			return
		}
		start := time.Now()
		bigErr = fillTickets(ctx, bigPool)
		b.Logf("COPY %d tickets + VACUUM ANALYZE: %v", benchTickets, time.Since(start).Round(time.Millisecond))
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigPool
}

// fillTickets writes benchTickets rows: per hall and day the same count,
// five departments, waits up to an hour, 5% no-shows, a third rated,
// 40% promised cases due 3–10 days after issue.
func fillTickets(ctx context.Context, pool *pgxpool.Pool) error {
	rng := rand.New(rand.NewPCG(1, 2))
	first := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	perDay := benchTickets / (benchHalls * benchDays)
	depts := []string{"HR", "TAX", "MKT", "PS", "SOC"}
	n := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if n >= benchTickets {
			return nil, nil
		}
		hall := fmt.Sprintf("hall-%02d", n/(perDay*benchDays)%benchHalls)
		day := first.AddDate(0, 0, n/perDay%benchDays)
		ticket := int64(n + 1)
		n++
		issued := day.Add(time.Duration(9*3600+rng.IntN(8*3600))*time.Second - 8*time.Hour)
		var called, finished *time.Time
		var wait *float64
		noShow, served := false, false
		switch f := rng.IntN(20); {
		case f == 0: // never called
		default:
			w := float64(rng.IntN(3600) + 1)
			c := issued.Add(time.Duration(w) * time.Second)
			called, wait = &c, &w
			if f == 1 {
				noShow = true
			} else {
				fin := c.Add(time.Duration(rng.IntN(900)+60) * time.Second)
				finished, served = &fin, true
			}
		}
		rating, rated, good, bad, rect := int16(0), false, false, false, false
		if served && rng.IntN(3) == 0 {
			rating = int16(rng.IntN(5) + 1)
			rated, good, bad = true, rating >= 3, rating <= 2
			rect = bad && rng.IntN(2) == 0
		}
		var due *time.Time
		dueOK := false
		if served && rng.IntN(5) < 2 {
			d := day.AddDate(0, 0, 3+rng.IntN(8))
			due, dueOK = &d, rng.IntN(10) < 9
		}
		return []any{hall, ticket, day, depts[rng.IntN(len(depts))], "ITEM", issued, called, finished, wait,
			noShow, served, rating, rated, good, bad, rect, due, dueOK, ticket}, nil
	})
	cols := []string{"hall", "ticket", "day", "dept", "item", "issued_at", "called_at", "finished_at", "wait_s",
		"no_show", "served", "rating", "rated", "good", "bad", "rectified", "due_day", "due_on_time", "seq"}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"city_tickets"}, cols, src); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	_, err := pool.Exec(ctx, `VACUUM ANALYZE city_tickets`)
	return err
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

var benchQueries = []struct {
	name string
	q    city.Query
}{
	{"by-hall-30d", city.Query{From: "2026-10-31", To: "2026-11-29", By: "hall"}},
	{"by-dept-30d", city.Query{From: "2026-10-31", To: "2026-11-29", By: "dept"}},
	{"by-hall-today", city.Query{From: "2026-11-29", To: "2026-11-29", By: "hall"}},
	{"by-dept-today", city.Query{From: "2026-11-29", To: "2026-11-29", By: "dept"}},
	{"district-5-halls-by-dept-30d", city.Query{From: "2026-10-31", To: "2026-11-29", By: "dept",
		Halls: []string{"hall-00", "hall-01", "hall-02", "hall-03", "hall-04"}}},
}

// BenchmarkCitySummary times the summary queries over 1M tickets.
func BenchmarkCitySummary(b *testing.B) {
	pool := bigDB(b)
	ctx := context.Background()
	if path := os.Getenv("SERVICEHALL_CITY_EXPLAIN"); path != "" {
		var out strings.Builder
		for _, bq := range benchQueries {
			sql, args := bq.q.SQL()
			fmt.Fprintf(&out, "-- %s: %+v\n", bq.name, bq.q)
			tx, err := pool.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Exec(ctx, city.SessionSettings); err != nil {
				b.Fatal(err)
			}
			rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				var line string
				rows.Scan(&line)
				fmt.Fprintln(&out, line)
			}
			rows.Close()
			tx.Rollback(ctx)
			fmt.Fprintln(&out)
		}
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, bq := range benchQueries {
		b.Run(bq.name, func(b *testing.B) {
			var ds []time.Duration
			var s city.Summary
			for b.Loop() {
				start := time.Now()
				var err error
				if s, err = city.Summarize(ctx, pool, bq.q, nil); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(start))
			}
			if s.Total.Tickets == 0 {
				b.Fatal("no tickets in range")
			}
			b.ReportMetric(float64(median(ds).Microseconds())/1000, "ms-median")
			b.ReportMetric(float64(s.Total.Tickets), "tickets")
		})
	}
}

// BenchmarkCityFold is the folder's throughput: 5 halls' logs (2,000
// tickets each, about 14,000 records) written through the store, then
// folded from scratch into city_tickets.
func BenchmarkCityFold(b *testing.B) {
	ctx := context.Background()
	dsn := pgtest.DSN(b)
	var halls []string
	for i := range 5 {
		h := fmt.Sprintf("fold-%d", i)
		recs := genHall(uint64(i+1), "2026-11-02", 5, 400)
		appendLog(b, ctx, dsn, h, recs)
		halls = append(halls, h)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	cfgs := cityConfigs(b, halls)
	b.ResetTimer()
	var rows, recs int
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		if _, err := pool.Exec(ctx, `TRUNCATE city_tickets, city_cursors`); err != nil {
			b.Fatal(err)
		}
		f := folder(pool, cfgs)
		b.StartTimer()
		start := time.Now()
		st, err := f.FoldAll(ctx)
		took += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		rows, recs = rows+st.Rows, recs+st.Records
	}
	b.ReportMetric(float64(rows)/took.Seconds(), "tickets/s")
	b.ReportMetric(float64(recs)/took.Seconds(), "records/s")
}

func cityConfigs(b testing.TB, halls []string) *city.Config {
	cc := &city.Config{HallConfigs: map[string]*config.Config{}}
	for _, h := range halls {
		cc.HallConfigs[h] = hallConfig(b, h)
	}
	return cc
}
