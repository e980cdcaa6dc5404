package sim

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/servicehall/servicehall/hallctl/queue"
)

// Command implements `hallctl sim --scenario FILE [--policy P] [--json]`.
// It returns the process exit code: 0 ok, 1 failed, 2 usage.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", "", "scenario file (a hall config with a scenario: section)")
	policy := fs.String("policy", "default", "routing policy: default, fifo, dedicated, pooled")
	asJSON := fs.Bool("json", false, "print one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hallctl sim --scenario FILE [--policy P] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *scenario == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	p, err := queue.ParsePolicy(*policy)
	if err != nil {
		fmt.Fprintln(stderr, "hallctl sim:", err)
		return 2
	}
	if ctx.Err() != nil {
		return 1
	}
	cfg, arr, err := LoadScenario(*scenario)
	if err != nil {
		fmt.Fprintln(stderr, "hallctl sim:", err)
		return 1
	}
	res, err := Run(cfg, arr, p)
	if err != nil {
		fmt.Fprintln(stderr, "hallctl sim:", err)
		return 1
	}
	if *asJSON {
		out := res
		out.ItemMeanWaitS = nil
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintln(stderr, "hallctl sim:", err)
			return 1
		}
		return 0
	}
	writeResult(stdout, res)
	return 0
}

func writeResult(w io.Writer, r Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\t%s\npolicy\t%s\n", r.Scenario, r.Policy)
	fmt.Fprintf(tw, "tickets\t%d (called %d, no-shows %d, unserved %d)\n", r.Tickets, r.Called, r.NoShows, r.Unserved)
	fmt.Fprintf(tw, "wait (s)\tmean %.0f  p50 %.0f  p90 %.0f  p95 %.0f  p99 %.0f  max %.0f\n",
		r.Wait.Mean, r.Wait.P50, r.Wait.P90, r.Wait.P95, r.Wait.P99, r.Wait.Max)
	names := make([]string, 0, len(r.Classes))
	for k := range r.Classes {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		c := r.Classes[k]
		fmt.Fprintf(tw, "class %s\t%d tickets, mean wait %.0f s\n", k, c.Tickets, c.MeanWaitS)
	}
	fmt.Fprintf(tw, "jain_items\t%.3f\nutilisation\t%.3f\novertime\t%.0f s\n", r.JainItems, r.Utilisation, r.OvertimeS)
	fmt.Fprintf(tw, "estimate\tMAE %.0f s, bias %+.0f s, below P50 %.2f, below P90 %.2f\n", r.ETA.MAES, r.ETA.BiasS, r.ETA.BelowP50, r.ETA.BelowP90)
	q := r.ETA.Queued
	fmt.Fprintf(tw, "estimate, waited\t%d tickets: MAE %.0f s, bias %+.0f s, below P50 %.2f, below P90 %.2f\n", q.Tickets, q.MAES, q.BiasS, q.BelowP50, q.BelowP90)
	fmt.Fprintf(tw, "little\tL %.2f, λW %.2f (rel err %.1e)\n", r.Little.L, r.Little.LambdaW, r.Little.RelErr)
	fmt.Fprintf(tw, "elapsed\t%.3f s\n", r.ElapsedS)
	tw.Flush()
}

// ScenarioResults are one scenario under every policy.
type ScenarioResults struct {
	Name     string
	ByPolicy map[queue.Policy]Result
}

// PoolingShare is the share of the pooling benefit that default captures:
// (W_dedicated − W_default) / (W_dedicated − W_pooled).
func (s ScenarioResults) PoolingShare() float64 {
	d, p, x := s.ByPolicy[queue.PolicyDedicated].Wait.Mean, s.ByPolicy[queue.PolicyPooled].Wait.Mean, s.ByPolicy[queue.PolicyDefault].Wait.Mean
	if d-p == 0 {
		return 1
	}
	return (d - x) / (d - p)
}

// BenchResults runs every scenario (*.yaml) in dir under every policy.
func BenchResults(ctx context.Context, dir string) ([]ScenarioResults, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no scenarios (*.yaml) in %s", dir)
	}
	sort.Strings(files)
	var out []ScenarioResults
	for _, f := range files {
		cfg, arr, err := LoadScenario(f)
		if err != nil {
			return nil, err
		}
		sr := ScenarioResults{Name: strings.TrimSuffix(filepath.Base(f), ".yaml"), ByPolicy: map[queue.Policy]Result{}}
		if cfg.Scenario != nil && cfg.Scenario.Name != "" {
			sr.Name = cfg.Scenario.Name
		}
		for _, p := range queue.Policies() {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			res, err := Run(cfg, arr, p)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", f, p, err)
			}
			sr.ByPolicy[p] = res
		}
		out = append(out, sr)
	}
	return out, nil
}

