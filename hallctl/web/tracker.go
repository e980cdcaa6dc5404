package web

import (
	"context"
	"sync"
	"time"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
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

// tracker follows the hall feed for what the engine does not keep: the
// latest calls, why each window's ticket was chosen, who works a window,
// busy time (utilisation), recent ratings and the last ID card per kiosk.
type tracker struct {
	c  *ctl.Controller
	mu sync.Mutex

	recent  []CallRecord
	reasons map[int]reasonRec
	clerks  map[int]string
	util    map[int]*utilRec
	ratings []ctl.Rating
	cards   map[string]ctl.CardEvent
	cardL   map[chan ctl.CardEvent]string // listener → agent
}

type reasonRec struct {
	ticket int64
	reason queue.Reason
}

type utilRec struct {
	openSince, busySince time.Time
	open, busy           time.Duration
}

func newTracker(c *ctl.Controller) *tracker {
	return &tracker{c: c, reasons: map[int]reasonRec{}, clerks: map[int]string{}, util: map[int]*utilRec{},
		cards: map[string]ctl.CardEvent{}, cardL: map[chan ctl.CardEvent]string{}}
}

func (t *tracker) run(ctx context.Context) {
	sub := t.c.Subscribe(4096)
	defer sub.Close()
	cards, stop := t.c.SubscribeCards(64)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-sub.C:
			t.observe(ev)
		case ce := <-cards:
			t.mu.Lock()
			t.cards[ce.Agent] = ce
			for l, a := range t.cardL {
				if a == ce.Agent {
					select {
					case l <- ce:
					default:
					}
				}
			}
			t.mu.Unlock()
		}
	}
}

func (t *tracker) observe(ev ctl.HallEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Rating != nil {
		t.ratings = append(t.ratings, *ev.Rating)
		if len(t.ratings) > 200 {
			t.ratings = t.ratings[len(t.ratings)-200:]
		}
	}
	q := ev.Queue
	if q == nil {
		return
	}
	u := t.util[q.Window]
	if u == nil && q.Window != 0 {
		u = &utilRec{}
		t.util[q.Window] = u
	}
	switch q.Type {
	case queue.EvCalled, queue.EvRecalled:
		number := q.Number
		if number == "" {
			if tv, ok := t.findTicket(q.Ticket); ok {
				number = tv.Number
			}
		}
		zone := ""
		if w := t.c.Config().Window(q.Window); w != nil {
			zone = w.Zone
		}
		t.recent = append([]CallRecord{{Number: number, Item: q.Item, Window: q.Window, Zone: zone, At: q.At, Recall: q.Type == queue.EvRecalled}}, t.recent...)
		if len(t.recent) > 50 {
			t.recent = t.recent[:50]
		}
		if q.Type == queue.EvCalled {
			t.reasons[q.Window] = reasonRec{q.Ticket, q.Reason}
			if u.busySince.IsZero() {
				u.busySince = q.At
			}
		}
	case queue.EvFinished, queue.EvNoShow, queue.EvTransferred:
		if u != nil && !u.busySince.IsZero() {
			u.busy += q.At.Sub(u.busySince)
			u.busySince = time.Time{}
		}
	case queue.EvWindowOpened, queue.EvWindowResumed:
		if u.openSince.IsZero() {
			u.openSince = q.At
		}
	case queue.EvWindowClosed, queue.EvWindowPaused:
		if !u.openSince.IsZero() {
			u.open += q.At.Sub(u.openSince)
			u.openSince = time.Time{}
		}
	}
}

// findTicket must not take the controller lock while the feed publishes
// under it; publishQueue runs after the unit commits, outside c.mu.
func (t *tracker) findTicket(id int64) (queue.TicketView, bool) {
	var tv queue.TicketView
	var ok bool
	t.c.View(func(e *queue.Engine) { tv, ok = e.Ticket(id) })
	return tv, ok
}

func (t *tracker) calls(n int) []CallRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]CallRecord{}, t.recent[:min(n, len(t.recent))]...)
	return out
}

func (t *tracker) windowInfo(n int, current int64) (*queue.Reason, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var r *queue.Reason
	if rr, ok := t.reasons[n]; ok && rr.ticket == current && current != 0 {
		rc := rr.reason
		r = &rc
	}
	return r, t.clerks[n]
}

func (t *tracker) setReason(n int, ticket int64, r queue.Reason) {
	t.mu.Lock()
	t.reasons[n] = reasonRec{ticket, r}
	t.mu.Unlock()
}

func (t *tracker) setClerk(n int, who string) {
	t.mu.Lock()
	t.clerks[n] = who
	t.mu.Unlock()
}

// utilisation is busy time over open time since hallctl started.
func (t *tracker) utilisation(n int, now time.Time) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.util[n]
	if u == nil {
		return 0
	}
	open, busy := u.open, u.busy
	if !u.openSince.IsZero() {
		open += now.Sub(u.openSince)
	}
	if !u.busySince.IsZero() {
		busy += now.Sub(u.busySince)
	}
	if open <= 0 {
		return 0
	}
	return min(1, busy.Seconds()/open.Seconds())
}

func (t *tracker) recentRatings(since time.Time) []ctl.Rating {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []ctl.Rating
	for _, r := range t.ratings {
		if !r.At.Before(since) {
			out = append(out, r)
		}
	}
	return out
}

// cardTTL is how long an ID card read stays usable on its kiosk.
const cardTTL = 60 * time.Second

// takeCard uses (and forgets) the card last read on the agent's reader.
func (t *tracker) takeCard(agent string, now time.Time) (ctl.CardEvent, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.cards[agent]
	if !ok || now.Sub(c.At) > cardTTL {
		return ctl.CardEvent{}, false
	}
	delete(t.cards, agent)
	return c, true
}

func (t *tracker) listenCards(agent string) (chan ctl.CardEvent, func()) {
	ch := make(chan ctl.CardEvent, 4)
	t.mu.Lock()
	t.cardL[ch] = agent
	t.mu.Unlock()
	return ch, func() {
		t.mu.Lock()
		delete(t.cardL, ch)
		t.mu.Unlock()
	}
}
