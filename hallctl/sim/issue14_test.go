package sim

import (
	"math"
	"testing"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
)

// TestQueuedETAAndItems: eta.queued counts only the tickets that waited
// (wait > 0), items gives each item's nearest-rank P50/P90 of waits.
func TestQueuedETAAndItems(t *testing.T) {
	cfg, err := config.Parse("q.yaml", []byte(`scenario: {name: q, arrivals: none.csv, walk_s: 0, no_show_hold_s: 60}
hall: {id: q, name: q, hours: {open: "09:00", close: "17:00"}}
departments: [{code: X, name: x}]
items: [{code: X-1, name: x, dept: X, prefix: A, service_s: 100}, {code: X-2, name: y, dept: X, prefix: B, service_s: 100}]
windows: [{number: 1, dept: X, serves: ["X-1"]}, {number: 2, dept: X, serves: ["X-2"]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	// Window 1: A001 at once (0 s), then the green A003 (80 s) before
	// A002 (190 s), then A004, a no-show (270 s). Window 2: B001 at once.
	arr := []Arrival{
		{T: 0, Item: "X-1", ServiceS: 100},
		{T: 5, Item: "X-2", ServiceS: 100},
		{T: 10, Item: "X-1", ServiceS: 100},
		{T: 20, Item: "X-1", Class: queue.Green, ServiceS: 100},
		{T: 30, Item: "X-1", NoShow: true},
	}
	res, r, err := run(cfg, arr, queue.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Items["X-1"]; got != (ItemStats{Tickets: 4, P50S: 80, P90S: 270}) {
		t.Errorf("items X-1 %+v", got)
	}
	if got := res.Items["X-2"]; got != (ItemStats{Tickets: 1, P50S: 0, P90S: 0}) {
		t.Errorf("items X-2 %+v", got)
	}
	q := res.ETA.Queued
	if q.Tickets != 3 {
		t.Fatalf("queued tickets %d, want 3", q.Tickets)
	}
	var b50, b90, abs, bias float64
	for _, rec := range r.tickets {
		w := float64(rec.called-rec.issued) / 1e6
		if w == 0 {
			continue
		}
		if w <= rec.est50 {
			b50++
		}
		if w <= rec.est90 {
			b90++
		}
		abs += math.Abs(rec.est50 - w)
		bias += rec.est50 - w
	}
	if q.BelowP50 != b50/3 || q.BelowP90 != b90/3 || math.Abs(q.MAES-abs/3) > 1e-9 || math.Abs(q.BiasS-bias/3) > 1e-9 {
		t.Errorf("queued %+v, want below %v/%v of 3, mae %v bias %v", q, b50, b90, abs/3, bias/3)
	}
}

// TestIssue14Bars: on every shared scenario, under the default policy,
// the green channel waits at most half the walk-in mean, walk-ins at most
// 1.1× their fifo mean, and the estimates of the tickets that waited are
// calibrated: P50 covers 40–60% of them, P90 85–95%.
func TestIssue14Bars(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every shared scenario twice")
	}
	for _, f := range scenarios(t) {
		cfg, arr, err := LoadScenario(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Run(cfg, arr, queue.PolicyDefault)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := Run(cfg, arr, queue.PolicyFIFO)
		if err != nil {
			t.Fatal(err)
		}
		g, w, fw := d.Classes["green"].MeanWaitS, d.Classes["walkin"].MeanWaitS, fi.Classes["walkin"].MeanWaitS
		q := d.ETA.Queued
		t.Logf("| %s | %.0f / %.0f = %.2f | %.0f / %.0f = %.3f | %.3f | %.3f | %d |", d.Scenario, g, w, g/w, w, fw, w/fw, q.BelowP50, q.BelowP90, q.Tickets)
		if d.Classes["green"].Tickets == 0 || g > w/2 {
			t.Errorf("%s: green %.0f s > half the walk-in mean %.0f s", d.Scenario, g, w)
		}
		if w > 1.1*fw {
			t.Errorf("%s: walk-in %.0f s > 1.1 × fifo's %.0f s", d.Scenario, w, fw)
		}
		if q.Tickets < 100 || q.BelowP50 < 0.40 || q.BelowP50 > 0.60 || q.BelowP90 < 0.85 || q.BelowP90 > 0.95 {
			t.Errorf("%s: eta.queued %+v outside P50 0.40–0.60, P90 0.85–0.95", d.Scenario, q)
		}
	}
}
