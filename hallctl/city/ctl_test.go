package city_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/city"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/report"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/pgtest"
)

func ctlHall(t *testing.T, id string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(id+".yaml", []byte(fmt.Sprintf(`hall: {id: %s, name: 大厅%s, timezone: Asia/Shanghai, hours: {open: "00:00", close: "24:00"}}
departments: [{code: HR, name: 人社}, {code: TAX, name: 税务}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}
  - {code: HR-002, name: 退休审批, dept: HR, prefix: B, kind: promised, promise_days: 3}
  - {code: TAX-01, name: 发票, dept: TAX, prefix: C, service_s: 120}
windows:
  - {number: 1, dept: HR, serves: [HR-001, HR-002]}
  - {number: 2, dept: TAX, serves: [TAX-01]}
case_system: {region: "440300"}
`, id, id)), ctl.CheckConfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// driveHall runs a real controller on hall's PostgreSQL log: tickets
// issued, called, served (some after a no-show and requeue) at two windows, rated (差评
// closed by a manager), promised cases accepted and completed. It
// returns the controller's own report by department over the day.
func driveHall(t *testing.T, ctx context.Context, dsn string, cfg *config.Config, seed int) []report.Row {
	t.Helper()
	pg, err := store.OpenPostgres(ctx, dsn, store.Options{Hall: cfg.Hall.ID})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 9, 0, 0, 0, shanghai))
	c, err := ctl.New(ctx, ctl.Options{Config: cfg, Clock: clock, Store: pg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []int{1, 2} {
		if _, err := c.Manage(ctx, ctl.ManagerAction{Type: "open", Window: w}); err != nil {
			t.Fatal(err)
		}
	}
	items := []string{"HR-001", "HR-002", "TAX-01"}
	var issued []ctl.Issued
	for i := range 9 + seed {
		is, err := c.Issue(ctx, ctl.IssueRequest{Item: items[(i+seed)%3]}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		issued = append(issued, is)
		clock.Advance(time.Duration(30+i*7) * time.Second)
	}
	served := 0
	for round := 0; round < 12; round++ {
		for _, w := range []int{1, 2} {
			res, err := c.Act(ctx, ctl.ActRequest{Window: w, Action: "call-next", Clerk: fmt.Sprintf("c%d", w)})
			if err != nil || res.Called == nil {
				continue // nobody waiting for this window
			}
			clock.Advance(time.Minute)
			if (round+seed)%4 == 3 {
				if _, err := c.Act(ctx, ctl.ActRequest{Window: w, Action: "no-show"}); err != nil {
					t.Fatal(err)
				}
				continue
			}
			for _, a := range []string{"start", "finish"} {
				if _, err := c.Act(ctx, ctl.ActRequest{Window: w, Action: a}); err != nil {
					t.Fatal(err)
				}
				clock.Advance(2 * time.Minute)
			}
			served++
			level := 1 + (round*3+w+seed)%5
			if _, err := c.Rate(ctx, res.Called.Ticket, level, "pad", "test"); err != nil {
				t.Fatalf("rate %d: %v", res.Called.Ticket, err)
			}
			if level <= 2 && round%2 == 0 {
				if _, err := c.CloseFollowUp(ctx, res.Called.Ticket, "整改完毕", "m1"); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if served == 0 {
		t.Fatal("nothing served")
	}
	// Complete half the promised cases, two days later.
	var serials []string
	pg.Read(ctx, casesys.CaseStream, 0, func(r store.Record) error {
		var cs casesys.Case
		if r.Type == "accepted" && json.Unmarshal(r.Data, &cs) == nil {
			serials = append(serials, cs.Serial)
		}
		return nil
	})
	if len(serials) == 0 {
		t.Fatal("no cases accepted")
	}
	clock.Advance(48 * time.Hour)
	for i, s := range serials {
		if i%2 == 1 {
			continue
		}
		if _, err := c.SetCaseStatus(ctx, casesys.StatusChange{Serial: s, Status: casesys.StatusApproved}); err != nil {
			t.Fatalf("approve %s: %v", s, err)
		}
	}
	rows, err := c.Report(ctx, report.Opts{From: "2026-11-23", To: "2026-11-30", Period: "month", By: "department"})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestCityWithRealControllers: two halls driven through real
// controllers; the city's rows are the controllers' own reports.
func TestCityWithRealControllers(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	cc := &city.Config{HallConfigs: map[string]*config.Config{}}
	want := map[string][]report.Row{}
	for i, h := range []string{"real-a", "real-b"} {
		cc.HallConfigs[h] = ctlHall(t, h)
		want[h] = driveHall(t, ctx, dsn, cc.HallConfigs[h], i)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := folder(pool, cc).FoldAll(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := city.Summarize(ctx, pool, city.Query{From: "2026-11-23", To: "2026-11-30", By: "dept"}, cc)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for h, rows := range want {
		for _, w := range rows {
			var g *city.Row
			for i := range s.Rows {
				if s.Rows[i].Hall == h && s.Rows[i].Dept == w.Group {
					g = &s.Rows[i]
				}
			}
			if g == nil {
				t.Fatalf("%s/%s: no city row", h, w.Group)
			}
			n++
			got := []int64{g.Tickets, g.Served, g.NoShows, g.Called, g.Rated, g.Good, g.Bad, g.Rectified, g.Due, g.DueOnTime}
			exp := []int{w.Tickets, w.Served, w.NoShows, w.Waits, w.Rated, w.Good, w.Bad, w.BadRectified, w.Due, w.DueOnTime}
			for i := range got {
				if got[i] != int64(exp[i]) {
					t.Errorf("%s/%s: city %v, controller's report %v (tickets, served, no-shows, called, rated, good, bad, rectified, due, on time)", h, w.Group, got, exp)
					break
				}
			}
			if !same(f(g.MeanWaitS), w.MeanWaitS) || !same(f(g.P90WaitS), w.P90WaitS) {
				t.Errorf("%s/%s: waits city %v/%v, report %v/%v", h, w.Group, f(g.MeanWaitS), f(g.P90WaitS), w.MeanWaitS, w.P90WaitS)
			}
			if w.Due > 0 && w.Rated > 0 && w.Bad > 0 {
				t.Logf("%s/%s: %d tickets, %d due, %d bad", h, w.Group, w.Tickets, w.Due, w.Bad)
			}
		}
	}
	if n < 4 || s.Total.Due == 0 || s.Total.Bad == 0 || s.Total.Rectified == 0 || s.Total.DueOnTime == s.Total.Due {
		t.Fatalf("the driven halls are too thin: %d rows, totals %+v", n, s.Total)
	}
}
