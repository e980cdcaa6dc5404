package city_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/city"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/report"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// cityDB is a fresh schema with halls h1…hn's logs (5 days from
// 2026-11-02, perDay tickets a day) and a pool on it.
func cityDB(t *testing.T, perDay int, halls ...string) (string, *pgxpool.Pool, *city.Config) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	cc := &city.Config{HallConfigs: map[string]*config.Config{}}
	for i, h := range halls {
		cc.HallConfigs[h] = hallConfig(t, h)
		appendLog(t, ctx, dsn, h, genHall(uint64(i+1), "2026-11-02", 5, perDay))
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return dsn, pool, cc
}

func folder(pool *pgxpool.Pool, cc *city.Config) *city.Folder {
	return city.NewFolder(pool, cc.HallConfigs, slog.New(slog.DiscardHandler), clockwork.NewFakeClock())
}

// hallReport is the hall's own report (hallctl report's code path).
func hallReport(t *testing.T, dsn string, cfg *config.Config, from, to string) []report.Row {
	t.Helper()
	ctx := context.Background()
	pg, err := store.OpenPostgresReadOnly(ctx, dsn, cfg.Hall.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	led := casesys.NewLedger(cfg)
	if err := report.Read(ctx, pg, func(r store.Record) error { led.Apply(r); return nil }); err != nil {
		t.Fatal(err)
	}
	rows, err := report.Compute(led, cfg, report.Opts{From: from, To: to, Period: "month", By: "department"})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func f(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func same(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(a))
}

// TestCityEqualsHallReports: each hall's city rows, per department and
// per hall, are its own report's figures (by department, one period).
func TestCityEqualsHallReports(t *testing.T) {
	ctx := context.Background()
	halls := []string{"futian", "nanshan", "luohu"}
	dsn, pool, cc := cityDB(t, 60, halls...)
	st, err := folder(pool, cc).FoldAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Halls != 3 || st.Rows < 3*5*60 {
		t.Fatalf("fold stats %+v", st)
	}
	for _, rng := range [][2]string{{"2026-11-03", "2026-11-05"}, {"2026-11-01", "2026-11-30"}, {"2026-11-06", "2026-11-08"}} {
		all, err := city.Summarize(ctx, pool, city.Query{From: rng[0], To: rng[1], By: "dept"}, cc)
		if err != nil {
			t.Fatal(err)
		}
		var total report.Row
		for _, h := range halls {
			want := hallReport(t, dsn, cc.HallConfigs[h], rng[0], rng[1])
			got := map[string]city.Row{}
			for _, r := range all.Rows {
				if r.Hall == h {
					got[r.Dept] = r
				}
			}
			if len(want) != len(got) {
				t.Fatalf("%s %v: report has %d departments, city %d", h, rng, len(want), len(got))
			}
			for _, w := range want {
				g, ok := got[w.Group]
				if !ok {
					t.Fatalf("%s %v: no city row for %s", h, rng, w.Group)
				}
				if g.DeptName != w.GroupName {
					t.Errorf("%s/%s: name %q, report %q", h, w.Group, g.DeptName, w.GroupName)
				}
				ints := [][3]any{{"tickets", g.Tickets, w.Tickets}, {"served", g.Served, w.Served}, {"no_shows", g.NoShows, w.NoShows},
					{"called", g.Called, w.Waits}, {"rated", g.Rated, w.Rated}, {"good", g.Good, w.Good}, {"bad", g.Bad, w.Bad},
					{"rectified", g.Rectified, w.BadRectified}, {"due", g.Due, w.Due}, {"due_on_time", g.DueOnTime, w.DueOnTime}}
				for _, c := range ints {
					if c[1].(int64) != int64(c[2].(int)) {
						t.Errorf("%s/%s %v: %s city %v, report %v", h, w.Group, rng, c[0], c[1], c[2])
					}
				}
				floats := [][3]any{{"mean_wait", f(g.MeanWaitS), w.MeanWaitS}, {"p90_wait", f(g.P90WaitS), w.P90WaitS},
					{"good_rate", f(g.GoodRate), w.GoodRate()}, {"bad_rate", f(g.BadRate), w.BadRate()},
					{"rectify_rate", f(g.Rectify), w.RectifyRate()}, {"due_on_time_rate", f(g.OnTime), w.DueOnTimeRate()}}
				for _, c := range floats {
					if !same(c[1].(float64), c[2].(float64)) {
						t.Errorf("%s/%s %v: %s city %v, report %v", h, w.Group, rng, c[0], c[1], c[2])
					}
				}
				total.Tickets += w.Tickets
				total.Due += w.Due
				total.Rated += w.Rated
			}
		}
		if all.Total.Tickets != int64(total.Tickets) || all.Total.Due != int64(total.Due) || all.Total.Rated != int64(total.Rated) {
			t.Errorf("%v: city totals %+v, reports' sums %+v", rng, all.Total, total)
		}
		if rng[0] == "2026-11-03" && (total.Tickets == 0 || total.Due == 0 || total.Rated == 0) {
			t.Fatalf("the generated logs are too thin: %+v", total)
		}
		// By hall: the department rows summed.
		byHall, err := city.Summarize(ctx, pool, city.Query{From: rng[0], To: rng[1], By: "hall"}, cc)
		if err != nil {
			t.Fatal(err)
		}
		for _, hr := range byHall.Rows {
			var tk, due int64
			for _, r := range all.Rows {
				if r.Hall == hr.Hall {
					tk, due = tk+r.Tickets, due+r.Due
				}
			}
			if hr.Tickets != tk || hr.Due != due || hr.HallName != "测试大厅"+hr.Hall {
				t.Errorf("hall row %+v, departments sum tickets %d due %d", hr, tk, due)
			}
		}
		if !reflect.DeepEqual(byHall.Total, all.Total) {
			t.Errorf("totals differ by grouping: %+v vs %+v", byHall.Total, all.Total)
		}
	}
}

// rowsOf is every city_tickets row, in key order.
func rowsOf(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT city_tickets::text FROM city_tickets ORDER BY hall, ticket`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestFoldIdempotentIncremental: folding twice changes nothing; a
// restarted folder writes only what is new; the rows of an incremental
// fold are those of a fold from scratch.
func TestFoldIdempotentIncremental(t *testing.T) {
	ctx := context.Background()
	dsn, pool, cc := cityDB(t, 30, "h1", "h2")
	f1 := folder(pool, cc)
	st, err := f1.FoldAll(ctx)
	if err != nil || st.Records == 0 {
		t.Fatalf("first fold %+v %v", st, err)
	}
	first := rowsOf(t, pool)
	if st, err := f1.FoldAll(ctx); err != nil || st.Records != 0 || st.Rows != 0 {
		t.Fatalf("second fold did something: %+v %v", st, err)
	}
	if !reflect.DeepEqual(rowsOf(t, pool), first) {
		t.Fatal("rows changed on a second fold")
	}
	// A restarted folder replays without writing.
	f2 := folder(pool, cc)
	if st, err := f2.FoldAll(ctx); err != nil || st.Records != 0 {
		t.Fatalf("restarted fold wrote: %+v %v", st, err)
	}
	// New events: two more days of h1, and late outcomes.
	more := genHallFrom(99, "2026-11-09", 2, 25, 100000)
	appendLog(t, ctx, dsn, "h1", more)
	st, err = f2.FoldAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ledgerRecs := 0
	for _, r := range more {
		if r.Stream != casesys.IdentityStream {
			ledgerRecs++
		}
	}
	if st.Records != ledgerRecs {
		t.Fatalf("incremental fold read %d records, %d were new", st.Records, ledgerRecs)
	}
	incremental := rowsOf(t, pool)
	if len(incremental) <= len(first) {
		t.Fatalf("no new rows: %d → %d", len(first), len(incremental))
	}
	// From scratch, in small batches (cursor moves mid-day).
	if _, err := pool.Exec(ctx, `DELETE FROM city_tickets; DELETE FROM city_cursors`); err != nil {
		t.Fatal(err)
	}
	f3 := folder(pool, cc)
	f3.Batch = 97
	if _, err := f3.FoldAll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, pool); !reflect.DeepEqual(got, incremental) {
		for i := range got {
			if i < len(incremental) && got[i] != incremental[i] {
				t.Fatalf("row %d: scratch %s, incremental %s", i, got[i], incremental[i])
			}
		}
		t.Fatalf("scratch %d rows, incremental %d", len(got), len(incremental))
	}
	// Two folders on one database: the stale one is refused, not doubled.
	appendLog(t, ctx, dsn, "h2", genHallFrom(7, "2026-11-12", 1, 5, 200000))
	if _, err := f3.FoldAll(ctx); err != nil {
		t.Fatal(err)
	}
	appendLog(t, ctx, dsn, "h2", []store.Record{casesys.ClerkRecord(1, "x", time.Date(2026, 11, 13, 9, 0, 0, 0, time.UTC))})
	if _, err := f2.FoldAll(ctx); !errors.Is(err, city.ErrRaced) {
		t.Fatalf("a stale folder: %v", err)
	}
	if _, err := f2.FoldAll(ctx); err != nil { // rebuilt from the log
		t.Fatal(err)
	}
}

// TestTodayAndRange: ParseQuery's defaults and the day filters.
func TestTodayAndRange(t *testing.T) {
	ctx := context.Background()
	_, pool, cc := cityDB(t, 20, "h1")
	if _, err := folder(pool, cc).FoldAll(ctx); err != nil {
		t.Fatal(err)
	}
	q, err := city.ParseQuery(url.Values{}, "2026-11-04")
	if err != nil || q.From != "2026-11-04" || q.To != "2026-11-04" || q.By != "hall" {
		t.Fatalf("%+v %v", q, err)
	}
	day, err := city.Summarize(ctx, pool, q, cc)
	if err != nil {
		t.Fatal(err)
	}
	if day.Total.Tickets != 20 {
		t.Fatalf("today: %d tickets, 20 were issued", day.Total.Tickets)
	}
	wk, err := city.Summarize(ctx, pool, city.Query{From: "2026-11-02", To: "2026-11-06", By: "hall"}, cc)
	if err != nil || wk.Total.Tickets != 100 {
		t.Fatalf("5 days: %+v %v", wk.Total, err)
	}
	none, err := city.Summarize(ctx, pool, city.Query{From: "2026-10-01", To: "2026-10-31", By: "hall"}, cc)
	if err != nil || none.Total.Tickets != 0 || len(none.Rows) != 0 || none.Total.P90WaitS != nil {
		t.Fatalf("empty range: %+v %v", none, err)
	}
	other, err := city.Summarize(ctx, pool, city.Query{From: "2026-11-02", To: "2026-11-30", By: "hall", Halls: []string{"nope"}}, cc)
	if err != nil || other.Total.Tickets != 0 {
		t.Fatalf("another hall: %+v %v", other.Total, err)
	}
}

// TestRunRefreshes: Run folds at start and again at each refresh tick.
func TestRunRefreshes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn, pool, cc := cityDB(t, 5, "h1")
	clock := clockwork.NewFakeClock()
	fo := city.NewFolder(pool, cc.HallConfigs, slog.New(slog.DiscardHandler), clock)
	passes := make(chan city.FoldStats)
	fo.Passed = func(st city.FoldStats, err error) {
		if err != nil {
			t.Error(err)
		}
		passes <- st
	}
	done := make(chan struct{})
	go func() { defer close(done); fo.Run(ctx, 10*time.Second) }()
	if st := <-passes; st.Rows != 25 {
		t.Fatalf("first pass %+v", st)
	}
	appendLog(t, ctx, dsn, "h1", genHallFrom(3, "2026-11-09", 1, 4, 1000))
	clock.Advance(10 * time.Second)
	if st := <-passes; st.Rows != 4 {
		t.Fatalf("second pass %+v", st)
	}
	cancel()
	<-done
}
