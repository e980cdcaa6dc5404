// Package sim is the hall simulator (`hallctl sim`): it replays a
// scenario's arrivals against the queue engine — the same engine the live
// controller runs — on a virtual clock, under a routing policy, and
// reports waits, fairness, utilisation and the accuracy of the wait
// estimates, exactly as ../shared/bench/README.md specifies.
//
// The simulator never looks at a ticket's service time or no-show flag
// before the ticket is called; estimates come from the engine, which
// knows only what a live hall would know.
package sim

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
)

// The date the simulator puts the hall on (any date works: only
// time differences and the hall's zone matter).
const (
	dayYear  = 2026
	dayMonth = time.November
	dayDate  = 23
)

// Run simulates the arrivals in the hall under the policy. cfg must be a
// validated config; cfg.Scenario gives walk_s and no_show_hold_s (zero
// when absent).
func Run(cfg *config.Config, arrivals []Arrival, policy queue.Policy) (Result, error) {
	res, _, err := run(cfg, arrivals, queue.Opts{Policy: policy})
	return res, err
}

// RunOpts is Run with every engine option.
func RunOpts(cfg *config.Config, arrivals []Arrival, opts queue.Opts) (Result, error) {
	res, _, err := run(cfg, arrivals, opts)
	return res, err
}

func run(cfg *config.Config, arrivals []Arrival, opts queue.Opts) (Result, *runner, error) {
	policy := opts.Policy
	started := time.Now()
	if cfg == nil {
		return Result{}, nil, errors.New("sim: nil config")
	}
	spec := cfg.QueueSpec()
	// The simulator does not requeue no-shows (bench/README.md rule 3).
	spec.Rules.NoShowVoidAfter = 1
	eng, err := queue.New(spec, cfg.Loc, opts)
	if err != nil {
		return Result{}, nil, err
	}
	loc := eng.Location()
	open := cfg.Hall.Hours.OpenMin()
	base := time.Date(dayYear, dayMonth, dayDate, open/60, open%60, 0, 0, loc)
	r := newRunner(cfg, eng, base, arrivals)
	if err := r.scheduleHours(cfg, 0); err != nil {
		return Result{}, nil, err
	}
	if err := r.run(); err != nil {
		return Result{}, nil, err
	}
	res := r.result(cfg)
	if cfg.Scenario != nil {
		res.Scenario = cfg.Scenario.Name
	}
	res.Policy = policy.String()
	res.ElapsedS = time.Since(started).Seconds()
	return res, r, nil
}

// RunFrom continues a live day in simulation — the manager's what-if
// preview: cfg is the hall config eng was built from, eng a copy of the
// live engine (use Clone; RunFrom changes it) at now, arrivals the expected future tickets with T in seconds
// after now. Windows keep their current state and then follow their hours;
// a paused window calls nothing until its next opening (when its clerk
// comes back is not known); a window busy now frees after its ticket's
// learned occupancy; tickets
// already waiting take their item's learned occupancy as window time. The
// result covers the tickets waiting now and the arrivals.
func RunFrom(cfg *config.Config, eng *queue.Engine, now time.Time, arrivals []Arrival) (Result, error) {
	started := time.Now()
	if cfg == nil {
		return Result{}, errors.New("sim: nil config")
	}
	loc := eng.Location()
	local := now.In(loc)
	open := cfg.Hall.Hours.OpenMin()
	hallOpen := time.Date(local.Year(), local.Month(), local.Day(), open/60, open%60, 0, 0, loc)
	r := newRunner(cfg, eng, now, arrivals)
	snap := eng.Snapshot(now)
	occ := map[string]int64{}
	for _, it := range snap.Items {
		occ[it.Code] = int64(it.OccupancyS * 1e6)
	}
	r.tickets = make([]ticketRec, eng.TicketCount(), eng.TicketCount()+len(arrivals))
	for i := range r.tickets {
		r.tickets[i].skip = true
	}
	for _, tv := range snap.Waiting {
		r.tickets[tv.ID-1] = ticketRec{arr: -1, issued: tv.IssuedAt.Sub(now).Microseconds(), svc: occ[tv.Item]}
		r.waiting++
	}
	if err := r.scheduleHours(cfg, now.Sub(hallOpen).Microseconds()); err != nil {
		return Result{}, err
	}
	for i, w := range cfg.Windows {
		ws := &r.wins[i]
		v, _ := eng.Window(w.Number)
		// A paused window (a break, maintenance) calls nothing until the
		// next opening of its hours; when it resumes is not known.
		ws.open = v.State == "open"
		if v.Current != 0 {
			tv, _ := eng.Ticket(v.Current)
			end := max(0, tv.CalledAt.Add(time.Duration(occ[tv.Item])*time.Microsecond).Sub(now).Microseconds())
			ws.busy, ws.everBusy, ws.lastEnd = true, true, end
			ws.busyTime += end
			r.push(event{t: end, kind: kFree, win: int32(i)})
		}
	}
	for i := range r.wins {
		if err := r.tryCall(int32(i), 0); err != nil {
			return Result{}, err
		}
	}
	if err := r.run(); err != nil {
		return Result{}, err
	}
	res := r.result(cfg)
	if cfg.Scenario != nil {
		res.Scenario = cfg.Scenario.Name
	}
	res.Policy = eng.Policy().String()
	res.ElapsedS = time.Since(started).Seconds()
	return res, nil
}

