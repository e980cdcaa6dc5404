package queue

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Estimate is a wait estimate shown to an applicant as a range.
type Estimate struct {
	Ahead int     // tickets of the same item before this one in call order
	MeanS float64 // the model's expected wait, before calibration
	P50S  float64 // median wait
	P90S  float64 // 90th percentile
}

// Known reports whether the estimate is a wait at all: it is +Inf when no
// window is open for the line and none opens again today, and -1 (NoEstimate)
// in an event that recorded such a ticket.
func (e Estimate) Known() bool {
	wait := func(s float64) bool { return s >= 0 && !math.IsInf(s, 0) } // false for NaN too
	return wait(e.MeanS) && wait(e.P50S) && wait(e.P90S)
}

// NoEstimate is what an event records for a ticket with no estimate (JSON
// has no infinity); the API answers -1 for it too.
const NoEstimate = -1

// orNone is the estimate as an event may hold it.
func (e Estimate) orNone() Estimate {
	if e.Known() {
		return e
	}
	return Estimate{Ahead: e.Ahead, MeanS: NoEstimate, P50S: NoEstimate, P90S: NoEstimate}
}

// The model. A ticket of item j waits for the tickets ahead of it in j's
// line; the windows that may call j serve them at the effective capacity
// c_j = Σ_w share_w(j), where a window splits itself across the item
// queues it serves in proportion to their waiting work (a window serving k
// equally loaded pools counts 1/k for each). Each ticket occupies a window
// for the item's learned occupancy time (call → free, which includes the
// walk to the window and no-show holds), so the expected wait is
// (ahead+1)·occ_j / c_j, the queue-length predictor of Ibrahim & Whitt.
//
// The model ignores later arrivals with a head start, escalations, lunch
// breaks and service-time spread. Rather than model each, the range is
// calibrated online from r = log((wait+A)/(mean+A)) of the tickets that
// actually waited (called later than issued): P50 and P90 are the median
// and 90th percentile of r over the last calWindow of them (nearest-rank),
// so the share of waits at or below the shown P50/P90 is 0.5/0.9 among
// the applicants who had to wait. Applicants called the moment they were
// issued are left out: they are "at or below" any estimate, and counting
// them pushed the range down for everyone else (on a day when two thirds
// are called at once, the P50 fell until it covered a sixth of those who
// waited). A window of recent tickets, not a running tracker, because a
// hall's error changes through the day (windows go to lunch): a 90th
// percentile tracker climbs nine times faster than it comes down, so one
// bad hour inflated the P90 for the rest of the day; a window forgets it
// after calWindow tickets. Until calMin tickets have waited, two
// stochastic-approximation trackers give the range. Only what a live hall
// knows at the moment is used.

// calA keeps the ratio meaningful for waits near zero (seconds).
const calA = 60.0

// calWindow is how many recent waited tickets the range comes from;
// calMin how many it needs before it replaces the trackers.
const (
	calWindow = 200
	calMin    = 30
)

type calibration struct {
	l50, l90 float64 // the trackers (warm-up)
	n        int
	hist     []float64 // r of the last calWindow waited tickets, a ring
	next     int       // ring slot the next r replaces once it is full
	sorted   []float64 // hist, sorted
}

func newCalibration() calibration { return calibration{l50: 0, l90: math.Log(2.5)} }

// observe feeds one called ticket that waited back: wait is what it
// waited, mean, p50 and p90 what it was shown at issue. The trackers move
// the shown quantiles directly (stochastic approximation: down after a
// wait at or below, up after one above); the window keeps r.
func (c *calibration) observe(wait, mean, p50, p90 float64) {
	if !(Estimate{MeanS: mean, P50S: p50, P90S: p90}).Known() {
		return // the ticket was shown no estimate: nothing to learn
	}
	c.n++
	eta := max(0.02, 1/float64(c.n+10))
	if wait <= p50 {
		c.l50 -= eta * 0.5
	} else {
		c.l50 += eta * 0.5
	}
	if wait <= p90 {
		c.l90 -= eta * 0.1
	} else {
		c.l90 += eta * 0.9
	}
	c.l50 = min(max(c.l50, -3), 3)
	c.l90 = min(max(c.l90, -3), 4)
	r := math.Log((wait + calA) / (mean + calA))
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return // no estimate was possible (no window could serve it)
	}
	if len(c.hist) < calWindow {
		c.hist = append(c.hist, r)
	} else {
		old := c.hist[c.next]
		c.hist[c.next] = r
		c.next = (c.next + 1) % calWindow
		i, _ := slices.BinarySearch(c.sorted, old)
		c.sorted = slices.Delete(c.sorted, i, i+1)
	}
	i, _ := slices.BinarySearch(c.sorted, r)
	c.sorted = slices.Insert(c.sorted, i, r)
}

