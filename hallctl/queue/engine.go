// Package queue is the hall's queue engine: tickets, windows, routing and
// wait estimates. It is pure — no I/O, no wall clock, no goroutines, no
// logging — so the live controller, the simulator, the manager's what-if
// preview and replays of a past day all drive the same code.
//
// Every state change is an Event. Command methods (Issue, CallNext, NoShow,
// …) take the time of the command, build the event, apply it and return
// it; Apply replays a logged event, so state is a projection of the event
// log. An Engine is not safe for concurrent use: drive it from one
// goroutine.
package queue

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Policy is a routing policy. Default is the product; the others are the
// reference policies of the simulator contract (bench/README.md).
type Policy uint8

// The policies.
const (
	PolicyDefault   Policy = iota // classes with aging, backup escalation, transfers to windows
	PolicyFIFO                    // serves only, oldest first, classes ignored
	PolicyDedicated               // home department only, oldest first
	PolicyPooled                  // every window serves every item, oldest first
)

var policyNames = [...]string{"default", "fifo", "dedicated", "pooled"}

func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}

// ParsePolicy reads a policy name.
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if n == s {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("unknown policy %q (default, fifo, dedicated, pooled)", s)
}

// Policies lists every policy in table order.
func Policies() []Policy {
	return []Policy{PolicyDefault, PolicyFIFO, PolicyDedicated, PolicyPooled}
}

// Opts tune an Engine beyond the hall config.
type Opts struct {
	// Policy is the routing policy; default PolicyDefault.
	Policy Policy
	// ProtectAfter: a ticket that has waited this long can no longer be
	// overtaken by later tickets — it competes as if it had the largest
	// head start a ticket can get (the largest fixed one, or the cap of a
	// wait-proportional one). 0 = twice that (120 min with the config
	// defaults: the 60 min cap); negative = never.
	ProtectAfter time.Duration
}

// DefaultOpts are the options of the live controller.
func DefaultOpts() Opts { return Opts{Policy: PolicyDefault} }

// TicketState is where a ticket is in its life.
type TicketState uint8

// The ticket states.
const (
	Waiting TicketState = iota
	Called
	Serving
	Finished
	Voided // no-show too often (过号作废)
	Cancelled
)

var stateNames = [...]string{"waiting", "called", "serving", "finished", "voided", "cancelled"}

func (s TicketState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (s TicketState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *TicketState) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = TicketState(i)
			return nil
		}
	}
	return fmt.Errorf("ticket state %q: %w", b, ErrInconsistent)
}

// Live reports whether the ticket may still be called or served.
func (s TicketState) Live() bool { return s <= Serving }

const never = math.MaxInt64

// Engine is the queue state of one hall.
type Engine struct {
	cfg  Spec // the hall as the engine needs it (never changed)
	opts Opts
	loc  *time.Location

	headStart    [numClasses]int64   // µs, the fixed part
	hsShare      [numClasses]float64 // share of the line's current wait
	hsCap        int64               // µs, cap of a wait-proportional head start
	escalate     int64               // µs
	requeueAfter int
	voidAfter    int
	maxOvertake  int32
	protect      int64 // µs, never when off
	maxHS        int64 // µs, the largest head start a ticket can get

	items   []item
	itemIdx map[string]int32
	windows []window
	winIdx  map[int]int32

	tickets []ticket // in id order; see compact.go for the ids not held
	lastID  int64    // the highest ticket id issued
	keepAll bool     // no compaction (tests compare against it)
	live    map[string]int64
	persons map[string]int64
	day     string
	counter map[string]int
	leases  []lease // this day's offline number blocks (lease.go)

	// Per item, the key and issue time of its head (never when empty):
	// call next scans these arrays, not the tickets.
	headKey []int64
	headIss []int64
	headIdx []int32 // ticket index of the head, -1 when empty
	// oldV/oldIdx: the ticket with the earliest virtual issue time (key +
	// the head start it got: the issue time, or later after a no-show
	// requeue) — the line's longest waiter, for protection and escalation.
	oldV   []int64
	oldIdx []int32
	// headOvt is the head's overtake count; it lives here while the ticket
	// is the head (only heads are overtaken) and is written back to the
	// ticket when it stops being the head.
	headOvt []int32

	now int64 // µs, the latest event time
	cal calibration

	// Estimation scratch: windows with the same serves and backup share a
	// set id, so a line's total work is summed once per set per estimate.
	setCount int
	memo     []float64
	memoAt   []uint64
	stamp    uint64
	elig     []eligible // estimate scratch
	bps      []float64  // estimate scratch: hour boundaries
}