type kind uint8

// Order of simultaneous events: a window's interval ends before it frees
// (so it calls nothing more), frees before arrivals are issued.
const (
	kClose kind = iota
	kStart
	kFree
	kOpen
	kArrival
	kWake
)

type event struct {
	t    int64 // µs after base
	kind kind
	win  int32
	idx  int32 // arrival index
	seq  int64
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.t != b.t {
		return a.t < b.t
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.seq < b.seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type winState struct {
	number   int
	open     bool  // inside an interval or extended
	closesAt int64 // end of the final interval (µs after base)
	extended bool  // keeps calling after the hall closes
	busy     bool
	noShow   bool
	wakeAt   int64
	openTime int64 // scheduled open µs
	busyTime int64
	lastEnd  int64
	everBusy bool
}

type ticketRec struct {
	arr      int32 // arrival index, -1 for tickets that were waiting before the run
	skip     bool  // a ticket of the engine's past, not part of the run
	svc      int64 // window time of a ticket waiting before the run (its item's learned occupancy)
	issued   int64
	called   int64
	isCalled bool
	est50    float64
	est90    float64
}

type runner struct {
	eng      *queue.Engine
	base     time.Time
	arrivals []Arrival
	h        eventHeap
	seq      int64
	wins     []winState
	winIdx   map[int]int32
	tickets  []ticketRec // by ticket id - 1 - idOffset
	idOffset int64
	backupOf map[string][]int32
	walk     int64
	hold     int64
	hallEnd  int64

	// Little's law: ∫ waiting(t) dt.
	waiting  int
	lastT    int64
	area     float64
	finalT   int64
	stopAt   int64 // tests: stop before events after this (0 = run out)
	issueErr int
}

func newRunner(cfg *config.Config, eng *queue.Engine, base time.Time, arrivals []Arrival) *runner {
	r := &runner{eng: eng, base: base, arrivals: arrivals, winIdx: map[int]int32{}, backupOf: map[string][]int32{}}
	if s := cfg.Scenario; s != nil {
		r.walk = int64(s.WalkS * 1e6)
		r.hold = int64(s.NoShowHoldS * 1e6)
	}
	for i, w := range cfg.Windows {
		r.winIdx[w.Number] = int32(i)
		r.wins = append(r.wins, winState{number: w.Number})
	}
	for _, it := range cfg.Items {
		for _, n := range eng.WindowsWithBackup(it.Code) {
			r.backupOf[it.Code] = append(r.backupOf[it.Code], r.winIdx[n])
		}
	}
	r.h = make(eventHeap, 0, len(arrivals)+4*len(r.wins))
	for i, a := range arrivals {
		r.push(event{t: int64(math.Round(a.T * 1e6)), kind: kArrival, idx: int32(i)})
	}
	return r
}

func (r *runner) push(ev event) {
	r.seq++
	ev.seq = r.seq
	heap.Push(&r.h, ev)
}

func (r *runner) at(t int64) time.Time { return r.base.Add(time.Duration(t) * time.Microsecond) }

// scheduleHours opens and closes windows at their hours. Times are
// relative to the run's base, which is from µs after the hall opens (0
// for a whole day); boundaries already past are skipped.
func (r *runner) scheduleHours(cfg *config.Config, from int64) error {
	open := cfg.Hall.Hours.OpenMin()
	r.hallEnd = int64(cfg.Hall.Hours.CloseMin()-open)*60e6 - from
	for i, w := range cfg.Windows {
		ws := &r.wins[i]
		for _, h := range w.Hours {
			o, c := int64(h.OpenMin()-open)*60e6-from, int64(h.CloseMin()-open)*60e6-from
			if h.OpenMin() < 0 || h.CloseMin() <= h.OpenMin() {
				return fmt.Errorf("window %d: bad hours %s-%s", w.Number, h.Open, h.Close)
			}
			ws.closesAt = max(ws.closesAt, c)
			if c <= 0 {
				continue
			}
			ws.openTime += c - max(o, 0)
			if o >= 0 {
				r.push(event{t: o, kind: kOpen, win: int32(i)})
			}
			r.push(event{t: c, kind: kClose, win: int32(i)})
		}
	}
	return nil
}

func (r *runner) advance(t int64) {
	if t > r.lastT {
		r.area += float64(r.waiting) * float64(t-r.lastT) / 1e6
		r.lastT = t
	}
}

func (r *runner) run() error {
	for r.h.Len() > 0 {
		if r.stopAt > 0 && r.h[0].t > r.stopAt {
			return nil
		}
		ev := heap.Pop(&r.h).(event)
		r.advance(ev.t)
		r.finalT = max(r.finalT, ev.t)
		now := r.at(ev.t)
		ws := &r.wins[ev.win]
		var err error
		switch ev.kind {
		case kOpen:
			if !ws.open {
				ws.open = true
				if _, err = r.eng.OpenWindow(now, ws.number); err == nil {
					err = r.tryCall(ev.win, ev.t)
				}
			}
		case kClose:
			if ev.t >= ws.closesAt && ws.closesAt >= r.hallEnd {
				ws.extended = true // 延时服务: keeps calling while its tickets wait
				continue
			}
			ws.open = false
			_, err = r.eng.CloseWindow(now, ws.number)
		case kStart:
			_, err = r.eng.Start(now, ws.number)
		case kFree:
			if ws.noShow {
				_, err = r.eng.NoShow(now, ws.number)
			} else {
				_, err = r.eng.Finish(now, ws.number)
			}
			ws.busy = false
			if err == nil {
				err = r.tryCall(ev.win, ev.t)
			}
		case kWake:
			if ws.wakeAt == ev.t {
				ws.wakeAt = 0
				err = r.tryCall(ev.win, ev.t)
			}
		case kArrival:
			err = r.arrive(ev.idx, ev.t)
		}
		if err != nil {
			return fmt.Errorf("sim at t=%.1fs: %w", float64(ev.t)/1e6, err)
		}
	}
	return nil
}

func (r *runner) arrive(i int32, t int64) error {
	a := &r.arrivals[i]
	now := r.at(t)
	ev, err := r.eng.Issue(now, queue.IssueReq{Item: a.Item, Class: a.Class})
	if errors.Is(err, queue.ErrNotServed) || errors.Is(err, queue.ErrClosedToday) {
		r.issueErr++ // no window may ever serve it under this policy, or none will again today
		return nil
	}
	if err != nil {
		return err
	}
	r.tickets = append(r.tickets, ticketRec{arr: i, issued: t, est50: ev.EstP50S, est90: ev.EstP90S})
	r.waiting++
	if w, ok := r.eng.LongestIdleWindowFor(a.Item, now); ok {
		if err := r.tryCall(r.winIdx[w], t); err != nil {
			return err
		}
	}
	for _, wi := range r.backupOf[a.Item] {
		if ws := &r.wins[wi]; ws.open && !ws.busy {
			r.scheduleWake(wi, now)
		}
	}
	return nil
}

func (r *runner) scheduleWake(wi int32, now time.Time) {
	ws := &r.wins[wi]
	next, ok := r.eng.NextEscalation(ws.number, now)
	if !ok {
		return
	}
	t := next.Sub(r.base).Microseconds()
	if ws.wakeAt != 0 && ws.wakeAt <= t {
		return
	}
	ws.wakeAt = t
	r.push(event{t: t, kind: kWake, win: wi})
}

// tryCall lets a free, open window call its next ticket.
func (r *runner) tryCall(wi int32, t int64) error {
	ws := &r.wins[wi]
	if !ws.open || ws.busy {
		return nil
	}
	now := r.at(t)
	ev, err := r.eng.CallNext(now, ws.number)
	if errors.Is(err, queue.ErrNoTicket) {
		r.scheduleWake(wi, now)
		return nil
	}
	if err != nil {
		return err
	}
	k := ev.Ticket - 1 - r.idOffset
	if k < 0 || k >= int64(len(r.tickets)) {
		return fmt.Errorf("called unknown ticket %d", ev.Ticket)
	}
	rec := &r.tickets[k]
	rec.called, rec.isCalled = t, true
	r.waiting--
	// Only now does the simulator learn what the applicant will do.
	var dur int64
	ws.noShow = false
	if rec.arr < 0 {
		dur = rec.svc
	} else {
		a := &r.arrivals[rec.arr]
		if a.NoShow {
			ws.noShow = true
			dur = r.hold
		} else {
			dur = r.walk + int64(math.Round(a.ServiceS*1e6))
		}
	}
	ws.busy, ws.everBusy = true, true
	ws.busyTime += dur
	end := t + dur
	ws.lastEnd = max(ws.lastEnd, end)
	if !ws.noShow && rec.arr >= 0 {
		r.push(event{t: t + r.walk, kind: kStart, win: wi})
	}
	r.push(event{t: end, kind: kFree, win: wi})
	return nil
}

// Result is what `hallctl sim` reports (bench/README.md); times in seconds.
type Result struct {
	Scenario    string                `json:"scenario"`
	Policy      string                `json:"policy"`
	Tickets     int                   `json:"tickets"`
	Called      int                   `json:"called"`
	NoShows     int                   `json:"no_shows"`
	Wait        WaitStats             `json:"wait_s"`
	Classes     map[string]ClassStats `json:"classes"`
	JainItems   float64               `json:"jain_items"`
	Utilisation float64               `json:"utilisation"`
	OvertimeS   float64               `json:"overtime_s"`
	ETA         ETAStats              `json:"eta"`
	ElapsedS    float64               `json:"elapsed_s"`
	Little      LittleCheck           `json:"little"`
	// Unserved counts tickets the policy could not issue (no window may
	// serve the item) or that were never called.
	Unserved int `json:"unserved"`
	// ItemMeanWaitS is each item's mean wait (items with a called ticket).
	ItemMeanWaitS map[string]float64 `json:"item_mean_wait_s,omitempty"`
	// Items are each item's called tickets and their wait percentiles
	// (nearest-rank), by item code (items with a called ticket).
	Items map[string]ItemStats `json:"items"`
}

// ItemStats are one item's called tickets and wait percentiles.
type ItemStats struct {
	Tickets int     `json:"tickets"`
	P50S    float64 `json:"p50_s"`
	P90S    float64 `json:"p90_s"`
}

// WaitStats are over every called ticket; percentiles are nearest-rank.
type WaitStats struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// ClassStats is one class's tickets and mean wait.
type ClassStats struct {
	Tickets   int     `json:"tickets"`
	MeanWaitS float64 `json:"mean_wait_s"`
}

// ETAStats compare the estimate shown at issue with the wait that
// followed: MAE and bias (estimate − wait) of P50, and the share of
// tickets whose wait was at or below P50 and P90.
type ETAStats struct {
	MAES     float64 `json:"mae_s"`
	BiasS    float64 `json:"bias_s"`
	BelowP50 float64 `json:"below_p50"`
	BelowP90 float64 `json:"below_p90"`
	// Queued is the same over the tickets that actually waited (wait >
	// 0 s: not called the moment they were issued). Tickets called at
	// once are "at or below" any estimate, so on a day when most are,
	// the figures above say little about the estimate; these do.
	Queued QueuedETA `json:"queued"`
}

// QueuedETA is the estimate's calibration over the tickets that waited.
type QueuedETA struct {
	Tickets  int     `json:"tickets"`
	BelowP50 float64 `json:"below_p50"`
	BelowP90 float64 `json:"below_p90"`
	MAES     float64 `json:"mae_s"`
	BiasS    float64 `json:"bias_s"`
}

// LittleCheck is Little's law as a self-check: the time-average number
// waiting L against λ·W over the run (they agree to rounding when the
// bookkeeping is right).
type LittleCheck struct {
	L       float64 `json:"l"`
	LambdaW float64 `json:"lambda_w"`
	RelErr  float64 `json:"rel_err"`
}

// nearestRank is the ⌈p·n⌉-th smallest of sorted xs.
func nearestRank(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	k := int(math.Ceil(p*float64(len(xs)))) - 1
	return xs[min(max(k, 0), len(xs)-1)]
}

func (r *runner) result(cfg *config.Config) Result {
	res := Result{Classes: map[string]ClassStats{}, ItemMeanWaitS: map[string]float64{}, Items: map[string]ItemStats{}}
	for _, c := range []queue.Class{queue.Walkin, queue.Appointment, queue.Green, queue.Elderly} {
		res.Classes[c.String()] = ClassStats{}
	}
	res.Tickets = len(r.arrivals)
	res.Unserved = r.issueErr
	var waits []float64
	var sumW, sumAllW, absErr, bias float64
	var below50, below90 int
	var q QueuedETA
	var qAbs, qBias float64
	classSum := map[string]float64{}
	itemSum, itemN := map[string]float64{}, map[string]int{}
	itemWaits := map[string][]float64{}
	for _, rec := range r.tickets {
		if rec.skip {
			continue
		}
		if rec.arr < 0 {
			res.Tickets++
		}
		if !rec.isCalled {
			res.Unserved++
			sumAllW += float64(r.finalT-max(rec.issued, 0)) / 1e6
			continue
		}
		w := float64(rec.called-rec.issued) / 1e6
		waits = append(waits, w)
		sumW += w
		// Little's law over the run: only the waiting inside it.
		sumAllW += float64(rec.called-max(rec.issued, 0)) / 1e6
		if rec.arr < 0 {
			continue
		}
		a := &r.arrivals[rec.arr]
		if a.NoShow {
			res.NoShows++
		}
		cs := res.Classes[a.Class.String()]
		cs.Tickets++
		res.Classes[a.Class.String()] = cs
		classSum[a.Class.String()] += w
		itemSum[a.Item] += w
		itemN[a.Item]++
		itemWaits[a.Item] = append(itemWaits[a.Item], w)
		absErr += math.Abs(rec.est50 - w)
		bias += rec.est50 - w
		if w <= rec.est50+1e-9 {
			below50++
		}
		if w <= rec.est90+1e-9 {
			below90++
		}
		if rec.called > rec.issued { // it waited
			q.Tickets++
			qAbs += math.Abs(rec.est50 - w)
			qBias += rec.est50 - w
			if w <= rec.est50+1e-9 {
				q.BelowP50++
			}
			if w <= rec.est90+1e-9 {
				q.BelowP90++
			}
		}
	}
	if n := float64(q.Tickets); n > 0 {
		q.BelowP50, q.BelowP90, q.MAES, q.BiasS = q.BelowP50/n, q.BelowP90/n, qAbs/n, qBias/n
	}
	for it, ws := range itemWaits {
		sort.Float64s(ws)
		res.Items[it] = ItemStats{Tickets: len(ws), P50S: nearestRank(ws, .5), P90S: nearestRank(ws, .9)}
	}
	res.Called = len(waits)
	sort.Float64s(waits)
	if n := float64(len(waits)); n > 0 {
		res.Wait = WaitStats{Mean: sumW / n, P50: nearestRank(waits, .5), P90: nearestRank(waits, .9),
			P95: nearestRank(waits, .95), P99: nearestRank(waits, .99), Max: waits[len(waits)-1]}
		res.ETA = ETAStats{MAES: absErr / n, BiasS: bias / n, BelowP50: float64(below50) / n, BelowP90: float64(below90) / n, Queued: q}
	}
	for k, cs := range res.Classes {
		if cs.Tickets > 0 {
			cs.MeanWaitS = classSum[k] / float64(cs.Tickets)
			res.Classes[k] = cs
		}
	}
	var sx, sxx float64
	nj := 0
	for it, n := range itemN {
		m := itemSum[it] / float64(n)
		res.ItemMeanWaitS[it] = m
		if n >= 20 {
			x := m + 300
			sx += x
			sxx += x * x
			nj++
		}
	}
	if nj > 0 {
		res.JainItems = sx * sx / (float64(nj) * sxx)
	}
	var busy, open float64
	var lastEnd int64
	for i := range r.wins {
		ws := &r.wins[i]
		busy += float64(ws.busyTime)
		open += float64(ws.openTime)
		if ws.extended && ws.lastEnd > ws.closesAt {
			open += float64(ws.lastEnd - ws.closesAt)
		}
		lastEnd = max(lastEnd, ws.lastEnd)
	}
	if open > 0 {
		res.Utilisation = busy / open
	}
	res.OvertimeS = max(0, float64(lastEnd-r.hallEnd)/1e6)
	if T := float64(r.finalT) / 1e6; T > 0 {
		res.Little.L = r.area / T
		res.Little.LambdaW = sumAllW / T
		if res.Little.L > 0 {
			res.Little.RelErr = math.Abs(res.Little.L-res.Little.LambdaW) / res.Little.L
		}
	}
	return res
}
