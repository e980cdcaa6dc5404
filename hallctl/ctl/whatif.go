package ctl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/sim"
)

// This file is the manager's what-if preview: the live engine copied, the
// proposed actions applied to the copy, and the simulator run before and
// after over the same seeded forecast of arrivals.

// PreviewRequest asks what the proposed manager actions would do.
type PreviewRequest struct {
	Actions      []ManagerAction `json:"actions"`
	HorizonS     float64         `json:"horizon_s,omitempty"`    // default 7200 (2 h), at most 8 h
	Replications int             `json:"replications,omitempty"` // default 3, at most 20
	Seed         uint64          `json:"seed,omitempty"`         // default 1
}

// MaxActions bounds the actions of one preview or one manager request.
const MaxActions = 50

// Projection is one side (before or after) of a preview: means over the
// replications of what sim.RunFrom reports.
type Projection struct {
	Items    map[string]ItemProjection `json:"items"`
	WaitP50  float64                   `json:"wait_p50_s"` // all tickets: sim Result.Wait.P50
	WaitP90  float64                   `json:"wait_p90_s"`
	Mean     float64                   `json:"wait_mean_s"`
	Called   float64                   `json:"called"`
	Unserved float64                   `json:"unserved"`
}

// ItemProjection is one item's projected waits (seconds): P50/P90 over the
// tickets waiting now and the forecast arrivals, read from the simulated
// engine; MeanArrivals is sim's ItemMeanWaitS (arrivals only).
type ItemProjection struct {
	P50          float64 `json:"p50_s"`
	P90          float64 `json:"p90_s"`
	MeanArrivals float64 `json:"mean_arrivals_s"`
	Tickets      float64 `json:"tickets"` // tickets called within the horizon (waiting now or forecast)
	// Issue 11: the rest of the count, so that waiting now + arrivals =
	// tickets + unserved (by the item a ticket ends in).
	Arrivals float64 `json:"arrivals"` // forecast tickets in the horizon
	Unserved float64 `json:"unserved"` // still waiting when the horizon ends
}

// PreviewResponse is the what-if preview.
type PreviewResponse struct {
	At           time.Time          `json:"at"`
	HorizonS     float64            `json:"horizon_s"`
	Replications int                `json:"replications"`
	Seed         uint64             `json:"seed"`
	RatePerHour  map[string]float64 `json:"rate_per_hour"`
	Before       Projection         `json:"before"`
	After        Projection         `json:"after"`
	Events       []queue.Event      `json:"events"` // what the actions would record (no person hashes)

	// Issue 11: the hall at At counted as the live manager table counts
	// (queue.ItemView.Waiting: tickets in the item's line, not those
	// transferred to a window's own list or called), and each action in
	// people's words.
	WaitingNow     map[string]int `json:"waiting_now"`
	TransferredNow int            `json:"transferred_now"` // tickets in windows' own lists (not in WaitingNow)
	ActionsText    []ActionText   `json:"actions_text"`
}

// ErrPreview wraps a simulation of the preview that failed (an internal
// error: the actions themselves were checked).
var ErrPreview = errors.New("preview")

// ObservedRates is today's arrival rate per item (tickets per hour): the
// tickets issued today over the time since the hall opened (at least an
// hour, so that the first minutes do not explode the rate).
func ObservedRates(cfg *config.Config, e *queue.Engine, now time.Time) map[string]float64 {
	loc := e.Location()
	local := now.In(loc)
	open := cfg.Hall.Hours.OpenMin()
	hallOpen := time.Date(local.Year(), local.Month(), local.Day(), open/60, open%60, 0, 0, loc)
	day := local.Format("2006-01-02")
	counts := map[string]int{}
	for id := int64(e.TicketCount()); id >= 1; id-- {
		t, ok := e.Ticket(id)
		if !ok {
			continue
		}
		if t.IssuedAt.In(loc).Format("2006-01-02") != day {
			break
		}
		counts[t.Item]++
	}
	hours := math.Max(1, now.Sub(hallOpen).Hours())
	out := map[string]float64{}
	for _, it := range cfg.Items {
		out[it.Code] = float64(counts[it.Code]) / hours
	}
	return out
}

