package ctl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/sim"
)

// This file is the manager's recommendations (推荐调整): instead of the
// manager guessing actions for the what-if form, the controller proposes
// candidate actions on the live state, projects each with the simulator
// (the same machinery as Preview: ObservedRates, Forecast, RunProjection
// over common seeded arrivals) and returns the best three by the predicted
// improvement of a department's P90 wait. docs/queue.md ("Recommendations")
// describes the search and its limits.

// Search bounds: at most MaxRecommendDepts departments are targeted (the
// worst P90 first), at most recommendPerKind candidates of each kind per
// department and MaxRecommendCandidates in all, each projected over
// RecommendRequest.Replications seeded forecasts; the whole search runs
// within RecommendBudget (or the caller's deadline, whichever is sooner).
const (
	MaxRecommendDepts      = 3
	MaxRecommendCandidates = 24
	recommendPerKind       = 4
	RecommendBudget        = 3 * time.Second
	// Recommendations returned.
	RecommendTop = 3
)

// RecommendRequest tunes a search; zero values take the defaults.
type RecommendRequest struct {
	HorizonS     float64 // default 7200 (2 h), at most 4 h
	Replications int     // default 3, at most 5
	Seed         uint64  // default 1
	// Budget bounds the search's time: default RecommendBudget, at most
	// 10 s (the caller's deadline, if sooner, wins).
	Budget time.Duration
}

// Recommendation is one proposed change with its predicted effect on the
// department it helps. Actions are the ManagerAction objects the preview
// and apply routes take.
type Recommendation struct {
	Rank    int             `json:"rank"`
	Title   string          `json:"title"`    // 开启 5 号窗口办理人社业务
	TitleEN string          `json:"title_en"` // Open window 5 for 人社 (HR)
	Kind    string          `json:"kind"`     // open | widen | move
	Window  int             `json:"window"`
	Actions []ManagerAction `json:"actions"`
	// Dept is the department the change helps, DeptName its name.
	Dept     string `json:"dept"`
	DeptName string `json:"dept_name"`
	// P90 wait of the department's tickets (waiting now and forecast
	// arrivals) over the horizon, before and after, in minutes.
	P90BeforeMin float64 `json:"p90_before_min"`
	P90AfterMin  float64 `json:"p90_after_min"`
	// The whole hall's P90 wait, before and after, in minutes.
	HallP90BeforeMin float64 `json:"hall_p90_before_min"`
	HallP90AfterMin  float64 `json:"hall_p90_after_min"`
	// WaitingAffected counts the department's tickets waiting now;
	// WaitingNumbers lists the first of them (ticket numbers, oldest first).
	WaitingAffected int      `json:"waiting_affected"`
	WaitingNumbers  []string `json:"waiting_numbers"`
}

// RecommendResponse is the search's answer.
type RecommendResponse struct {
	At              time.Time        `json:"at"`
	HorizonMin      float64          `json:"horizon_min"`
	Recommendations []Recommendation `json:"recommendations"`
	// The search's size: candidates generated, candidates projected and
	// simulator runs made; Complete is false when the time budget ended
	// the search early (the answer ranks what was projected).
	Candidates  int  `json:"candidates"`
	Evaluated   int  `json:"evaluated"`
	Simulations int  `json:"simulations"`
	Complete    bool `json:"complete"`
}

// candidate is one proposal before projection.
type candidate struct {
	kind    string
	window  int
	dept    string
	actions []ManagerAction
	zh, en  string
}

// outcome is one projection averaged over the replications: P90 (seconds)
// per department and for the hall, and the tickets left unserved.
type outcome struct {
	dept     map[string]float64
	hall     float64
	unserved float64
}