type item struct {
	code, dept, prefix string
	prior              float64 // config service_s
	svc                float64 // learned service time, start → finish (s)
	occ                float64 // learned window time per call, call → free (s)
	q                  []int32 // waiting tickets, call order
	cq                 [numClasses][]int32
	servers            []int32 // windows whose serves include it
	backups            []int32 // windows whose backup includes it
}

type ticket struct {
	id               int64
	number, person   string
	item             int32
	class            Class
	proxy            bool
	state            TicketState
	issued, key      int64
	win, direct      int32 // serving window / window it was transferred to (-1 none)
	calledAt, start  int64
	noShows, recalls int32
	overtaken        int32
	hs               int64 // µs, the head start it got (issue time − key at issue)
	estMean          float64
	estP50, estP90   float64
}

type window struct {
	number             int
	dept, zone         string
	serveRefs, backRef []string
	serves, backup     []int32
	hours              []Span // read-only, from the spec
	all                bool   // serves every item, in item order
	set                int32
	open, paused       bool
	note               string
	cur                int32
	idleSince          int64
	direct             []int32
}

// New builds an engine for the hall spec (config.Config.QueueSpec of a
// validated config) in the hall's time zone; the engine keeps a copy.
func New(spec Spec, loc *time.Location, opts Opts) (*Engine, error) {
	if loc == nil {
		return nil, errors.New("queue: no hall time zone")
	}
	cfg := spec.clone()
	if opts.Policy > PolicyPooled {
		return nil, fmt.Errorf("queue: unknown policy %d", opts.Policy)
	}
	e := &Engine{
		cfg: cfg, opts: opts, loc: loc,
		escalate:     int64(cfg.Rules.EscalateAfterS) * 1e6,
		requeueAfter: cfg.Rules.NoShowRequeueAfter,
		voidAfter:    cfg.Rules.NoShowVoidAfter,
		maxOvertake:  int32(cfg.Rules.MaxOvertake),
		itemIdx:      make(map[string]int32, len(cfg.Items)),
		winIdx:       make(map[int]int32, len(cfg.Windows)),
		live:         map[string]int64{},
		persons:      map[string]int64{},
		counter:      map[string]int{},
		cal:          newCalibration(),
	}
	e.protect = never
	if opts.Policy == PolicyDefault {
		e.hsCap = int64(cfg.Rules.HeadStartMaxMin * 60e6)
		for c := Class(0); c < numClasses; c++ {
			e.headStart[c] = int64(cfg.Rules.HeadStartMin[c.String()] * 60e6)
			e.maxHS = max(e.maxHS, e.headStart[c])
			if f := cfg.Rules.HeadStartShare[c.String()]; f > 0 && e.hsCap > 0 {
				e.hsShare[c] = f
				e.maxHS = max(e.maxHS, e.hsCap)
			}
		}
		switch {
		case opts.ProtectAfter == 0 && e.maxHS > 0:
			e.protect = 2 * e.maxHS
		case opts.ProtectAfter > 0:
			e.protect = opts.ProtectAfter.Microseconds()
		}
	}
	for _, it := range cfg.Items {
		e.itemIdx[it.Code] = int32(len(e.items))
		s := float64(it.ServiceS)
		if s <= 0 {
			s = 300
		}
		e.items = append(e.items, item{code: it.Code, dept: it.Dept, prefix: it.Prefix, prior: s, svc: s, occ: s})
	}
	e.headKey = make([]int64, len(e.items))
	e.headIss = make([]int64, len(e.items))
	e.headIdx = make([]int32, len(e.items))
	e.headOvt = make([]int32, len(e.items))
	e.oldV = make([]int64, len(e.items))
	e.oldIdx = make([]int32, len(e.items))
	for i := range e.headKey {
		e.headKey[i], e.headIss[i], e.headIdx[i], e.oldV[i], e.oldIdx[i] = never, never, -1, never, -1
	}
	for _, w := range cfg.Windows {
		e.winIdx[w.Number] = int32(len(e.windows))
		e.windows = append(e.windows, window{
			number: w.Number, dept: w.Dept, zone: w.Zone,
			serveRefs: slices.Clone(w.Serves), backRef: slices.Clone(w.Backup), cur: -1, hours: w.Hours,
		})
	}
	e.rebuildRouting()
	return e, nil
}