// Forecast draws Poisson arrivals per item at the given hourly rates over
// horizon seconds, walk-in, with exponential service times around each
// item's learned service time (or its configured prior), seeded.
func Forecast(cfg *config.Config, snap queue.Snapshot, rates map[string]float64, horizonS float64, seed uint64) []sim.Arrival {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	svc := map[string]float64{}
	for _, it := range snap.Items {
		svc[it.Code] = it.ServiceS
	}
	var out []sim.Arrival
	for _, it := range cfg.Items { // config order: deterministic
		lam := rates[it.Code] / 3600
		if lam <= 0 {
			continue
		}
		mean := svc[it.Code]
		if mean <= 0 {
			mean = float64(it.ServiceS)
		}
		if mean <= 0 {
			mean = 300
		}
		for t := rng.ExpFloat64() / lam; t < horizonS; t += rng.ExpFloat64() / lam {
			out = append(out, sim.Arrival{T: math.Round(t*1000) / 1000, Item: it.Code, Class: queue.Walkin,
				ServiceS: math.Max(30, math.Round(rng.ExpFloat64()*mean))})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].T < out[j].T })
	return out
}

// RunProjection runs sim.RunFrom on a copy of eng with the arrivals and
// reads each item's waits back from the simulated engine.
func RunProjection(cfg *config.Config, eng *queue.Engine, now time.Time, arrivals []sim.Arrival) (sim.Result, map[string][]float64, error) {
	res, waits, _, err := runProjection(cfg, eng, now, arrivals)
	return res, waits, err
}

// runProjection is RunProjection that also counts, by item, the tickets
// of the run (waiting now or arrivals) not called within it.
func runProjection(cfg *config.Config, eng *queue.Engine, now time.Time, arrivals []sim.Arrival) (sim.Result, map[string][]float64, map[string]int, error) {
	cl := eng.Clone()
	before := cl.TicketCount()
	waiting := map[int64]bool{}
	for _, t := range cl.Snapshot(now).Waiting {
		waiting[t.ID] = true
	}
	res, err := sim.RunFrom(cfg, cl, now, arrivals)
	if err != nil {
		return res, nil, nil, err
	}
	waits, unserved := map[string][]float64{}, map[string]int{}
	// The engine keeps whole microseconds: a ticket an idle window calls
	// at the first instant of the run has CalledAt = now truncated, which
	// is before now. Comparing with now itself dropped those tickets from
	// the preview (3 waiting, 2 idle windows: "1 ticket").
	start := time.UnixMicro(now.UnixMicro())
	for id := int64(1); id <= int64(cl.TicketCount()); id++ {
		if id <= int64(before) && !waiting[id] {
			continue
		}
		t, ok := cl.Ticket(id)
		if !ok {
			continue
		}
		if t.CalledAt.IsZero() || t.CalledAt.Before(start) {
			unserved[t.Item]++
			continue
		}
		waits[t.Item] = append(waits[t.Item], float64(t.CalledAt.Sub(t.IssuedAt).Microseconds())/1e6)
	}
	return res, waits, unserved, nil
}

func nearestRank(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	k := int(math.Ceil(p*float64(len(xs)))) - 1
	return xs[min(max(k, 0), len(xs)-1)]
}

// Preview copies the live engine, applies the actions to the copy and runs
// the simulator before and after over the same seeded arrivals. Nothing
// live changes. An action that does not apply is its manager-action error;
// a simulation that fails wraps ErrPreview.
func (c *Controller) Preview(ctx context.Context, req PreviewRequest) (PreviewResponse, error) {
	if req.HorizonS <= 0 {
		req.HorizonS = 7200
	}
	req.HorizonS = math.Min(req.HorizonS, 8*3600)
	if req.Replications <= 0 {
		req.Replications = 3
	}
	req.Replications = min(req.Replications, 20)
	if req.Seed == 0 {
		req.Seed = 1
	}
	if len(req.Actions) > MaxActions {
		return PreviewResponse{}, fmt.Errorf("%w: at most %d actions", ErrBadAction, MaxActions)
	}
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
	out := PreviewResponse{At: now, HorizonS: req.HorizonS, Replications: req.Replications, Seed: req.Seed,
		RatePerHour: rates, Events: []queue.Event{}, WaitingNow: map[string]int{}, ActionsText: []ActionText{}}
	for _, iv := range snap.Items {
		out.WaitingNow[iv.Code] = iv.Waiting
	}
	for _, wv := range snap.Windows {
		out.TransferredNow += wv.Transfers
	}
	changed := base.Clone()
	for i, a := range req.Actions {
		out.ActionsText = append(out.ActionsText, DescribeAction(c.cfg, changed, a))
		evs, err := ApplyManagerAction(changed, now, a)
		if err != nil {
			return PreviewResponse{}, fmt.Errorf("action %d: %w", i+1, err)
		}
		out.Events = append(out.Events, withoutPersons(evs)...)
	}
	var err error
	if out.Before, err = c.project(ctx, base, now, snap, rates, req); err != nil {
		return PreviewResponse{}, err
	}
	if out.After, err = c.project(ctx, changed, now, snap, rates, req); err != nil {
		return PreviewResponse{}, err
	}
	return out, nil
}