// Recommend searches candidate actions on the live state and returns the
// best RecommendTop by the predicted improvement of the helped
// department's P90 wait. A candidate is kept only if that P90 falls by at
// least a minute and 10 %, the hall's P90 does not rise, no more tickets
// are left unserved, and no other department's P90 rises by more than a
// minute above what it was (a clerk is moved only from slack).
func (c *Controller) Recommend(ctx context.Context, req RecommendRequest) (RecommendResponse, error) {
	if req.HorizonS <= 0 {
		req.HorizonS = 7200
	}
	req.HorizonS = math.Min(req.HorizonS, 4*3600)
	if req.Replications <= 0 {
		req.Replications = 3
	}
	req.Replications = min(req.Replications, 5)
	if req.Seed == 0 {
		req.Seed = 1
	}
	if req.Budget <= 0 {
		req.Budget = RecommendBudget
	}
	ctx, cancel := context.WithTimeout(ctx, min(req.Budget, 10*time.Second))
	defer cancel()

	var base *queue.Engine
	var now time.Time
	var snap queue.Snapshot
	var rates map[string]float64
	c.View(func(e *queue.Engine) {
		now = c.clock.Now()
		base = e.Clone()
		snap = e.Snapshot(now)
		rates = ObservedRates(c.cfg, e, now)
	})
	out := RecommendResponse{At: now, HorizonMin: req.HorizonS / 60, Recommendations: []Recommendation{}, Complete: true}
	arrivals := make([][]sim.Arrival, req.Replications)
	for r := range arrivals {
		arrivals[r] = Forecast(c.cfg, snap, rates, req.HorizonS, req.Seed+uint64(r))
	}
	deptOf := map[string]string{}
	for _, it := range c.cfg.Items {
		deptOf[it.Code] = it.Dept
	}
	before, sims, err := c.projectDepts(ctx, base, now, arrivals, deptOf)
	out.Simulations += sims
	if err != nil {
		return out, fmt.Errorf("%w: recommend: %w", ErrPreview, err)
	}
	cands := c.candidates(base, snap, before)
	out.Candidates = len(cands)

	type scored struct {
		candidate
		after outcome
		gain  float64 // dept P90 before - after (s)
		harm  float64 // other departments' P90 rises, summed (s)
	}
	var kept []scored
	for _, cd := range cands {
		if ctx.Err() != nil {
			out.Complete = false
			break
		}
		eng := base.Clone()
		ok := true
		for _, a := range cd.actions {
			if _, err := ApplyManagerAction(eng, now, a); err != nil {
				ok = false // a candidate the engine refuses is skipped
				break
			}
		}
		if !ok {
			continue
		}
		after, n, err := c.projectDepts(ctx, eng, now, arrivals, deptOf)
		out.Simulations += n
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			out.Complete = false
			break
		}
		if err != nil {
			return out, fmt.Errorf("%w: recommend: %w", ErrPreview, err)
		}
		out.Evaluated++
		gain := before.dept[cd.dept] - after.dept[cd.dept]
		if !better(before, after, cd.dept) {
			continue
		}
		harm := 0.0
		for d, pb := range before.dept {
			if d != cd.dept {
				harm += math.Max(0, after.dept[d]-pb)
			}
		}
		kept = append(kept, scored{cd, after, gain, harm})
	}
	// Rank: the department's gain (to the second), then the least harm to
	// the other departments, then the hall's P90, then the kind (open a
	// window before lending an item before moving a clerk), then fewer
	// actions, then the lower window, then the title.
	sort.SliceStable(kept, func(i, j int) bool {
		a, b := kept[i], kept[j]
		if ga, gb := math.Round(a.gain), math.Round(b.gain); ga != gb {
			return ga > gb
		}
		if ha, hb := math.Round(a.harm), math.Round(b.harm); ha != hb {
			return ha < hb
		}
		if ha, hb := math.Round(a.after.hall), math.Round(b.after.hall); ha != hb {
			return ha < hb
		}
		if ka, kb := kindOrder[a.kind], kindOrder[b.kind]; ka != kb {
			return ka < kb
		}
		if len(a.actions) != len(b.actions) {
			return len(a.actions) < len(b.actions)
		}
		if a.window != b.window {
			return a.window < b.window
		}
		return a.zh < b.zh
	})
	waitingByAge := slices.Clone(snap.Waiting)
	sort.SliceStable(waitingByAge, func(i, j int) bool { return waitingByAge[i].IssuedAt.Before(waitingByAge[j].IssuedAt) })
	for i, k := range kept[:min(len(kept), RecommendTop)] {
		var nums []string
		for _, t := range waitingByAge {
			if deptOf[t.Item] == k.dept {
				nums = append(nums, t.Number)
			}
		}
		rec := Recommendation{Rank: i + 1, Kind: k.kind, Window: k.window, Actions: k.actions,
			Dept: k.dept, DeptName: c.deptName(k.dept),
			P90BeforeMin: minutes(before.dept[k.dept]), P90AfterMin: minutes(k.after.dept[k.dept]),
			HallP90BeforeMin: minutes(before.hall), HallP90AfterMin: minutes(k.after.hall),
			WaitingAffected: len(nums), WaitingNumbers: nums[:min(len(nums), 10)]}
		if rec.WaitingNumbers == nil {
			rec.WaitingNumbers = []string{}
		}
		rec.Title = k.zh
		rec.TitleEN = k.en
		out.Recommendations = append(out.Recommendations, rec)
	}
	return out, nil
}