// quantiles are the log multipliers of P50 and P90.
func (c *calibration) quantiles() (q50, q90 float64) {
	n := len(c.sorted)
	if n < calMin {
		return c.l50, c.l90
	}
	rank := func(p float64) float64 { return c.sorted[min(max(int(math.Ceil(p*float64(n)))-1, 0), n-1)] }
	return rank(0.5), rank(0.9)
}

// window is the ring in arrival order, oldest first (saved state).
func (c *calibration) window() []float64 {
	if len(c.hist) < calWindow {
		return slices.Clone(c.hist)
	}
	return append(slices.Clone(c.hist[c.next:]), c.hist[:c.next]...)
}

// restoreWindow sets the ring from a saved window, oldest first.
func (c *calibration) restoreWindow(w []float64) {
	if len(w) > calWindow {
		w = w[len(w)-calWindow:]
	}
	c.hist, c.next = slices.Clone(w), 0
	c.sorted = slices.Clone(w)
	slices.Sort(c.sorted)
}

func (c calibration) clone() calibration {
	c.hist, c.sorted = slices.Clone(c.hist), slices.Clone(c.sorted)
	return c
}

func (c *calibration) apply(mean float64) (p50, p90 float64) {
	q50, q90 := c.quantiles()
	p50 = max(0, math.Exp(q50)*(mean+calA)-calA)
	p90 = max(p50, math.Exp(q90)*(mean+calA)-calA)
	return p50, p90
}

// estimate is the wait of a ticket of item j with the given order fields;
// inQueue tells whether it is already in j's line.
func (e *Engine) estimate(j int32, key, issued, id int64, now int64) Estimate {
	it := &e.items[j]
	// Position in call order: it.q is kept sorted by (key, issued, id)
	// (insert), so a binary search finds it (a linear count made issue
	// cost grow with the queue: 18% of the CPU at 15,000 waiting).
	ahead, inQueue := e.position(it.q, key, issued, id)
	escalated := e.escalated(j, now)
	if !inQueue && ahead == 0 {
		for _, wi := range it.servers {
			if w := &e.windows[wi]; w.open && !w.paused && w.cur < 0 {
				return Estimate{} // called at once
			}
		}
	}
	nj := len(it.q)
	if !inQueue {
		nj++
	}
	work := func(i int32) float64 {
		if i == j {
			return float64(nj) * e.items[i].occ
		}
		return float64(len(e.items[i].q)) * e.items[i].occ
	}
	e.stamp++
	share := func(wi int32) float64 {
		w := &e.windows[wi]
		total := 0.0
		if e.memoAt[w.set] == e.stamp {
			total = e.memo[w.set]
		} else {
			for _, i := range w.serves {
				total += work(i)
			}
			for _, i := range w.backup {
				if e.escalated(i, now) || i == j {
					total += work(i)
				}
			}
			e.memo[w.set], e.memoAt[w.set] = total, e.stamp
		}
		total += float64(len(w.direct)) * it.occ
		if total <= 0 {
			return 1
		}
		return work(j) / total
	}
	// Backup windows help once the line is old enough; count them at half
	// until then.
	bw := 0.5
	if escalated {
		bw = 1
	}
	elig := e.elig[:0]
	scheduled := false
	for _, wi := range it.servers {
		elig = append(elig, eligible{wi, share(wi)})
		scheduled = scheduled || len(e.windows[wi].hours) > 0
	}
	for _, wi := range it.backups {
		elig = append(elig, eligible{wi, bw * share(wi)})
		scheduled = scheduled || len(e.windows[wi].hours) > 0
	}
	e.elig = elig
	need := float64(ahead+1) * it.occ // window-seconds of work before its call
	var mean float64
	if scheduled {
		mean = e.drain(elig, need, now)
	} else {
		capOpen, capAll := 0.0, 0.0
		for _, x := range elig {
			capAll += x.share
			if w := &e.windows[x.wi]; w.open && !w.paused {
				capOpen += x.share
			}
		}
		c := capOpen
		if c <= 0 {
			c = capAll // all closed now (lunch, before opening): they will open
		}
		mean = need / c
		if c <= 0 {
			mean = math.Inf(1)
		}
	}
	if math.IsInf(mean, 1) {
		return Estimate{Ahead: ahead, MeanS: math.Inf(1), P50S: math.Inf(1), P90S: math.Inf(1)}
	}
	p50, p90 := e.cal.apply(mean)
	return Estimate{Ahead: ahead, MeanS: mean, P50S: p50, P90S: p90}
}

