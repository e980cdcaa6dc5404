package ctl

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicehall/servicehall/hallctl/bus"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/internal/keyrate"
	"github.com/servicehall/servicehall/wire"
)

// Issue limits (the hall config's `limits:`, docs/limits.md): a ticket
// dispenser (an MQTT press) may issue limits.tickets_per_client_per_min
// tickets a minute, and no item gives more than
// limits.tickets_per_item_per_day tickets in one day. The day's count is
// taken from the queue engine's state (today's tickets), so it survives a
// restart. The HTTP side (per kiosk or client address) is in hallctl/web.

// Issue limit errors.
var (
	// ErrItemFullToday: the item's daily cap is reached.
	ErrItemFullToday = errors.New("the item's tickets for today are all taken")
	// ErrIssueRateLimited: the dispenser issued too many tickets a minute.
	ErrIssueRateLimited = errors.New("too many tickets from this dispenser")
)

// issueLimits is the controller's side of the issue limits and the rating
// pads' open sessions. Everything but presses is guarded by the
// controller's lock (units of work); presses has its own.
type issueLimits struct {
	l       config.Limits
	presses *keyrate.Set

	day     string         // the hall-local day perItem counts
	perItem map[string]int // tickets issued that day, by item

	pads map[string]padSession // agent/device → its open rating session

	refused *prometheus.CounterVec

	version atomic.Uint64 // bumped after every committed queue change
}

func newIssueLimits(o Options) *issueLimits {
	l := (&Controller{cfg: o.Config}).Limits()
	il := &issueLimits{l: l,
		presses: keyrate.New(l.TicketsPerClientPerMin, l.TicketsPerClientPerMin, l.RegistryDevices),
		pads:    map[string]padSession{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_issue_refused_total",
			Help: "Tickets refused by a limit: dispenser_rate (MQTT presses a minute), item_full_today (the item's daily cap)."},
			[]string{"reason"}),
	}
	o.Registry.MustRegister(il.refused)
	return il
}

// checkIssue refuses a ticket the daily cap does not allow (in u, before
// the desk issues it). Appointments were booked against their own
// capacity and are not capped; a retried request that already issued is
// answered by the desk as before.
func (c *Controller) checkIssue(req IssueRequest) error {
	if req.Class == queue.Appointment.String() {
		return nil
	}
	if _, dup := c.desk.sources[req.Source]; dup && req.Source != "" {
		return nil
	}
	n := c.itemsToday()[req.Item]
	if n >= c.lim.l.TicketsPerItemPerDay {
		c.lim.refused.WithLabelValues("item_full_today").Inc()
		return fmt.Errorf("%w: %s has issued %d tickets today (limits.tickets_per_item_per_day)", ErrItemFullToday, req.Item, n)
	}
	return nil
}

// countIssued counts a ticket just issued against its item's day.
func (c *Controller) countIssued(t Issued) {
	if !t.Duplicate {
		c.itemsToday()[t.Item]++
	}
}

// itemsToday is today's count of tickets by item, rebuilt from the
// engine's tickets at the first use of a day (today's ticket ids are
// contiguous and newest last: the scan stops at the first older one).
func (c *Controller) itemsToday() map[string]int {
	now := c.clock.Now().In(c.cfg.Loc)
	day := now.Format("20060102")
	if c.lim.perItem != nil && c.lim.day == day {
		return c.lim.perItem
	}
	y, m, d := now.Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, c.cfg.Loc)
	counts := map[string]int{}
	e := c.desk.Engine()
	for id := int64(e.TicketCount()); id >= 1; id-- {
		t, ok := e.Ticket(id)
		if !ok || t.IssuedAt.Before(start) {
			break
		}
		counts[t.Item]++
	}
	c.lim.day, c.lim.perItem = day, counts
	return counts
}

// allowPress spends one of a dispenser's tickets this minute.
func (c *Controller) allowPress(ev bus.Event) error {
	if ok, wait := c.lim.presses.Allow(ev.Agent+"/"+ev.Device.ID, c.clock.Now()); !ok {
		c.lim.refused.WithLabelValues("dispenser_rate").Inc()
		return fmt.Errorf("%w %s/%s (limits.tickets_per_client_per_min); next in %s", ErrIssueRateLimited, ev.Agent, ev.Device.ID, wait.Round(time.Second))
	}
	return nil
}

// padSession is the rating session the controller opened on one pad: the
// only session a rating from that pad is accepted for, once, until
// its timeout.
type padSession struct {
	session string
	ticket  int64
	window  int
	until   time.Time
}

// padKey names a pad device.
func padKey(agent, device string) string { return agent + "/" + device }

// ErrNoRatingSession: a pad rated a session the controller did not open
// on that pad (another window's ticket, a guessed ticket id, one that
// timed out or was rated already).
var ErrNoRatingSession = errors.New("no open rating session on this pad")

// takePadSession checks that ev comes from a rating pad of the window the
// session was opened for, on that very pad, in time; and closes it.
func (c *Controller) takePadSession(ev bus.Event, session string) (int64, error) {
	key := padKey(ev.Agent, ev.Device.ID)
	s, ok := c.lim.pads[key]
	switch {
	case !ok || s.session != session:
		return 0, fmt.Errorf("%w: %s rated session %q", ErrNoRatingSession, key, session)
	case ev.Device.Kind != wire.KindRating || ev.Device.Window != s.window:
		return 0, fmt.Errorf("%w: %s is not a rating pad of window %d", ErrNoRatingSession, key, s.window)
	case c.clock.Now().After(s.until):
		delete(c.lim.pads, key)
		return 0, fmt.Errorf("%w: %s's session %q timed out", ErrNoRatingSession, key, session)
	}
	delete(c.lim.pads, key)
	return s.ticket, nil
}

// Limits is the hall config's limits, with the defaults for fields a
// config built in code left zero.
func (c *Controller) Limits() config.Limits {
	l, d := c.cfg.Limits, config.DefaultLimits
	def := func(v *int, x int) {
		if *v <= 0 {
			*v = x
		}
	}
	def(&l.PublicPerMin, d.PublicPerMin)
	def(&l.PublicBurst, d.PublicBurst)
	def(&l.TicketsPerClientPerMin, d.TicketsPerClientPerMin)
	def(&l.TicketsPerItemPerDay, d.TicketsPerItemPerDay)
	def(&l.MetricLabelValues, d.MetricLabelValues)
	def(&l.RegistryDevices, d.RegistryDevices)
	def(&l.LogLinesPerS, d.LogLinesPerS)
	def(&l.LogBurst, d.LogBurst)
	return l
}

// Registry is the registry the controller's metrics are in (the web
// layer adds its own).
func (c *Controller) Registry() *prometheus.Registry { return c.o.Registry }

// StateVersion changes after every committed change of the queue (ticket,
// window): readers cache what they derive from it per version.
func (c *Controller) StateVersion() uint64 { return c.lim.version.Load() }