// better is the filter: the department gains at least a minute and 10 %,
// the hall's P90 and the unserved count do not rise, and no other
// department's P90 rises by more than a minute.
func better(before, after outcome, dept string) bool {
	b, a := before.dept[dept], after.dept[dept]
	if b-a < math.Max(60, 0.1*b) {
		return false
	}
	if after.hall > before.hall+1e-6 || after.unserved > before.unserved+1e-6 {
		return false
	}
	for d, pb := range before.dept {
		if d != dept && after.dept[d] > pb+60 {
			return false
		}
	}
	return true
}

var kindOrder = map[string]int{"open": 0, "widen": 1, "move": 2}

func minutes(s float64) float64 { return math.Round(s/6) / 10 }

// projectDepts runs the simulator over each arrival set on a copy of eng
// and averages each department's P90 (nearest rank over its tickets) and
// the hall's. It stops with the context's error when ctx ends.
func (c *Controller) projectDepts(ctx context.Context, eng *queue.Engine, now time.Time, arrivals [][]sim.Arrival, deptOf map[string]string) (outcome, int, error) {
	o := outcome{dept: map[string]float64{}}
	n := float64(len(arrivals))
	runs := 0
	for _, arr := range arrivals {
		if err := ctx.Err(); err != nil {
			return o, runs, err
		}
		res, waits, err := RunProjection(c.cfg, eng, now, arr)
		runs++
		if err != nil {
			return o, runs, err
		}
		byDept := map[string][]float64{}
		for item, ws := range waits {
			byDept[deptOf[item]] = append(byDept[deptOf[item]], ws...)
		}
		for _, d := range c.cfg.Departments {
			o.dept[d.Code] += nearestRank(byDept[d.Code], .9) / n
		}
		o.hall += res.Wait.P90 / n
		o.unserved += float64(res.Unserved) / n
	}
	return o, runs, nil
}

func (c *Controller) deptName(code string) string {
	for _, d := range c.cfg.Departments {
		if d.Code == code && d.Name != "" {
			return d.Name
		}
	}
	return code
}