// eligible is a window that may call a line and the share of its time
// the line gets.
type eligible struct {
	wi    int32
	share float64
}

// drain is how long (seconds) the eligible windows take to do need
// window-seconds of the line's work from now on, following their hours:
// a window counts while it is open now, then in its hours (lunch breaks
// and later openings included), and after its last hours only if those
// end when the hall's last window closes (extended service, 延时服务).
// Windows without hours count as they are now. Inf when none ever will.
func (e *Engine) drain(elig []eligible, need float64, now int64) float64 {
	lt := e.timeOf(now)
	midnight := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, e.loc)
	t0 := float64(now-micros(midnight)) / 60e6 // minutes after local midnight
	closing := 0
	bps := e.bps[:0]
	for _, x := range elig {
		for _, h := range e.windows[x.wi].hours {
			closing = max(closing, h.CloseMin)
			if o := float64(h.OpenMin); o > t0 {
				bps = append(bps, o)
			}
			if c := float64(h.CloseMin); c > t0 {
				bps = append(bps, c)
			}
		}
	}
	slices.Sort(bps)
	bps = slices.Compact(bps)
	e.bps = bps
	avail := func(w *window, tm float64, first bool) bool {
		if first || len(w.hours) == 0 {
			return w.open && !w.paused
		}
		last := 0
		for _, h := range w.hours {
			if tm >= float64(h.OpenMin) && tm < float64(h.CloseMin) {
				return true
			}
			last = max(last, h.CloseMin)
		}
		return tm >= float64(last) && last >= closing
	}
	done, t := 0.0, t0
	for i := 0; ; i++ {
		next := math.Inf(1)
		if i < len(bps) {
			next = bps[i]
		}
		c := 0.0
		for _, x := range elig {
			if avail(&e.windows[x.wi], t, i == 0) {
				c += x.share
			}
		}
		if c > 0 {
			if dur := (next - t) * 60; done+c*dur >= need {
				return (t-t0)*60 + (need-done)/c
			} else {
				done += c * dur
			}
		}
		if i >= len(bps) {
			return math.Inf(1)
		}
		t = next
	}
}

// Estimate is the wait still ahead of a waiting ticket at now (the
// estimate shown on request). The error is ErrUnknownTicket or, for a
// ticket no longer waiting, ErrBadState.
func (e *Engine) Estimate(id int64, now time.Time) (Estimate, error) {
	ti, err := e.ticketByID(id)
	if err != nil {
		return Estimate{}, err
	}
	t := &e.tickets[ti]
	if t.state != Waiting {
		return Estimate{}, ErrBadState
	}
	if t.direct >= 0 {
		w := &e.windows[t.direct]
		n := 0
		for _, d := range w.direct {
			if d == ti {
				break
			}
			n++
		}
		mean := float64(n+1) * e.items[t.item].occ
		p50, p90 := e.cal.apply(mean)
		return Estimate{Ahead: n, MeanS: mean, P50S: p50, P90S: p90}, nil
	}
	return e.estimate(t.item, t.key, t.issued, t.id, micros(now)), nil
}

// position is how many tickets of q (sorted by less) come before the
// ticket (key, issued, id), and whether that ticket is itself in q.
func (e *Engine) position(q []int32, key, issued, id int64) (ahead int, inQueue bool) {
	before := func(t *ticket) bool {
		return t.key < key || (t.key == key && (t.issued < issued || (t.issued == issued && t.id < id)))
	}
	ahead = sort.Search(len(q), func(i int) bool { return !before(&e.tickets[q[i]]) })
	return ahead, ahead < len(q) && e.tickets[q[ahead]].id == id
}
