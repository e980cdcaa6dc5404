package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
)

const scenarioDir = "../../../shared/bench/scenarios"

func scenarios(t testing.TB) []string {
	files, _ := filepath.Glob(filepath.Join(scenarioDir, "*.yaml"))
	if len(files) == 0 {
		t.Skip("no bench scenarios beside the repo")
	}
	return files
}

func TestScenariosAllPolicies(t *testing.T) {
	for _, f := range scenarios(t) {
		cfg, arr, err := LoadScenario(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range queue.Policies() {
			res, err := Run(cfg, arr, p)
			if err != nil {
				t.Fatalf("%s %s: %v", f, p, err)
			}
			if res.Tickets != len(arr) || res.Called+res.Unserved != res.Tickets {
				t.Errorf("%s %s: tickets %d called %d unserved %d", f, p, res.Tickets, res.Called, res.Unserved)
			}
			if res.Little.RelErr > 1e-9 {
				t.Errorf("%s %s: Little's law %+v", f, p, res.Little)
			}
			w := res.Wait
			if !(w.P50 <= w.P90 && w.P90 <= w.P95 && w.P95 <= w.P99 && w.P99 <= w.Max) || w.Mean < 0 {
				t.Errorf("%s %s: wait stats %+v", f, p, w)
			}
			if res.Utilisation <= 0 || res.Utilisation > 1 || res.JainItems <= 0 || res.JainItems > 1 {
				t.Errorf("%s %s: utilisation %v jain %v", f, p, res.Utilisation, res.JainItems)
			}
			n := 0
			for _, c := range res.Classes {
				n += c.Tickets
			}
			if n != res.Called {
				t.Errorf("%s %s: class tickets %d != called %d", f, p, n, res.Called)
			}
		}
	}
}

// TestPolicyOrdering: pooling beats dedicated, and the product's default
// beats fifo on every scenario.
func TestPolicyOrdering(t *testing.T) {
	scenarios(t)
	all, err := BenchResults(context.Background(), scenarioDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		m := func(p queue.Policy) float64 { return s.ByPolicy[p].Wait.Mean }
		if !(m(queue.PolicyPooled) < m(queue.PolicyDefault) && m(queue.PolicyDefault) < m(queue.PolicyFIFO) && m(queue.PolicyFIFO) < m(queue.PolicyDedicated)) {
			t.Errorf("%s: pooled %.0f default %.0f fifo %.0f dedicated %.0f", s.Name, m(queue.PolicyPooled), m(queue.PolicyDefault), m(queue.PolicyFIFO), m(queue.PolicyDedicated))
		}
		if g := CheckGoals(s); g.PoolingShare < 0.85 {
			t.Errorf("%s: pooling benefit %.1f%%", s.Name, 100*g.PoolingShare)
		}
	}
	var b bytes.Buffer
	WriteBenchTable(&b, all)
	t.Log("\n" + b.String())
}

// TestNoClairvoyance: changing what an applicant will do (service time,
// no-show) changes nothing the hall decided before that ticket was called.
func TestNoClairvoyance(t *testing.T) {
	files := scenarios(t)
	cfg, arr, err := LoadScenario(files[0])
	if err != nil {
		t.Fatal(err)
	}
	_, base, err := run(cfg, arr, queue.Opts{Policy: queue.PolicyDefault})
	if err != nil {
		t.Fatal(err)
	}
	k := len(arr) / 2
	changed := append([]Arrival(nil), arr...)
	changed[k].ServiceS *= 7
	changed[k].NoShow = !changed[k].NoShow
	_, alt, err := run(cfg, changed, queue.Opts{Policy: queue.PolicyDefault})
	if err != nil {
		t.Fatal(err)
	}
	var calledK int64 = -1
	for _, rec := range base.tickets {
		if int(rec.arr) == k {
			calledK = rec.called
		}
	}
	if calledK < 0 {
		t.Fatal("ticket k not found")
	}
	diff := 0
	for i, rec := range base.tickets {
		o := alt.tickets[i]
		if rec.issued <= calledK && (rec.est50 != o.est50 || rec.est90 != o.est90) {
			t.Fatalf("ticket %d issued before k was called got another estimate", i)
		}
		if rec.called <= calledK && rec.called != o.called {
			t.Fatalf("ticket %d called before k was called moved", i)
		}
		if rec.called != o.called {
			diff++
		}
	}
	if diff == 0 {
		t.Error("the change had no effect at all; the test proves nothing")
	}
}

func TestArrivalsErrorsNameFileLineColumn(t *testing.T) {
	cfg, err := config.Parse("h.yaml", []byte(`hall: {id: h, name: h}
departments: [{code: X, name: x}]
items: [{code: X-1, name: x, dept: X, prefix: A}]
windows: [{number: 1, dept: X, serves: ["*"]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	good := "t_s,item,class,service_s,no_show\n1.5,X-1,walkin,60,0\n"
	if arr, err := ParseArrivals("a.csv", []byte(good), cfg); err != nil || len(arr) != 1 || arr[0].ServiceS != 60 {
		t.Fatalf("good: %v %v", arr, err)
	}
	for _, tc := range []struct{ body, want string }{
		{"", "a.csv:1: empty file"},
		{"t_s,item,klass,service_s,no_show\n", "a.csv:1: class: header column 3"},
		{good + "x,X-1,walkin,60,0\n", "a.csv:3: t_s:"},
		{good + "1.0,X-1,walkin,60,0\n", "a.csv:3: t_s: 1.0 is before the previous row"},
		{good + "2,Y-9,walkin,60,0\n", "a.csv:3: item: unknown item"},
		{good + "2,X-1,vip,60,0\n", "a.csv:3: class:"},
		{good + "2,X-1,green,-4,0\n", "a.csv:3: service_s:"},
		{good + "2,X-1,green,4,yes\n", "a.csv:3: no_show:"},
		{good + "2,X-1,green\n", "a.csv:3: 3 columns"},
		{good + "2,\"X-1,green,4,0\n", "a.csv:"},
	} {
		_, err := ParseArrivals("a.csv", []byte(tc.body), cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.Is(err, ErrBadArrivals) {
			t.Errorf("%q: got %v, want prefix %q", tc.body, err, tc.want)
		}
	}
}

func TestLoadScenarioErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hall := "hall: {id: h, name: h}\ndepartments: [{code: X, name: x}]\nitems: [{code: X-1, name: x, dept: X, prefix: A}]\nwindows: [{number: 1, dept: X, serves: [\"*\"]}]\n"
	noScen := write("a.yaml", hall)
	if _, _, err := LoadScenario(noScen); err == nil || !strings.Contains(err.Error(), "a.yaml: scenario:") {
		t.Errorf("no scenario section: %v", err)
	}
	badKey := write("b.yaml", "scenario: {name: b, arrivals: b.csv, walk_s: 20, wlak: 1}\n"+hall)
	if _, _, err := LoadScenario(badKey); err == nil || !strings.Contains(err.Error(), "b.yaml:1") || !strings.Contains(err.Error(), "wlak") {
		t.Errorf("unknown key: %v", err)
	}
	missing := write("c.yaml", "scenario: {name: c, arrivals: nope.csv}\n"+hall)
	if _, _, err := LoadScenario(missing); err == nil || !strings.Contains(err.Error(), "c.yaml: scenario.arrivals") {
		t.Errorf("missing arrivals: %v", err)
	}
	write("d.csv", "t_s,item,class,service_s,no_show\n1,X-2,walkin,3,0\n")
	badRow := write("d.yaml", "scenario: {name: d, arrivals: d.csv}\n"+hall)
	if _, _, err := LoadScenario(badRow); err == nil || !strings.Contains(err.Error(), "d.csv:2: item: unknown item \"X-2\"") {
		t.Errorf("bad row: %v", err)
	}
}

func TestCommand(t *testing.T) {
	files := scenarios(t)
	var out, errb bytes.Buffer
	ctx := context.Background()
	if code := Command(ctx, []string{"--scenario", files[0], "--policy", "fifo", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "policy", "tickets", "called", "no_shows", "wait_s", "classes", "jain_items", "utilisation", "overtime_s", "eta", "elapsed_s"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %q", k)
		}
	}
	for _, k := range []string{"mean", "p50", "p90", "p95", "p99", "max"} {
		if _, ok := m["wait_s"].(map[string]any)[k]; !ok {
			t.Errorf("missing wait_s.%s", k)
		}
	}
	for _, k := range []string{"walkin", "green", "appointment", "elderly"} {
		if _, ok := m["classes"].(map[string]any)[k]; !ok {
			t.Errorf("missing classes.%s", k)
		}
	}
	for _, k := range []string{"mae_s", "bias_s", "below_p50", "below_p90", "queued"} {
		if _, ok := m["eta"].(map[string]any)[k]; !ok {
			t.Errorf("missing eta.%s", k)
		}
	}
	queued, _ := m["eta"].(map[string]any)["queued"].(map[string]any)
	for _, k := range []string{"tickets", "below_p50", "below_p90", "mae_s", "bias_s"} {
		if _, ok := queued[k]; !ok {
			t.Errorf("missing eta.queued.%s", k)
		}
	}
	items, _ := m["items"].(map[string]any)
	if len(items) == 0 {
		t.Error("missing items")
	}
	for code, v := range items {
		for _, k := range []string{"tickets", "p50_s", "p90_s"} {
			if _, ok := v.(map[string]any)[k]; !ok {
				t.Errorf("missing items.%s.%s", code, k)
			}
		}
	}
	if m["policy"] != "fifo" {
		t.Errorf("policy %v", m["policy"])
	}
	out.Reset()
	if code := Command(ctx, []string{"--scenario", files[0]}, &out, &errb); code != 0 || !strings.Contains(out.String(), "jain_items") {
		t.Errorf("table: %d %s", code, out.String())
	}
	errb.Reset()
	if code := Command(ctx, []string{"--scenario", files[0], "--policy", "random"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown policy") {
		t.Errorf("bad policy: %d %s", code, errb.String())
	}
	if code := Command(ctx, []string{}, &out, &errb); code != 2 {
		t.Errorf("no scenario: %d", code)
	}
	errb.Reset()
	if code := Command(ctx, []string{"--scenario", "/nonexistent.yaml"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "nonexistent") {
		t.Errorf("missing file: %d %s", code, errb.String())
	}
}

func BenchmarkSimCivicDay(b *testing.B) {
	cfg, arr, err := LoadScenario(filepath.Join(scenarioDir, "civic-day.yaml"))
	if err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Run(cfg, arr, queue.PolicyDefault); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRunFromLiveState: the what-if preview continues a live engine's day
// on a copy; the live engine is untouched.
func TestRunFromLiveState(t *testing.T) {
	files := scenarios(t)
	f := files[0]
	for _, g := range files {
		if strings.Contains(g, "street") { // a busy hall: a queue at noon
			f = g
		}
	}
	cfg, arr, err := LoadScenario(f)
	if err != nil {
		t.Fatal(err)
	}
	spec := cfg.QueueSpec()
	spec.Rules.NoShowVoidAfter = 1
	eng, err := queue.New(spec, cfg.Loc, queue.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	open := cfg.Hall.Hours.OpenMin()
	base := time.Date(2026, 11, 23, open/60, open%60, 0, 0, eng.Location())
	cut := 0
	for cut < len(arr) && arr[cut].T < 3*3600 {
		cut++
	}
	r := newRunner(cfg, eng, base, arr[:cut])
	if err := r.scheduleHours(cfg, 0); err != nil {
		t.Fatal(err)
	}
	r.stopAt = 3 * 3600 * 1e6
	if err := r.run(); err != nil {
		t.Fatal(err)
	}
	now := base.Add(3 * time.Hour)
	waiting := eng.Waiting()
	before := eng.Snapshot(now)
	var future []Arrival
	for _, a := range arr[cut:] {
		a.T -= 3 * 3600
		future = append(future, a)
	}
	res, err := RunFrom(cfg, eng.Clone(), now, future)
	if err != nil {
		t.Fatal(err)
	}
	if waiting == 0 {
		t.Log("nobody waiting at the cut: the test is weaker")
	}
	if res.Tickets != waiting+len(future) || res.Called != res.Tickets || res.Little.RelErr > 1e-9 {
		t.Errorf("what-if: tickets %d (waiting %d + %d) called %d little %+v", res.Tickets, waiting, len(future), res.Called, res.Little)
	}
	if after := eng.Snapshot(now); !reflect.DeepEqual(before, after) {
		t.Error("RunFrom changed the live engine")
	}
	t.Logf("what-if from 12:00 with %d waiting: mean wait %.0f s, p90 %.0f s", waiting, res.Wait.Mean, res.Wait.P90)
}

// TestBenchTable prints the bench table for `make bench`:
//
//	SIM_BENCH_DIR=../shared/bench/scenarios go test ./hallctl/sim -run TestBenchTable -v
func TestBenchTable(t *testing.T) {
	dir := os.Getenv("SIM_BENCH_DIR")
	if dir == "" {
		t.Skip("set SIM_BENCH_DIR to print the bench table")
	}
	if !filepath.IsAbs(dir) {
		// go test runs in the package directory; resolve against the module root.
		dir = filepath.Join("..", "..", dir)
	}
	if err := BenchTable(context.Background(), dir, os.Stdout); err != nil {
		t.Fatal(err)
	}
}

// TestRunFromPausedWindow: a window paused now (a break) stays out of the
// run until it would close; the preview must not fail on it (it answered
// 500 whenever a window was paused).
func TestRunFromPausedWindow(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte(`hall: {id: p, name: P, hours: {open: "08:00", close: "18:00"}}
departments: [{code: D, name: D}]
items: [{code: I1, name: I1, dept: D, prefix: A, service_s: 120}]
windows:
  - {number: 1, dept: D, serves: [I1]}
  - {number: 2, dept: D, serves: [I1]}
`))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := queue.New(cfg.QueueSpec(), cfg.Loc, queue.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, eng.Location())
	for _, w := range []int{1, 2} {
		if _, err := eng.OpenWindow(now.Add(-time.Hour), w); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.PauseWindow(now.Add(-time.Minute), 2, "break"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := eng.Issue(now.Add(-30*time.Second), queue.IssueReq{Item: "I1"}); err != nil {
			t.Fatal(err)
		}
	}
	arr := []Arrival{{T: 60, Item: "I1", Class: queue.Walkin, ServiceS: 100}}
	res, err := RunFrom(cfg, eng.Clone(), now, arr)
	if err != nil {
		t.Fatalf("RunFrom with a paused window: %v", err)
	}
	if res.Tickets != 4 || res.Called != 4 {
		t.Errorf("tickets %d called %d, want 4 and 4", res.Tickets, res.Called)
	}
}