// candidates lists the proposals, most promising first: for each of the
// MaxRecommendDepts departments with the worst P90 (at least a minute),
// open a closed window for it (one that already serves it as is,
// otherwise dedicated to it), widen an open window's serves to it (its
// backup items of that department when it has some: the item is lent,
// otherwise the whole department), and move a clerk (an open window that
// serves none of it switched to it), the windows whose own departments
// wait least first. Capped at MaxRecommendCandidates.
func (c *Controller) candidates(eng *queue.Engine, snap queue.Snapshot, before outcome) []candidate {
	depts := make([]string, 0, len(c.cfg.Departments))
	for _, d := range c.cfg.Departments {
		if before.dept[d.Code] >= 60 {
			depts = append(depts, d.Code)
		}
	}
	sort.SliceStable(depts, func(i, j int) bool { return before.dept[depts[i]] > before.dept[depts[j]] })
	depts = depts[:min(len(depts), MaxRecommendDepts)]

	itemsOf := map[string][]string{}
	itemName := map[string]string{}
	for _, it := range c.cfg.Items {
		itemsOf[it.Dept] = append(itemsOf[it.Dept], it.Code)
		itemName[it.Code] = it.Name
	}
	deptOf := map[string]string{}
	for _, it := range c.cfg.Items {
		deptOf[it.Code] = it.Dept
	}
	// A window's load: the worst P90 among the departments it serves.
	load := func(w queue.WindowView) float64 {
		worst := 0.0
		for _, it := range eng.Expand(w.Serves) {
			worst = math.Max(worst, before.dept[deptOf[it]])
		}
		return worst
	}
	windows := slices.Clone(snap.Windows)
	sort.SliceStable(windows, func(i, j int) bool { return windows[i].Number < windows[j].Number })

	var out []candidate
	for _, d := range depts {
		name := c.deptName(d)
		en := name
		if name != d {
			en = name + " (" + d + ")"
		}
		mine := map[string]bool{}
		for _, it := range itemsOf[d] {
			mine[it] = true
		}
		covers := func(refs []string) (some, all bool) {
			n := 0
			for _, it := range slices.Compact(slices.Sorted(slices.Values(eng.Expand(refs)))) {
				if mine[it] {
					n++
				}
			}
			return n > 0, n == len(itemsOf[d])
		}
		var open, widen, move []candidate
		// Closed windows: those that serve d as they are, then those of d's
		// department or with backup items of d, then the rest; lower first.
		closed := []queue.WindowView{}
		for _, w := range windows {
			if w.State == "closed" {
				closed = append(closed, w)
			}
		}
		rankClosed := func(w queue.WindowView) int {
			if s, _ := covers(w.Serves); s {
				return 0
			}
			if b, _ := covers(w.Backup); b || w.Dept == d {
				return 1
			}
			return 2
		}
		sort.SliceStable(closed, func(i, j int) bool { return rankClosed(closed[i]) < rankClosed(closed[j]) })
		for _, w := range closed {
			if len(open) == recommendPerKind {
				break
			}
			cd := candidate{kind: "open", window: w.Number, dept: d,
				zh: fmt.Sprintf("开启 %d 号窗口办理%s业务", w.Number, name),
				en: fmt.Sprintf("Open window %d for %s", w.Number, en)}
			cd.actions = []ManagerAction{{Type: "open", Window: w.Number}}
			if s, _ := covers(w.Serves); !s {
				cd.actions = append(cd.actions, ManagerAction{Type: "set_serves", Window: w.Number, Refs: []string{"dept:" + d}})
			}
			open = append(open, cd)
		}
		// Open (not paused) windows that do not serve all of d: the least
		// loaded first.
		var avail []queue.WindowView
		for _, w := range windows {
			if _, all := covers(w.Serves); w.State == "open" && !all {
				avail = append(avail, w)
			}
		}
		sort.SliceStable(avail, func(i, j int) bool { return load(avail[i]) < load(avail[j]) })
		for _, w := range avail {
			if len(widen) < recommendPerKind {
				var lend []string
				for _, it := range eng.Expand(w.Backup) {
					if mine[it] && !slices.Contains(eng.Expand(w.Serves), it) && !slices.Contains(lend, it) {
						lend = append(lend, it)
					}
				}
				cd := candidate{kind: "widen", window: w.Number, dept: d}
				if len(lend) > 0 {
					names := make([]string, len(lend))
					for i, it := range lend {
						names[i] = itemName[it]
					}
					cd.actions = []ManagerAction{{Type: "set_serves", Window: w.Number, Refs: appendNew(w.Serves, lend...)}}
					cd.zh = fmt.Sprintf("%d 号窗口借办%s（%s）", w.Number, strings.Join(names, "、"), name)
					cd.en = fmt.Sprintf("Window %d also takes %s (%s)", w.Number, strings.Join(lend, ", "), en)
				} else {
					cd.actions = []ManagerAction{{Type: "set_serves", Window: w.Number, Refs: appendNew(w.Serves, "dept:"+d)}}
					cd.zh = fmt.Sprintf("%d 号窗口增办%s业务", w.Number, name)
					cd.en = fmt.Sprintf("Window %d also serves %s", w.Number, en)
				}
				widen = append(widen, cd)
			}
			if s, _ := covers(w.Serves); !s && len(move) < recommendPerKind {
				was := ""
				for _, it := range eng.Expand(w.Serves) {
					was = c.deptName(deptOf[it])
					break
				}
				cd := candidate{kind: "move", window: w.Number, dept: d,
					actions: []ManagerAction{{Type: "set_serves", Window: w.Number, Refs: []string{"dept:" + d}}},
					zh:      fmt.Sprintf("%d 号窗口改办%s业务", w.Number, name),
					en:      fmt.Sprintf("Move window %d's clerk to %s", w.Number, en)}
				if was != "" {
					cd.zh += "（原" + was + "）"
				}
				move = append(move, cd)
			}
		}
		out = append(out, open...)
		out = append(out, widen...)
		out = append(out, move...)
	}
	return out[:min(len(out), MaxRecommendCandidates)]
}

// appendNew is refs with the new ones appended (those not there yet).
func appendNew(refs []string, add ...string) []string {
	out := slices.Clone(refs)
	for _, r := range add {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}
