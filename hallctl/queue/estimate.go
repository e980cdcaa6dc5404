package queue

import (
	"math"
	"time"
)

// Estimate is a wait estimate shown to an applicant as a range.
type Estimate struct {
	Ahead int     // tickets of the same item before this one in call order
	MeanS float64 // the model's expected wait, before calibration
	P50S  float64 // median wait
	P90S  float64 // 90th percentile
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
// calibrated online: the engine tracks the median and 90th percentile of
// log((wait+A)/(mean+A)) over the tickets it has called (stochastic
// approximation), so P50/P90 stay honest on halls it has never seen. Only
// what a live hall knows at the moment is used.

// calA keeps the ratio meaningful for waits near zero (seconds).
const calA = 60.0

type calibration struct {
	l50, l90 float64
	n        int
}

func newCalibration() calibration { return calibration{l50: 0, l90: math.Log(2.5)} }

// observe feeds one called ticket back: wait is what it waited, p50 and
// p90 what it was shown at issue. The trackers move the shown quantiles
// directly (stochastic approximation: down after a wait at or below,
// up after one above), so the share of waits at or below the shown P50 and
// P90 converges to 0.5 and 0.9 — counting applicants called at once, who
// are always "below".
func (c *calibration) observe(wait, p50, p90 float64) {
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
}

func (c *calibration) apply(mean float64) (p50, p90 float64) {
	p50 = max(0, math.Exp(c.l50)*(mean+calA)-calA)
	p90 = max(p50, math.Exp(c.l90)*(mean+calA)-calA)
	return p50, p90
}

// estimate is the wait of a ticket of item j with the given order fields;
// inQueue tells whether it is already in j's line.
func (e *Engine) estimate(j int32, key, issued, id int64, now int64) Estimate {
	it := &e.items[j]
	// Position in call order.
	ahead := 0
	inQueue := false
	for _, ti := range it.q {
		t := &e.tickets[ti]
		if t.id == id {
			inQueue = true
			continue
		}
		if t.key < key || (t.key == key && (t.issued < issued || (t.issued == issued && t.id < id))) {
			ahead++
		}
	}
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
	capOpen, capAll := 0.0, 0.0
	for _, wi := range it.servers {
		s := share(wi)
		capAll += s
		if w := &e.windows[wi]; w.open && !w.paused {
			capOpen += s
		}
	}
	// Backup windows help once the line is old enough; count them at half
	// until then.
	bw := 0.5
	if escalated {
		bw = 1
	}
	for _, wi := range it.backups {
		s := bw * share(wi)
		capAll += s
		if w := &e.windows[wi]; w.open && !w.paused {
			capOpen += s
		}
	}
	c := capOpen
	if c <= 0 {
		c = capAll // all closed now (lunch, before opening): they will open
	}
	if c <= 0 {
		return Estimate{Ahead: ahead, MeanS: math.Inf(1), P50S: math.Inf(1), P90S: math.Inf(1)}
	}
	mean := float64(ahead+1) * it.occ / c
	p50, p90 := e.cal.apply(mean)
	return Estimate{Ahead: ahead, MeanS: mean, P50S: p50, P90S: p90}
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
