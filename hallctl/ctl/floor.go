package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
)

// This file is the floor: the projection of the committed log that the
// queue engine does not keep — today's latest calls (the hall screen), why
// each window's ticket was chosen, who works each window, each window's
// busy and open time today (utilisation) and the recent ratings. It is fed
// every committed record (Store.OnCommit) and rebuilt from the log at
// start (from its snapshot on), so it says the same after a restart.

// FloorStream holds the floor's snapshots (no records).
const FloorStream = "floor"

// Floor bounds.
const (
	floorCalls   = 50  // calls kept for the hall screen
	floorRatings = 200 // ratings kept for the manager console
)

// CallRecord is one call as the hall screen lists it.
type CallRecord struct {
	Number string    `json:"number"`
	Item   string    `json:"item"`
	Window int       `json:"window"`
	Zone   string    `json:"zone,omitempty"`
	At     time.Time `json:"at"`
	Recall bool      `json:"recall,omitempty"`
}

// floor is the projection; its own lock (never c.mu) guards it, as it is
// fed on the log's writer goroutine.
type floor struct {
	loc   *time.Location
	zones map[int]string

	mu      sync.Mutex
	seq     int64  // the last record applied
	day     string // the local day of today's state (calls, reasons, util, numbers)
	numbers map[int64]string
	recent  []CallRecord // newest first
	reasons map[int]reasonRec
	clerks  map[int]string
	util    map[int]*utilRec
	ratings []Rating // oldest first
}

type reasonRec struct {
	Ticket int64        `json:"ticket"`
	Reason queue.Reason `json:"reason"`
}

type utilRec struct {
	OpenSince time.Time     `json:"open_since,omitzero"`
	BusySince time.Time     `json:"busy_since,omitzero"`
	Open      time.Duration `json:"open"`
	Busy      time.Duration `json:"busy"`
}

// floorState is the floor's snapshot.
type floorState struct {
	Seq     int64             `json:"seq"`
	Day     string            `json:"day"`
	Numbers map[int64]string  `json:"numbers"`
	Recent  []CallRecord      `json:"recent"`
	Reasons map[int]reasonRec `json:"reasons"`
	Clerks  map[int]string    `json:"clerks"`
	Util    map[int]*utilRec  `json:"util"`
	Ratings []Rating          `json:"ratings"`
}

func newFloor(cfg *config.Config) *floor {
	f := &floor{loc: cfg.Loc, zones: map[int]string{}}
	if f.loc == nil {
		f.loc = time.Local
	}
	for _, w := range cfg.Windows {
		f.zones[w.Number] = w.Zone
	}
	f.reset("")
	f.clerks = map[int]string{}
	return f
}

// reset starts a new day (clerks and ratings carry over).
func (f *floor) reset(day string) {
	f.day = day
	f.numbers = map[int64]string{}
	f.recent = nil
	f.reasons = map[int]reasonRec{}
	f.util = map[int]*utilRec{}
}

// roll moves the floor to the day of t (f.mu held).
func (f *floor) roll(t time.Time) {
	if day := t.In(f.loc).Format(time.DateOnly); day > f.day {
		f.reset(day)
	}
}

