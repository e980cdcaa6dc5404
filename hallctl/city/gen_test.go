package city_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/store"
)

// hallConfig is a small hall with three departments; id names it.
func hallConfig(t testing.TB, id string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(id+".yaml", []byte(fmt.Sprintf(`
hall: {id: %s, name: 测试大厅%s, timezone: Asia/Shanghai}
departments: [{code: HR, name: 人社}, {code: TAX, name: 税务}, {code: MKT, name: 市场监管}]
items:
  - {code: HR-001, name: 人才引进, dept: HR, prefix: A, kind: promised, promise_days: 3}
  - {code: TAX-01, name: 发票, dept: TAX, prefix: B}
  - {code: MKT-01, name: 营业执照, dept: MKT, prefix: C, kind: promised, promise_days: 5}
windows:
  - {number: 1, dept: HR, serves: ["HR-001"]}
  - {number: 2, dept: TAX, serves: ["TAX-01"]}
  - {number: 3, dept: MKT, serves: ["MKT-01"]}
`, id, id)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

// gen writes a hall's log the way the controller's records look: queue
// events (issued, called, started, finished, no-show), clerk shifts,
// ratings with 差评 follow-ups (closed, appealed and accepted), promised
// cases accepted and completed early, on time, late or never.
type gen struct {
	rng     *rand.Rand
	recs    []store.Record
	ticket  int64
	serial  int
	pending []store.Record // records dated after the day (case outcomes)
}

func (g *gen) q(typ string, at time.Time, f map[string]any) {
	m := map[string]any{"type": typ, "at": at.UTC()}
	for k, v := range f {
		m[k] = v
	}
	d, _ := json.Marshal(m)
	g.recs = append(g.recs, store.Record{Stream: casesys.QueueStream, Type: typ, At: at, Data: d})
}

var items = []struct {
	code     string
	window   int
	promised int
}{{"HR-001", 1, 3}, {"TAX-01", 2, 0}, {"MKT-01", 3, 5}}

// day generates n tickets issued on the local day.
func (g *gen) day(day string, n int) {
	d0, _ := time.ParseInLocation(casesys.DateLayout, day, shanghai)
	open := d0.Add(9 * time.Hour)
	for w := 1; w <= 3; w++ {
		g.recs = append(g.recs, casesys.ClerkRecord(w, "clerk-"+strconv.Itoa(w), open.Add(-5*time.Minute)))
	}
	for i := 0; i < n; i++ {
		g.ticket++
		id := g.ticket
		it := items[g.rng.IntN(len(items))]
		issued := open.Add(time.Duration(g.rng.IntN(7*3600)) * time.Second)
		g.q("issued", issued, map[string]any{"ticket": id, "number": fmt.Sprintf("A%03d", i), "item": it.code, "day": day})
		fate := g.rng.IntN(20)
		if fate == 0 {
			continue // still waiting (or walked away)
		}
		called := issued.Add(time.Duration(g.rng.IntN(3600)+1) * time.Second)
		g.q("called", called, map[string]any{"ticket": id, "window": it.window})
		if fate == 1 {
			g.q("no_show", called.Add(2*time.Minute), map[string]any{"ticket": id, "window": it.window, "void": true})
			continue
		}
		g.q("started", called.Add(30*time.Second), map[string]any{"ticket": id, "window": it.window})
		done := called.Add(time.Duration(g.rng.IntN(900)+60) * time.Second)
		if it.promised > 0 {
			g.serial++
			serial := fmt.Sprintf("S%08d", g.serial)
			due := d0.AddDate(0, 0, it.promised).Format(casesys.DateLayout)
			c := casesys.Case{Serial: serial, Ticket: id, Item: it.code, Due: due, Kind: "promised", AcceptedAt: done, Status: casesys.StatusAccepted}
			b, _ := json.Marshal(c)
			g.recs = append(g.recs, store.Record{Stream: casesys.CaseStream, Type: "accepted", Key: serial, At: done, Data: b})
			if late := g.rng.IntN(5); late > 0 { // 1 in 5 stays open
				at := d0.AddDate(0, 0, it.promised+late-3).Add(15 * time.Hour) // early, on time or late
				b, _ := json.Marshal(casesys.StatusChange{Serial: serial, Status: casesys.StatusApproved, At: at})
				g.pending = append(g.pending, store.Record{Stream: casesys.CaseStream, Type: "status", At: at, Data: b})
			}
		}
		g.q("finished", done, map[string]any{"ticket": id, "window": it.window})
		if g.rng.IntN(3) == 0 {
			level := g.rng.IntN(5) + 1
			at := done.Add(time.Minute)
			b, _ := json.Marshal(map[string]any{"ticket": id, "level": level, "at": at.UTC(), "item": it.code, "window": it.window})
			g.recs = append(g.recs, store.Record{Stream: casesys.RatingStream, Type: "rated", At: at, Data: b})
			if level <= casesys.FollowUpLevel {
				switch g.rng.IntN(3) {
				case 0:
					g.pending = append(g.pending, casesys.FollowUpRecord(casesys.FollowUpClosed{Ticket: id, At: at.Add(24 * time.Hour)}))
				case 1:
					g.pending = append(g.pending,
						casesys.FollowUpStepRecord(casesys.FollowUpStep{Ticket: id, Action: casesys.ActAppeal, At: at.Add(time.Hour)}, 0),
						casesys.FollowUpStepRecord(casesys.FollowUpStep{Ticket: id, Action: casesys.ActAcceptAppeal, At: at.Add(2 * time.Hour)}, 1))
				}
			}
		}
	}
}

// flush moves the pending (later) records to the log.
func (g *gen) flush() {
	g.recs = append(g.recs, g.pending...)
	g.pending = nil
}

// genHall is days of n tickets a day from first.
func genHall(seed uint64, first string, days, n int) []store.Record {
	return genHallFrom(seed, first, days, n, 0)
}

// genHallFrom is genHall with ticket ids and case serials after start.
func genHallFrom(seed uint64, first string, days, n int, start int64) []store.Record {
	g := &gen{rng: rand.New(rand.NewPCG(seed, 1)), ticket: start, serial: int(start)}
	d, _ := time.Parse(casesys.DateLayout, first)
	for i := 0; i < days; i++ {
		g.day(d.AddDate(0, 0, i).Format(casesys.DateLayout), n)
	}
	g.flush()
	return g.recs
}

// appendLog writes recs to hall's PostgreSQL log through the store, in
// batches, as a controller does.
func appendLog(t testing.TB, ctx context.Context, dsn, hall string, recs []store.Record) {
	t.Helper()
	pg, err := store.OpenPostgres(ctx, dsn, store.Options{Hall: hall})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	for len(recs) > 0 {
		n := min(len(recs), 500)
		if _, err := pg.Append(ctx, recs[:n]...); err != nil {
			t.Fatal(err)
		}
		recs = recs[n:]
	}
}
