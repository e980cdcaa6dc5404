package casesys

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/servicehall/servicehall/hallctl/store"
)

// Alert kinds of electronic supervision (电子监察).
const (
	AlertLongWait   = "long_wait"     // a waiting ticket past its item's wait threshold
	AlertPaused     = "window_paused" // a window paused longer than allowed
	AlertDueSoon    = "due_soon"      // a promised case open and due within due_soon_days
	AlertOverdue    = "overdue"       // a promised case open past its due date
	AlertNoShowRate = "no_show_rate"  // a clerk's no-show share today is unusual
)

// Alert is one supervision finding.
type Alert struct {
	// ID names the finding stably (AlertID): the same alert has the same
	// ID at every evaluation and after a restart.
	ID        string    `json:"id,omitempty"`
	Kind      string    `json:"kind"`
	Severity  string    `json:"severity"` // warning | critical
	Item      string    `json:"item,omitempty"`
	Window    int       `json:"window,omitempty"`
	Clerk     string    `json:"clerk,omitempty"`
	Ticket    int64     `json:"ticket,omitempty"`
	Number    string    `json:"number,omitempty"`
	Serial    string    `json:"serial,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	Value     float64   `json:"value"`     // minutes waited/paused, days left, rate
	Threshold float64   `json:"threshold"` // the limit it broke
	Message   string    `json:"message"`
	// Outbox names the outbox of a dead_letter alert: cases (the case
	// system's webhook) or supervision (the 电子监察 platform's).
	Outbox string `json:"outbox,omitempty"`
}

// Alerts computes the supervision alerts at now from a ledger: a pure
// function of the log and the clock. s takes its defaults if zero.
func Alerts(l *Ledger, s Supervision, cal *Calendar, now time.Time) []Alert {
	s = Config{Supervision: s}.WithDefaults().Supervision
	loc := l.loc()
	today := now.In(loc).Format(DateLayout)
	var out []Alert
	for _, id := range l.Order {
		t := l.Tickets[id]
		// A ticket requeued after a no-show waits again: the applicant's
		// wait counts from issue (the total wait), as in national practice.
		if !t.InLine() || t.Day != today {
			continue
		}
		lim := s.WaitMin
		if v, ok := s.ItemWaitMin[t.Final]; ok {
			lim = v
		}
		waited := now.Sub(t.IssuedAt).Minutes()
		if waited > lim {
			sev := "warning"
			if waited > 2*lim {
				sev = "critical"
			}
			out = append(out, Alert{ID: fmt.Sprintf("%s/ticket-%d/%d", AlertLongWait, t.ID, t.Calls),
				Kind: AlertLongWait, Severity: sev, Item: t.Final, Ticket: t.ID, Number: t.Number,
				Since: t.IssuedAt, Value: waited, Threshold: lim,
				Message: fmt.Sprintf("%s 已等候 %.0f 分钟（上限 %.0f）", t.Number, waited, lim)})
		}
	}
	for _, n := range sortedWindows(l) {
		w := l.Windows[n]
		if !w.Paused {
			continue
		}
		m := now.Sub(w.PausedAt).Minutes()
		if m > s.PauseMin {
			sev := "warning"
			if m > 2*s.PauseMin {
				sev = "critical"
			}
			out = append(out, Alert{ID: fmt.Sprintf("%s/window-%d/%d", AlertPaused, n, w.PausedAt.UnixMilli()), Kind: AlertPaused, Severity: sev, Window: n, Clerk: w.Clerk, Since: w.PausedAt,
				Value: m, Threshold: s.PauseMin, Message: fmt.Sprintf("%d号窗口暂停 %.0f 分钟（上限 %.0f）", n, m, s.PauseMin)})
		}
	}
	serials := make([]string, 0, len(l.Cases))
	for k := range l.Cases {
		serials = append(serials, k)
	}
	sort.Strings(serials)
	nowLocal := now.In(loc)
	for _, k := range serials {
		c := l.Cases[k]
		if c.Due == "" || !c.CompletedAt.IsZero() {
			continue
		}
		due, err := time.Parse(DateLayout, c.Due)
		if err != nil {
			continue
		}
		todayCivil := time.Date(nowLocal.Year(), nowLocal.Month(), nowLocal.Day(), 0, 0, 0, 0, time.UTC)
		left := cal.WorkdaysBetween(todayCivil, due)
		switch {
		case todayCivil.After(due):
			out = append(out, Alert{ID: AlertOverdue + "/" + c.Serial, Kind: AlertOverdue, Severity: "critical", Item: c.Item, Window: c.Window, Serial: c.Serial,
				Ticket: c.Ticket, Value: float64(left), Threshold: 0, Message: fmt.Sprintf("%s 已超期（承诺 %s）", c.Serial, c.Due)})
		case left <= s.DueSoonDays:
			out = append(out, Alert{ID: AlertDueSoon + "/" + c.Serial, Kind: AlertDueSoon, Severity: "warning", Item: c.Item, Window: c.Window, Serial: c.Serial,
				Ticket: c.Ticket, Value: float64(left), Threshold: float64(s.DueSoonDays),
				Message: fmt.Sprintf("%s 将于 %s 到期，剩 %d 个工作日", c.Serial, c.Due, left)})
		}
	}
	out = append(out, noShowAlerts(l, s, today)...)
	return out
}

func sortedWindows(l *Ledger) []int {
	ns := make([]int, 0, len(l.Windows))
	for n := range l.Windows {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	return ns
}

// noShowAlerts compares each clerk's no-show marks today with the calls
// that clerk made today, against the rest of the hall. A no-show counts
// for the clerk who marked it (LedgerTicket.NoShowBy), not for whoever
// called the requeued ticket last.
func noShowAlerts(l *Ledger, s Supervision, today string) []Alert {
	type tally struct{ called, noShow int }
	per := map[string]*tally{}
	var all tally
	of := func(c string) *tally {
		if per[c] == nil {
			per[c] = &tally{}
		}
		return per[c]
	}
	for _, id := range l.Order {
		t := l.Tickets[id]
		if t.Day != today || t.Window == 0 {
			continue
		}
		if len(t.CalledBy) == 0 && t.Calls > 0 {
			// Restored from a snapshot older than the per-call names:
			// the ticket under its last caller.
			c := t.ClerkName()
			of(c).called++
			all.called++
			if t.State == TicketNoShow {
				of(c).noShow++
				all.noShow++
			}
			continue
		}
		for _, c := range t.CalledBy {
			of(c).called++
			all.called++
		}
		for _, c := range t.NoShowBy {
			of(c).noShow++
			all.noShow++
		}
	}
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Alert
	for _, n := range names {
		p := per[n]
		if p.called < s.NoShowMinCalls || p.called == 0 {
			continue
		}
		rate := float64(p.noShow) / float64(p.called)
		if rate < s.NoShowRate {
			continue
		}
		if others := all.called - p.called; others > 0 {
			orate := float64(all.noShow-p.noShow) / float64(others)
			if rate < s.NoShowFactor*orate {
				continue
			}
		}
		out = append(out, Alert{ID: AlertNoShowRate + "/" + today + "/" + n, Kind: AlertNoShowRate, Severity: "warning", Clerk: n,
			Value: rate, Threshold: s.NoShowRate,
			Message: fmt.Sprintf("%s 今日过号率 %.0f%%（%d/%d）", n, rate*100, p.noShow, p.called)})
	}
	return out
}

// FollowUp is a low rating (level ≤ 2) to follow up (好差评整改), with its
// workflow (followflow.go).
type FollowUp struct {
	Ticket   int64     `json:"ticket"`
	Number   string    `json:"number"`
	Item     string    `json:"item"`
	Window   int       `json:"window"`
	Clerk    string    `json:"clerk"`
	Serial   string    `json:"serial,omitempty"`
	Level    int       `json:"level"`
	RatedAt  time.Time `json:"rated_at"`
	Deadline string    `json:"deadline"` // YYYY-MM-DD: follow_up_days (or the steps' sum) working days after the rating
	Overdue  bool      `json:"overdue"`  // the whole deadline or the current step's passed
	Closed   bool      `json:"closed"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
	Note     string    `json:"note,omitempty"`
	// Channel, Reasons and Comment are the rating's (the comment is the
	// phone page's free text, for the manager only); Named says an ID
	// was read (实名: the ticket was taken with an ID card).
	Channel string   `json:"channel,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
	Comment string   `json:"comment,omitempty"`
	Named   bool     `json:"named"`
	// State is the workflow state (pending, verified, rectifying,
	// feedback, closed, appealed, appeal_accepted); Next the actions
	// possible now; StepDeadline the current step's deadline (none while
	// appealed or ended) and StepOverdue whether it passed.
	State        string         `json:"state"`
	Next         []string       `json:"next"`
	StepDeadline string         `json:"step_deadline,omitempty"`
	StepOverdue  bool           `json:"step_overdue"`
	Log          []FollowUpStep `json:"log"`
}

// FollowUpLevel is the highest rating that needs a follow-up.
const FollowUpLevel = 2

// FollowUps lists the ratings of FollowUpLevel or less, oldest first, with
// their workflow state and deadlines. The whole deadline is days working
// days after the rating (case_system.follow_up_days), or, when days is 0,
// the sum of ratings.steps_days; each step's is its steps_days after the
// step before. Open ones are overdue after a deadline's day; closed ones
// are overdue if they were closed after the whole deadline.
func FollowUps(l *Ledger, cal *Calendar, days int, now time.Time) []FollowUp {
	steps := l.ratingSteps()
	if days <= 0 {
		days = steps.Total()
	}
	loc := l.loc()
	var out []FollowUp
	for _, r := range l.Ratings {
		if r.Level > FollowUpLevel {
			continue
		}
		deadline := cal.AddWorkdays(r.At.In(loc), days)
		f := FollowUp{Ticket: r.Ticket, Number: r.Number, Item: r.Item, Window: r.Window, Clerk: r.Clerk, Serial: r.Serial,
			Level: r.Level, RatedAt: r.At, Deadline: deadline.Format(DateLayout), Channel: r.Channel,
			Reasons: r.Reasons, Comment: r.Comment, Named: r.Person != ""}
		if f.Clerk == "" && f.Window != 0 {
			f.Clerk = "window " + strconv.Itoa(f.Window)
		}
		var closed *FollowUpClosed
		end := now
		if c, ok := l.Closed[r.Ticket]; ok {
			f.Closed, f.ClosedAt, f.Note = true, c.At, c.Note
			end = c.At
			closed = &c
		}
		fl := foldFlow(r.At, l.Steps[r.Ticket], closed)
		f.State, f.Log, f.Next = fl.state, fl.log, nextActions(fl.state, fl.appealedBefore)
		if f.Log == nil {
			f.Log = []FollowUpStep{}
		}
		if f.Next == nil {
			f.Next = []string{}
		}
		if fl.state == FollowUpAppealAccepted {
			end = fl.since // ended: no longer overdue after it
		}
		endDay := dayOf(end, loc)
		f.Overdue = endDay.After(deadline)
		if d := stepDays(fl.state, steps); d > 0 {
			sd := cal.AddWorkdays(fl.since.In(loc), d)
			f.StepDeadline = sd.Format(DateLayout)
			f.StepOverdue = dayOf(now, loc).After(sd)
			f.Overdue = f.Overdue || f.StepOverdue
		}
		out = append(out, f)
	}
	return out
}

// Monitor keeps a live Ledger for the controller: feed it every committed
// record (and the whole log at start) with Apply; it answers alerts and
// follow-ups, and is a prometheus.Collector of the supervision gauges.
// Safe for concurrent use.
type Monitor struct {
	mu    sync.Mutex
	l     *Ledger
	cfg   Config
	cal   *Calendar
	now   func() time.Time
	descs struct{ alerts, followups, wait, paused *prometheus.Desc }
}

// NewMonitor makes a monitor; now is the controller's clock.
func NewMonitor(l *Ledger, cfg Config, cal *Calendar, now func() time.Time) *Monitor {
	m := &Monitor{l: l, cfg: cfg.WithDefaults(), cal: cal, now: now}
	m.descs.alerts = prometheus.NewDesc("servicehall_supervision_alerts", "Open electronic supervision alerts by kind and severity.", []string{"kind", "severity"}, nil)
	m.descs.followups = prometheus.NewDesc("servicehall_rating_followups", "Low-rating follow-ups by state (open, overdue, closed).", []string{"state"}, nil)
	m.descs.wait = prometheus.NewDesc("servicehall_supervision_longest_wait_seconds", "Longest current wait of a waiting ticket, per item.", []string{"item"}, nil)
	m.descs.paused = prometheus.NewDesc("servicehall_supervision_window_paused_seconds", "How long each paused window has been paused.", []string{"window"}, nil)
	return m
}

// Apply folds a committed record in.
func (m *Monitor) Apply(r store.Record) {
	m.mu.Lock()
	m.l.Apply(r)
	m.mu.Unlock()
}

// View runs f on the live ledger under the monitor's lock (reports on
// the live day); f must not keep the ledger.
func (m *Monitor) View(f func(l *Ledger)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m.l)
}

// Alerts are the supervision alerts now.
func (m *Monitor) Alerts() []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Alerts(m.l, m.cfg.Supervision, m.cal, m.now())
}

// FollowUps is the low-rating follow-up list now.
func (m *Monitor) FollowUps() []FollowUp {
	m.mu.Lock()
	defer m.mu.Unlock()
	return FollowUps(m.l, m.cal, m.cfg.FollowUpDays, m.now())
}

// Describe implements prometheus.Collector.
func (m *Monitor) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.descs.alerts
	ch <- m.descs.followups
	ch <- m.descs.wait
	ch <- m.descs.paused
}

// Collect implements prometheus.Collector.
func (m *Monitor) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	now := m.now()
	alerts := Alerts(m.l, m.cfg.Supervision, m.cal, now)
	fus := FollowUps(m.l, m.cal, m.cfg.FollowUpDays, now)
	longest := map[string]float64{}
	today := now.In(m.l.loc()).Format(DateLayout)
	for _, id := range m.l.Order {
		t := m.l.Tickets[id]
		if t.InLine() && t.Day == today {
			longest[t.Final] = max(longest[t.Final], now.Sub(t.IssuedAt).Seconds())
		}
	}
	paused := map[int]float64{}
	for n, w := range m.l.Windows {
		if w.Paused {
			paused[n] = now.Sub(w.PausedAt).Seconds()
		}
	}
	m.mu.Unlock()

	counts := map[[2]string]int{}
	for _, k := range []string{AlertLongWait, AlertPaused, AlertDueSoon, AlertOverdue, AlertNoShowRate} {
		counts[[2]string{k, "warning"}] += 0
		counts[[2]string{k, "critical"}] += 0
	}
	for _, a := range alerts {
		counts[[2]string{a.Kind, a.Severity}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(m.descs.alerts, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	var open, overdue, closed int
	for _, f := range fus {
		switch {
		case f.Closed || f.State == FollowUpAppealAccepted:
			closed++
		case f.Overdue:
			overdue++
		default:
			open++
		}
	}
	ch <- prometheus.MustNewConstMetric(m.descs.followups, prometheus.GaugeValue, float64(open), "open")
	ch <- prometheus.MustNewConstMetric(m.descs.followups, prometheus.GaugeValue, float64(overdue), "overdue")
	ch <- prometheus.MustNewConstMetric(m.descs.followups, prometheus.GaugeValue, float64(closed), "closed")
	for it, s := range longest {
		ch <- prometheus.MustNewConstMetric(m.descs.wait, prometheus.GaugeValue, s, it)
	}
	for n, s := range paused {
		ch <- prometheus.MustNewConstMetric(m.descs.paused, prometheus.GaugeValue, s, strconv.Itoa(n))
	}
}

var _ prometheus.Collector = (*Monitor)(nil)