// loadFloor rebuilds the floor from its latest snapshot and the queue,
// rating and clerk records after it; a long replay saves a new snapshot.
func loadFloor(ctx context.Context, cfg *config.Config, st store.Store) (*floor, error) {
	f := newFloor(cfg)
	snap, err := st.LatestSnapshot(ctx, FloorStream)
	switch {
	case err == nil:
		var s floorState
		if err := json.Unmarshal(snap.Data, &s); err != nil {
			return nil, fmt.Errorf("decode floor snapshot: %w", err)
		}
		f.restore(s)
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("load floor snapshot: %w", err)
	}
	// Each stream is read in order; streams do not depend on each other.
	from, last, replayed := f.seq, f.seq, 0
	for _, stream := range []string{QueueStream, RatingStream, casesys.ClerkStream} {
		f.seq = from
		err := st.Read(ctx, stream, from, func(r store.Record) error {
			last = max(last, r.Seq)
			if err := f.apply(r); err != nil {
				return fmt.Errorf("floor: %s seq %d: %w", stream, r.Seq, err)
			}
			replayed++
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	f.seq = last
	if replayed > snapshotEvery {
		b, err := json.Marshal(f.state())
		if err != nil {
			return nil, fmt.Errorf("floor snapshot: %w", err)
		}
		if err := st.SaveSnapshot(ctx, FloorStream, f.seq, b); err != nil {
			return nil, fmt.Errorf("save floor snapshot: %w", err)
		}
	}
	return f, nil
}

func (f *floor) state() floorState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return floorState{Seq: f.seq, Day: f.day, Numbers: f.numbers, Recent: f.recent, Reasons: f.reasons,
		Clerks: f.clerks, Util: f.util, Ratings: f.ratings}
}

func (f *floor) restore(s floorState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq, f.day, f.recent, f.ratings = s.Seq, s.Day, s.Recent, s.Ratings
	if s.Numbers != nil {
		f.numbers = s.Numbers
	}
	if s.Reasons != nil {
		f.reasons = s.Reasons
	}
	if s.Clerks != nil {
		f.clerks = s.Clerks
	}
	if s.Util != nil {
		f.util = s.Util
	}
}

// committed applies newly committed records (the log's OnCommit).
func (f *floor) committed(recs []store.Record) {
	for _, r := range recs {
		_ = f.apply(r) // a record the floor cannot read changes nothing here
	}
}

// apply folds one record in; records at or before the last applied are
// skipped, so a replay and the live feed may overlap.
func (f *floor) apply(r store.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Seq != 0 && r.Seq <= f.seq {
		return nil
	}
	f.seq = max(f.seq, r.Seq)
	switch r.Stream {
	case QueueStream:
		ev, err := queue.UnmarshalEvent(r.Data)
		if err != nil {
			return err
		}
		f.queueEvent(ev)
	case RatingStream:
		var rt Rating
		if err := json.Unmarshal(r.Data, &rt); err != nil {
			return err
		}
		f.ratings = append(f.ratings, rt.Public()) // the console's list: no comment, no applicant hash
		if len(f.ratings) > floorRatings {
			f.ratings = slices.Clone(f.ratings[len(f.ratings)-floorRatings:])
		}
	case casesys.ClerkStream:
		var s casesys.ClerkShift
		if err := json.Unmarshal(r.Data, &s); err != nil {
			return err
		}
		if s.Clerk == "" {
			delete(f.clerks, s.Window)
		} else {
			f.clerks[s.Window] = s.Clerk
		}
	}
	return nil
}

func (f *floor) queueEvent(q queue.Event) {
	f.roll(q.At)
	if q.Type == queue.EvIssued && q.Number != "" {
		f.numbers[q.Ticket] = q.Number
	}
	if q.Window == 0 {
		return
	}
	u := f.util[q.Window]
	if u == nil {
		u = &utilRec{}
		f.util[q.Window] = u
	}
	switch q.Type {
	case queue.EvCalled, queue.EvRecalled:
		number := q.Number
		if number == "" {
			number = f.numbers[q.Ticket]
		}
		call := CallRecord{Number: number, Item: q.Item, Window: q.Window, Zone: f.zones[q.Window], At: q.At, Recall: q.Type == queue.EvRecalled}
		f.recent = append([]CallRecord{call}, f.recent[:min(len(f.recent), floorCalls-1)]...)
		if q.Type == queue.EvCalled {
			f.reasons[q.Window] = reasonRec{q.Ticket, q.Reason}
			if u.BusySince.IsZero() {
				u.BusySince = q.At
			}
		}
	case queue.EvFinished, queue.EvNoShow, queue.EvTransferred:
		if !u.BusySince.IsZero() {
			u.Busy += q.At.Sub(u.BusySince)
			u.BusySince = time.Time{}
		}
	case queue.EvWindowOpened, queue.EvWindowResumed:
		if u.OpenSince.IsZero() {
			u.OpenSince = q.At
		}
	case queue.EvWindowClosed, queue.EvWindowPaused:
		if !u.OpenSince.IsZero() {
			u.Open += q.At.Sub(u.OpenSince)
			u.OpenSince = time.Time{}
		}
	}
}

// Calls is today's latest calls, newest first (at most n, at most 50).
func (c *Controller) Calls(n int) []CallRecord {
	f := c.floor
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roll(c.clock.Now())
	return append([]CallRecord{}, f.recent[:min(max(n, 0), len(f.recent))]...)
}

// CallOf is the hall-screen line of a called or recalled ticket's event.
func (c *Controller) CallOf(q queue.Event) CallRecord {
	number := q.Number
	if number == "" {
		c.floor.mu.Lock()
		number = c.floor.numbers[q.Ticket]
		c.floor.mu.Unlock()
	}
	return CallRecord{Number: number, Item: q.Item, Window: q.Window, Zone: c.floor.zones[q.Window], At: q.At,
		Recall: q.Type == queue.EvRecalled}
}

// WindowFloor is why the window's current ticket was chosen (nil unless
// current is the ticket it called last) and who works the window.
func (c *Controller) WindowFloor(n int, current int64) (*queue.Reason, string) {
	f := c.floor
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roll(c.clock.Now())
	var r *queue.Reason
	if rr, ok := f.reasons[n]; ok && rr.Ticket == current && current != 0 {
		rc := rr.Reason
		r = &rc
	}
	return r, f.clerks[n]
}

// Utilisation is the window's busy time over its open time today (0 when
// it has not been open).
func (c *Controller) Utilisation(n int, now time.Time) float64 {
	f := c.floor
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roll(now)
	u := f.util[n]
	if u == nil {
		return 0
	}
	open, busy := u.Open, u.Busy
	if !u.OpenSince.IsZero() {
		open += now.Sub(u.OpenSince)
	}
	if !u.BusySince.IsZero() {
		busy += now.Sub(u.BusySince)
	}
	if open <= 0 {
		return 0
	}
	return min(1, busy.Seconds()/open.Seconds())
}

// RecentRatings lists the ratings given since the time, oldest first.
func (c *Controller) RecentRatings(since time.Time) []Rating {
	f := c.floor
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []Rating{}
	for _, r := range f.ratings {
		if !r.At.Before(since) {
			out = append(out, r)
		}
	}
	return out
}

// ManagerItem is one item's line on the manager console.
type ManagerItem struct {
	queue.ItemView
	Name    string  `json:"name"`
	Dept    string  `json:"dept"`
	EstP50S float64 `json:"est_p50_s"` // for a ticket taken now
	EstP90S float64 `json:"est_p90_s"`
	Served  bool    `json:"served"` // some open window may serve it now
}

// ManagerWindow is one window with its clerk and today's utilisation.
type ManagerWindow struct {
	queue.WindowView
	Clerk       string  `json:"clerk,omitempty"`
	Utilisation float64 `json:"utilisation"`
}

// Alert is something the manager should look at.
type Alert struct {
	Kind    string `json:"kind"`  // long_wait | device | rating | …
	Level   string `json:"level"` // warn | alarm
	Subject string `json:"subject"`
	ZH      string `json:"message_zh"`
	EN      string `json:"message_en"`
}

// ManagerFloor is the manager console's view of the queue: items with
// estimates, windows with clerks and utilisation, the queue's alerts (long
// waits, waiting tickets no open window serves) and the last 8 h of ratings.
type ManagerFloor struct {
	At      time.Time       `json:"at"`
	Items   []ManagerItem   `json:"items"`
	Windows []ManagerWindow `json:"windows"`
	Alerts  []Alert         `json:"alerts"`
	Ratings []Rating        `json:"ratings"`
}

// ManagerFloor builds the manager console's view of the queue now.
func (c *Controller) ManagerFloor() ManagerFloor {
	cfg := c.cfg
	var snap queue.Snapshot
	est := map[string][2]float64{}
	served := map[string]bool{}
	c.View(func(e *queue.Engine) {
		now := c.clock.Now()
		snap = e.Snapshot(now)
		for _, it := range cfg.Items {
			served[it.Code] = len(e.IdleWindowsFor(it.Code, now)) > 0
			cl := e.Clone()
			if ev, err := cl.Issue(now, queue.IssueReq{Item: it.Code, Proxy: true}); err == nil {
				est[it.Code] = [2]float64{ev.EstP50S, ev.EstP90S}
			}
		}
	})
	h := ManagerFloor{At: snap.At, Items: []ManagerItem{}, Windows: []ManagerWindow{}, Alerts: []Alert{}}
	escalate := float64(cfg.Queue.EscalateAfterS)
	if escalate <= 0 {
		escalate = 900
	}
	openServes := map[string]bool{}
	for _, wv := range snap.Windows {
		if wv.State == "open" {
			for _, code := range cfg.Expand(wv.Serves) {
				openServes[code] = true
			}
		}
		_, clerk := c.WindowFloor(wv.Number, 0)
		h.Windows = append(h.Windows, ManagerWindow{WindowView: wv, Clerk: clerk, Utilisation: c.Utilisation(wv.Number, snap.At)})
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
	h.Ratings = c.RecentRatings(snap.At.Add(-8 * time.Hour))
	return h
}

// onCommit is told every committed record, in log order (Store.OnCommit),
// on the log's writer goroutine: it must not take c.mu.
func (c *Controller) onCommit(recs []store.Record) {
	c.floor.committed(recs)
	if cs := c.cases; cs != nil {
		c.committed(cs, recs)
	}
}