// BenchTable prints, for every scenario in dir and every policy, the
// figures `make bench` shows, the pooling-benefit share captured by
// default, and default's goals from issue 3 with pass/miss.
func BenchTable(ctx context.Context, scenarioDir string, w io.Writer) error {
	all, err := BenchResults(ctx, scenarioDir)
	if err != nil {
		return err
	}
	WriteBenchTable(w, all)
	return nil
}

// WriteBenchTable prints results as BenchTable does.
func WriteBenchTable(w io.Writer, all []ScenarioResults) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tpolicy\tmean\tp95\tp99\tmax\tjain\tovertime\tmae\tbelow_p50\tbelow_p90\tq_below_p50\tq_below_p90\twalkin\tgreen\tutil\tms\t")
	for _, s := range all {
		for _, p := range queue.Policies() {
			r := s.ByPolicy[p]
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.3f\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\t%.0f\t%.3f\t%.0f\t\n",
				s.Name, p, r.Wait.Mean, r.Wait.P95, r.Wait.P99, r.Wait.Max, r.JainItems, r.OvertimeS,
				r.ETA.MAES, r.ETA.BelowP50, r.ETA.BelowP90, r.ETA.Queued.BelowP50, r.ETA.Queued.BelowP90, r.Classes["walkin"].MeanWaitS,
				r.Classes["green"].MeanWaitS, r.Utilisation, r.ElapsedS*1000)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	sum := 0.0
	for _, s := range all {
		g := CheckGoals(s)
		sum += g.PoolingShare
		fmt.Fprintf(w, "%s: pooling benefit captured %.1f%%\n", s.Name, 100*g.PoolingShare)
		for _, m := range g.Missed {
			fmt.Fprintf(w, "  MISSED: %s\n", m)
		}
	}
	if len(all) > 0 {
		avg := sum / float64(len(all))
		ok := "ok"
		if avg < 0.92 {
			ok = "MISSED (goal ≥ 92%)"
		}
		fmt.Fprintf(w, "average pooling benefit captured %.1f%% %s\n", 100*avg, ok)
	}
}

// Goals is default's scorecard on one scenario against issue 3.
type Goals struct {
	PoolingShare float64
	Missed       []string
}

// CheckGoals checks default against the goals of issue 3, with the
// estimate's calibration judged as issue 14 asks: over the tickets that
// waited (eta.queued), since tickets called at once are "at or below" any
// estimate.
func CheckGoals(s ScenarioResults) Goals {
	d, f := s.ByPolicy[queue.PolicyDefault], s.ByPolicy[queue.PolicyFIFO]
	g := Goals{PoolingShare: s.PoolingShare()}
	miss := func(format string, a ...any) { g.Missed = append(g.Missed, fmt.Sprintf(format, a...)) }
	if g.PoolingShare < 0.85 {
		miss("pooling benefit %.1f%% < 85%%", 100*g.PoolingShare)
	}
	if d.Wait.P99 > f.Wait.P99 {
		miss("p99 %.0f s > fifo p99 %.0f s", d.Wait.P99, f.Wait.P99)
	}
	if d.JainItems < 0.9 {
		miss("jain_items %.3f < 0.9", d.JainItems)
	}
	gw, ww, fw := d.Classes["green"].MeanWaitS, d.Classes["walkin"].MeanWaitS, f.Classes["walkin"].MeanWaitS
	if d.Classes["green"].Tickets > 0 && gw > ww/2 {
		miss("green mean %.0f s > half the walk-in mean %.0f s", gw, ww)
	}
	if ww > 1.1*fw {
		miss("walk-in mean %.0f s > 1.1 × fifo's %.0f s", ww, fw)
	}
	if b := d.ETA.Queued.BelowP90; b < 0.85 || b > 0.95 {
		miss("eta.queued.below_p90 %.3f outside [0.85, 0.95]", b)
	}
	if b := d.ETA.Queued.BelowP50; b < 0.40 || b > 0.60 {
		miss("eta.queued.below_p50 %.3f outside [0.40, 0.60]", b)
	}
	if d.ElapsedS > 0.25 {
		miss("simulation took %.3f s > 0.25 s", d.ElapsedS)
	}
	return g
}
