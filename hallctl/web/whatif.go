package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/sim"
)

// PreviewRequest asks what the proposed manager actions would do.
type PreviewRequest struct {
	Actions      []ctl.ManagerAction `json:"actions"`
	HorizonS     float64             `json:"horizon_s,omitempty"`    // default 7200 (2 h)
	Replications int                 `json:"replications,omitempty"` // default 3, at most 20
	Seed         uint64              `json:"seed,omitempty"`         // default 1
}

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
	Tickets      float64 `json:"tickets"`
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
	Events       []queue.Event      `json:"events"` // what the actions would record
}

// ErrPreview wraps a proposed action that does not apply.
var ErrPreview = errors.New("preview")

// ObservedRates is today's arrival rate per item (tickets per hour): the
// tickets issued today over the time since the hall opened (at least an
// hour, so that the first minutes do not explode the rate).
func ObservedRates(e *queue.Engine, now time.Time) map[string]float64 {
	cfg := e.Config()
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
func RunProjection(eng *queue.Engine, now time.Time, arrivals []sim.Arrival) (sim.Result, map[string][]float64, error) {
	cl := eng.Clone()
	before := cl.TicketCount()
	waiting := map[int64]bool{}
	for _, t := range cl.Snapshot(now).Waiting {
		waiting[t.ID] = true
	}
	res, err := sim.RunFrom(cl, now, arrivals)
	if err != nil {
		return res, nil, err
	}
	waits := map[string][]float64{}
	for id := int64(1); id <= int64(cl.TicketCount()); id++ {
		if id <= int64(before) && !waiting[id] {
			continue
		}
		t, ok := cl.Ticket(id)
		if !ok || t.CalledAt.IsZero() || t.CalledAt.Before(now) {
			continue
		}
		waits[t.Item] = append(waits[t.Item], float64(t.CalledAt.Sub(t.IssuedAt).Microseconds())/1e6)
	}
	return res, waits, nil
}

func nearestRank(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	k := int(math.Ceil(p*float64(len(xs)))) - 1
	return xs[min(max(k, 0), len(xs)-1)]
}

// Preview clones the live engine, applies the actions to the clone and
// runs the simulator before and after over the same seeded arrivals.
func Preview(c *ctl.Controller, req PreviewRequest) (PreviewResponse, error) {
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
	if len(req.Actions) > 50 {
		return PreviewResponse{}, errCode("bad_request", "at most 50 actions")
	}
	var base, changed *queue.Engine
	var now time.Time
	var snap queue.Snapshot
	var rates map[string]float64
	out := PreviewResponse{HorizonS: req.HorizonS, Replications: req.Replications, Seed: req.Seed}
	var aerr error
	c.View(func(e *queue.Engine) {
		now = c.Now()
		base = e.Clone()
		snap = e.Snapshot(now)
		rates = ObservedRates(e, now)
	})
	changed = base.Clone()
	for _, a := range req.Actions {
		evs, err := ctl.ApplyManagerAction(changed, now, a)
		if err != nil {
			aerr = err
			break
		}
		out.Events = append(out.Events, stripPersons(evs)...)
	}
	if aerr != nil {
		return PreviewResponse{}, aerr
	}
	out.At, out.RatePerHour = now, rates
	cfg := c.Config()
	var err error
	if out.Before, err = project(cfg, base, now, snap, rates, req); err != nil {
		return PreviewResponse{}, err
	}
	if out.After, err = project(cfg, changed, now, snap, rates, req); err != nil {
		return PreviewResponse{}, err
	}
	return out, nil
}

// project averages replications r = 0..n-1 with seeds seed+r.
func project(cfg *config.Config, eng *queue.Engine, now time.Time, snap queue.Snapshot, rates map[string]float64, req PreviewRequest) (Projection, error) {
	p := Projection{Items: map[string]ItemProjection{}}
	n := float64(req.Replications)
	for r := 0; r < req.Replications; r++ {
		arr := Forecast(cfg, snap, rates, req.HorizonS, req.Seed+uint64(r))
		res, waits, err := RunProjection(eng, now, arr)
		if err != nil {
			return p, fmt.Errorf("%w: simulate: %v", ErrPreview, err)
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
			p.Items[it.Code] = ip
		}
	}
	return p, nil
}

func (s *server) postPreview(w http.ResponseWriter, r *http.Request, _ Claims) {
	var req PreviewRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	out, err := Preview(s.c, req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, out)
}

// ManageRequest applies manager actions in order (stops at the first that
// fails; the ones before it stay applied and are listed).
type ManageRequest struct {
	Actions []ctl.ManagerAction `json:"actions"`
}

// ManageResponse lists what was applied.
type ManageResponse struct {
	Applied int           `json:"applied"`
	Events  []queue.Event `json:"events"`
}

func (s *server) postManage(w http.ResponseWriter, r *http.Request, cl Claims) {
	var req ManageRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len(req.Actions) == 0 || len(req.Actions) > 50 {
		writeProblem(w, "bad_request", "send 1 to 50 actions")
		return
	}
	// Check the whole batch on a copy first: all or nothing.
	var check *queue.Engine
	var now time.Time
	s.c.View(func(e *queue.Engine) { check, now = e.Clone(), s.c.Now() })
	for i, a := range req.Actions {
		if _, err := ctl.ApplyManagerAction(check, now, a); err != nil {
			writeErr(w, fmt.Errorf("action %d: %w", i+1, err))
			return
		}
	}
	out := ManageResponse{Events: []queue.Event{}}
	for _, a := range req.Actions {
		evs, err := s.c.ManageAudited(r.Context(), a, actor(cl), cl.Role)
		if err != nil {
			writeErr(w, err)
			return
		}
		out.Applied++
		out.Events = append(out.Events, stripPersons(evs)...)
	}
	s.log.Info("manager actions applied", "actor", actor(cl), "n", out.Applied)
	writeJSON(w, 200, out)
}

// ManagerHall is the manager console's live hall.
type ManagerHall struct {
	At      time.Time       `json:"at"`
	Items   []ManagerItem   `json:"items"`
	Windows []ManagerWindow `json:"windows"`
	Alerts  []Alert         `json:"alerts"`
	Devices []DeviceHealth  `json:"devices"`
	Ratings []ctl.Rating    `json:"ratings"`
}

// ManagerItem is one item's line.
type ManagerItem struct {
	queue.ItemView
	Name    string  `json:"name"`
	Dept    string  `json:"dept"`
	EstP50S float64 `json:"est_p50_s"` // for a ticket taken now
	EstP90S float64 `json:"est_p90_s"`
	Served  bool    `json:"served"` // some open window may serve it now
}

// ManagerWindow is one window with its clerk and utilisation.
type ManagerWindow struct {
	queue.WindowView
	Clerk       string  `json:"clerk,omitempty"`
	Utilisation float64 `json:"utilisation"`
}

// Alert is something the manager should look at.
type Alert struct {
	Kind    string `json:"kind"`  // long_wait | device | rating
	Level   string `json:"level"` // warn | alarm
	Subject string `json:"subject"`
	ZH      string `json:"message_zh"`
	EN      string `json:"message_en"`
}

func (s *server) getManagerHall(w http.ResponseWriter, _ *http.Request, _ Claims) {
	writeJSON(w, 200, s.managerHall())
}

func (s *server) managerHall() ManagerHall {
	cfg := s.c.Config()
	var snap queue.Snapshot
	est := map[string][2]float64{}
	served := map[string]bool{}
	s.c.View(func(e *queue.Engine) {
		now := s.c.Now()
		snap = e.Snapshot(now)
		for _, it := range cfg.Items {
			served[it.Code] = len(e.IdleWindowsFor(it.Code, now)) > 0
			cl := e.Clone()
			if ev, err := cl.Issue(now, queue.IssueReq{Item: it.Code, Proxy: true}); err == nil {
				est[it.Code] = [2]float64{ev.EstP50S, ev.EstP90S}
			}
		}
	})
	h := ManagerHall{At: snap.At, Alerts: []Alert{}, Devices: s.devices()}
	escalate := float64(cfg.Queue.EscalateAfterS)
	if escalate <= 0 {
		escalate = 900
	}
	openServes := map[string]bool{}
	for _, wv := range snap.Windows {
		if wv.State == "open" {
			for _, c := range cfg.Expand(wv.Serves) {
				openServes[c] = true
			}
		}
		h.Windows = append(h.Windows, ManagerWindow{WindowView: wv, Utilisation: s.tr.utilisation(wv.Number, snap.At)})
		_, h.Windows[len(h.Windows)-1].Clerk = s.tr.windowInfo(wv.Number, 0)
	}
	for _, iv := range snap.Items {
		mi := ManagerItem{ItemView: iv, EstP50S: est[iv.Code][0], EstP90S: est[iv.Code][1], Served: openServes[iv.Code] || served[iv.Code]}
		if it := cfg.Item(iv.Code); it != nil {
			mi.Name, mi.Dept = it.Name, it.Dept
		}
		h.Items = append(h.Items, mi)
		if iv.Waiting > 0 && iv.OldestWaitS > escalate {
			lvl := "warn"
			if iv.OldestWaitS > 2*escalate {
				lvl = "alarm"
			}
			m := int(iv.OldestWaitS / 60)
			h.Alerts = append(h.Alerts, Alert{Kind: "long_wait", Level: lvl, Subject: iv.Code,
				ZH: fmt.Sprintf("%s %s 最长已等候 %d 分钟（%d 人等候）", iv.Code, mi.Name, m, iv.Waiting),
				EN: fmt.Sprintf("%s: oldest ticket has waited %d min (%d waiting)", iv.Code, m, iv.Waiting)})
		}
		if iv.Waiting > 0 && !openServes[iv.Code] {
			h.Alerts = append(h.Alerts, Alert{Kind: "long_wait", Level: "alarm", Subject: iv.Code,
				ZH: fmt.Sprintf("%s %s 有 %d 人等候，但没有开放的窗口办理", iv.Code, mi.Name, iv.Waiting),
				EN: fmt.Sprintf("%s: %d waiting and no open window serves it", iv.Code, iv.Waiting)})
		}
	}
	for _, d := range h.Devices {
		if d.State != "online" && d.State != "unknown" {
			h.Alerts = append(h.Alerts, Alert{Kind: "device", Level: "alarm", Subject: d.Agent + "/" + d.Device,
				ZH: fmt.Sprintf("设备 %s/%s（%s）状态：%s %s", d.Agent, d.Device, d.Kind, d.State, d.Code),
				EN: fmt.Sprintf("device %s/%s (%s) is %s %s", d.Agent, d.Device, d.Kind, d.State, d.Code)})
		}
	}
	h.Ratings = s.tr.recentRatings(snap.At.Add(-8 * time.Hour))
	if h.Ratings == nil {
		h.Ratings = []ctl.Rating{}
	}
	// Bad ratings come from the durable follow-up list, with supervision
	// alerts (电子监察) from the event log.
	h.Alerts = append(h.Alerts, s.caseAlerts(context.Background())...)
	return h
}