// Spec is the hall spec the engine was built from (a copy).
func (e *Engine) Spec() Spec { return e.cfg.clone() }

// Expand turns refs ("*", "dept:XX", item codes) into item codes.
func (e *Engine) Expand(refs []string) []string { return e.cfg.Expand(refs) }

// Policy is the engine's routing policy.
func (e *Engine) Policy() Policy { return e.opts.Policy }

// Location is the hall's time zone.
func (e *Engine) Location() *time.Location { return e.loc }

// rebuildRouting derives every window's item lists from its refs under the
// policy, and every item's server lists.
func (e *Engine) rebuildRouting() {
	all := make([]int32, len(e.items))
	for i := range all {
		all[i] = int32(i)
	}
	for wi := range e.windows {
		w := &e.windows[wi]
		w.serves, w.backup = w.serves[:0], w.backup[:0]
		switch e.opts.Policy {
		case PolicyPooled:
			w.serves = append(w.serves, all...)
		case PolicyDedicated:
			for i, it := range e.items {
				if it.dept == w.dept {
					w.serves = append(w.serves, int32(i))
				}
			}
		default:
			for _, c := range e.cfg.Expand(w.serveRefs) {
				w.serves = append(w.serves, e.itemIdx[c])
			}
			if e.opts.Policy == PolicyDefault {
				for _, c := range e.cfg.Expand(w.backRef) {
					j := e.itemIdx[c]
					if !slices.Contains(w.serves, j) {
						w.backup = append(w.backup, j)
					}
				}
			}
		}
	}
	sets := map[string]int32{}
	for wi := range e.windows {
		w := &e.windows[wi]
		w.all = len(w.serves) == len(e.items)
		for i, j := range w.serves {
			w.all = w.all && int(j) == i
		}
		k := fmt.Sprint(w.serves, w.backup)
		id, ok := sets[k]
		if !ok {
			id = int32(len(sets))
			sets[k] = id
		}
		w.set = id
	}
	e.setCount = len(sets)
	e.memo = make([]float64, e.setCount)
	e.memoAt = make([]uint64, e.setCount)
	for i := range e.items {
		e.items[i].servers, e.items[i].backups = e.items[i].servers[:0], e.items[i].backups[:0]
	}
	for wi, w := range e.windows {
		for _, j := range w.serves {
			e.items[j].servers = append(e.items[j].servers, int32(wi))
		}
		for _, j := range w.backup {
			e.items[j].backups = append(e.items[j].backups, int32(wi))
		}
	}
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func (e *Engine) timeOf(us int64) time.Time { return time.UnixMicro(us).In(e.loc) }

// less orders tickets in call order: key, then issue time, then id.
func (e *Engine) less(a, b int32) bool {
	ta, tb := &e.tickets[a], &e.tickets[b]
	if ta.key != tb.key {
		return ta.key < tb.key
	}
	if ta.issued != tb.issued {
		return ta.issued < tb.issued
	}
	return ta.id < tb.id
}

func (e *Engine) insert(q []int32, idx int32) []int32 {
	i := len(q)
	for i > 0 && e.less(idx, q[i-1]) { // most inserts append
		i--
	}
	return slices.Insert(q, i, idx)
}

func removeIdx(q []int32, idx int32) ([]int32, bool) {
	for i, v := range q {
		if v == idx {
			if i == 0 {
				return q[1:], true
			}
			return slices.Delete(q, i, i+1), true
		}
	}
	return q, false
}

func (e *Engine) refreshHead(j int32) {
	it := &e.items[j]
	e.oldV[j], e.oldIdx[j] = never, -1
	for c := range it.cq {
		if cq := it.cq[c]; len(cq) > 0 {
			if t := &e.tickets[cq[0]]; t.key+t.hs < e.oldV[j] {
				e.oldV[j], e.oldIdx[j] = t.key+t.hs, cq[0]
			}
		} else if cap(cq) > 0 {
			it.cq[c] = cq[:0:0]
		}
	}
	q := it.q
	old := e.headIdx[j]
	if len(q) > 0 && q[0] == old {
		return
	}
	if old >= 0 {
		e.tickets[old].overtaken = e.headOvt[j]
	}
	if len(q) == 0 {
		e.headKey[j], e.headIss[j], e.headIdx[j], e.headOvt[j] = never, never, -1, 0
		if cap(q) > 0 {
			it.q = q[:0:0] // drop the consumed prefix
		}
		return
	}
	t := &e.tickets[q[0]]
	e.headKey[j], e.headIss[j], e.headIdx[j], e.headOvt[j] = t.key, t.issued, q[0], t.overtaken
}

// escalated reports whether item j's longest waiter has waited past the
// escalation threshold.
func (e *Engine) escalated(j int32, now int64) bool {
	return e.oldV[j] != never && now-e.oldV[j] >= e.escalate
}

// overtaken is a ticket's overtake count.
func (e *Engine) overtaken(ti int32) int32 {
	if j := e.tickets[ti].item; e.headIdx[j] == ti {
		return e.headOvt[j]
	}
	return e.tickets[ti].overtaken
}

// ticketByID returns the index of a ticket id.
func (e *Engine) ticketByID(id int64) (int32, error) {
	return e.findTicket(id)
}

func (e *Engine) windowByNumber(n int) (int32, error) {
	wi, ok := e.winIdx[n]
	if !ok {
		return -1, fmt.Errorf("window %d: %w", n, ErrUnknownWindow)
	}
	return wi, nil
}

func (e *Engine) itemByCode(code string) (int32, error) {
	j, ok := e.itemIdx[code]
	if !ok {
		return -1, fmt.Errorf("item %q: %w", code, ErrUnknownItem)
	}
	return j, nil
}

// Clone returns a deep copy for what-if previews: commands on the copy
// never touch the original.
func (e *Engine) Clone() *Engine {
	c := *e
	c.items = slices.Clone(e.items)
	for i := range c.items {
		it := &c.items[i]
		it.q = slices.Clone(it.q)
		for c := range it.cq {
			it.cq[c] = slices.Clone(it.cq[c])
		}
		it.servers = slices.Clone(it.servers)
		it.backups = slices.Clone(it.backups)
	}
	c.windows = slices.Clone(e.windows)
	for i := range c.windows {
		w := &c.windows[i]
		w.serveRefs = slices.Clone(w.serveRefs)
		w.backRef = slices.Clone(w.backRef)
		w.serves = slices.Clone(w.serves)
		w.backup = slices.Clone(w.backup)
		w.direct = slices.Clone(w.direct)
	}
	c.tickets = slices.Clone(e.tickets)
	c.live = cloneMap(e.live)
	c.persons = cloneMap(e.persons)
	c.counter = cloneMap(e.counter)
	c.leases = cloneLeases(e.leases)
	c.headKey = slices.Clone(e.headKey)
	c.headIss = slices.Clone(e.headIss)
	c.headIdx = slices.Clone(e.headIdx)
	c.oldV = slices.Clone(e.oldV)
	c.oldIdx = slices.Clone(e.oldIdx)
	c.headOvt = slices.Clone(e.headOvt)
	c.memo = make([]float64, e.setCount)
	c.memoAt = make([]uint64, e.setCount)
	c.cal = e.cal.clone()
	c.elig, c.bps = nil, nil
	c.itemIdx = cloneMap(e.itemIdx) // read-only today, but cheap and safe
	c.winIdx = cloneMap(e.winIdx)
	return &c
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