// project averages replications r = 0..n-1 with seeds seed+r.
func (c *Controller) project(ctx context.Context, eng *queue.Engine, now time.Time, snap queue.Snapshot, rates map[string]float64, req PreviewRequest) (Projection, error) {
	cfg := c.cfg
	p := Projection{Items: map[string]ItemProjection{}}
	n := float64(req.Replications)
	for r := 0; r < req.Replications; r++ {
		arrivals := map[string]int{}
		if err := ctx.Err(); err != nil {
			return p, fmt.Errorf("%w: %w", ErrPreview, err)
		}
		arr := Forecast(cfg, snap, rates, req.HorizonS, req.Seed+uint64(r))
		for _, a := range arr {
			arrivals[a.Item]++
		}
		res, waits, unserved, err := runProjection(cfg, eng, now, arr)
		if err != nil {
			return p, fmt.Errorf("%w: simulate: %w", ErrPreview, err)
		}
		p.WaitP50 += res.Wait.P50 / n
		p.WaitP90 += res.Wait.P90 / n
		p.Mean += res.Wait.Mean / n
		p.Called += float64(res.Called) / n
		p.Unserved += float64(res.Unserved) / n
		for _, it := range cfg.Items {
			ip := p.Items[it.Code]
			ws := waits[it.Code]
			ip.Tickets += float64(len(ws)) / n
			ip.P50 += nearestRank(ws, .5) / n
			ip.P90 += nearestRank(ws, .9) / n
			ip.MeanArrivals += res.ItemMeanWaitS[it.Code] / n
			ip.Unserved += float64(unserved[it.Code]) / n
			ip.Arrivals += float64(arrivals[it.Code]) / n
			p.Items[it.Code] = ip
		}
	}
	return p, nil
}

// ManageBatch applies manager actions all or nothing: the whole batch is
// checked on a copy of the engine first (the error names the action that
// does not apply, and nothing is applied), then each action is applied and
// audited in order. Events come without person hashes.
func (c *Controller) ManageBatch(ctx context.Context, actions []ManagerAction, actor, role string) ([]queue.Event, error) {
	if len(actions) == 0 || len(actions) > MaxActions {
		return nil, fmt.Errorf("%w: send 1 to %d actions", ErrBadAction, MaxActions)
	}
	var check *queue.Engine
	var now time.Time
	c.View(func(e *queue.Engine) { check, now = e.Clone(), c.clock.Now() })
	for i, a := range actions {
		if _, err := ApplyManagerAction(check, now, a); err != nil {
			return nil, fmt.Errorf("action %d: %w", i+1, err)
		}
	}
	out := []queue.Event{}
	for i, a := range actions {
		evs, err := c.ManageAudited(ctx, a, actor, role)
		if err != nil {
			return out, fmt.Errorf("action %d: %w", i+1, err)
		}
		out = append(out, withoutPersons(evs)...)
	}
	c.log.Info("manager actions applied", "actor", actor, "n", len(actions))
	return out, nil
}

// withoutPersons copies events without their person hashes (for answers).
func withoutPersons(evs []queue.Event) []queue.Event {
	out := make([]queue.Event, len(evs))
	for i, ev := range evs {
		ev.Person = ""
		out[i] = ev
	}
	return out
}
