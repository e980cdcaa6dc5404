// Package history generates a hall's past for benchmarks and tests: days
// of tickets issued, called, served and rated, with their case acceptances
// and completions and the clerks signed in at the windows, written straight
// into an event log through the store API in big batches. The records are
// the ones hallctl itself writes (the queue engine drives every decision),
// so a controller started on the log replays and serves from it.
package history

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// Options shape a generated history.
type Options struct {
	// Config is the hall; its items and windows are used as they are.
	Config *config.Config
	// Served is how many tickets are served in all (required).
	Served int
	// Days is how many calendar days back the history reaches (weekends
	// are closed); default 365. The last day is the day before End.
	Days int
	// End is the day after the history (default: today in the hall's time zone).
	End time.Time
	// Open and Close are the hall's hours each working day; default 9:00–17:00.
	Open, Close time.Duration
	// Rated is the share of served tickets that are rated; default 0.25.
	Rated float64
	// NoShow is the share of calls nobody answers; default 0.03.
	NoShow float64
	// Batch is how many records go in one commit; default 20000.
	Batch int
	// Seed makes the history reproducible.
	Seed uint64
	// Logger reports progress (default: none).
	Logger *slog.Logger
}

// Stats say what was written.
type Stats struct {
	Days, Issued, Served, Rated, Cases int
	Records                            int
	Elapsed                            time.Duration
}

// Generate writes the history into st, which should be empty (ticket ids
// start at 1). It returns when every record is durable.
func Generate(ctx context.Context, st store.Store, o Options) (Stats, error) {
	if o.Config == nil || o.Served <= 0 {
		return Stats{}, errors.New("history: Config and Served are required")
	}
	if last, err := st.LastSeq(ctx, ""); err != nil {
		return Stats{}, err
	} else if last != 0 {
		return Stats{}, fmt.Errorf("history: the event log is not empty (last seq %d)", last)
	}
	o = o.withDefaults()
	g, err := newGen(o, st)
	if err != nil {
		return Stats{}, err
	}
	start := time.Now()
	days := g.workdays()
	if len(days) == 0 {
		return Stats{}, errors.New("history: no working day in range")
	}
	for i, day := range days {
		if g.stats.Served >= o.Served {
			break
		}
		// What is left spread over the days left (a voided no-show is
		// made up for on the next day).
		n := int(math.Ceil(float64(o.Served-g.stats.Served) / float64(len(days)-i)))
		if err := g.day(ctx, day, n); err != nil {
			return g.stats, fmt.Errorf("history: %s: %w", day.Format(time.DateOnly), err)
		}
		if i%20 == 0 {
			o.Logger.Info("history", "day", day.Format(time.DateOnly), "served", g.stats.Served, "records", g.stats.Records)
		}
	}
	if err := g.flush(ctx); err != nil {
		return g.stats, err
	}
	g.stats.Elapsed = time.Since(start)
	return g.stats, nil
}

func (o Options) withDefaults() Options {
	if o.Days <= 0 {
		o.Days = 365
	}
	if o.Open == 0 && o.Close == 0 {
		o.Open, o.Close = 9*time.Hour, 17*time.Hour
	}
	if o.Rated == 0 {
		o.Rated = 0.25
	}
	if o.NoShow == 0 {
		o.NoShow = 0.03
	}
	if o.Batch <= 0 {
		o.Batch = 20000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

type gen struct {
	o     Options
	cfg   *config.Config
	loc   *time.Location
	st    store.Store
	rng   *rand.Rand
	eng   *queue.Engine
	acc   *casesys.Acceptor
	batch store.Batch
	stats Stats
	// promised cases completed on a later day: due day → cases
	later map[string][]casesys.Case
	seen  map[string]bool // days counted
}

func newGen(o Options, st store.Store) (*gen, error) {
	cfg := o.Config
	loc := cfg.Loc
	if loc == nil {
		loc = time.UTC
	}
	eng, err := queue.New(cfg.QueueSpec(), loc, queue.DefaultOpts())
	if err != nil {
		return nil, err
	}
	raw, hs, ps := ctl.CaseConfig(cfg)
	if len(ps) > 0 {
		return nil, &config.Error{Problems: ps}
	}
	cal, err := casesys.NewCalendar(hs)
	if err != nil {
		return nil, err
	}
	acc, err := casesys.NewAcceptor(cfg, raw, cal)
	if err != nil {
		return nil, err
	}
	if o.End.IsZero() {
		o.End = time.Now()
	}
	return &gen{o: o, cfg: cfg, loc: loc, st: st, rng: rand.New(rand.NewPCG(o.Seed, 0x4a11)), eng: eng, acc: acc,
		later: map[string][]casesys.Case{}, seen: map[string]bool{}}, nil
}

// workdays are the Monday–Friday midnights of the range, oldest first.
func (g *gen) workdays() []time.Time {
	e := g.o.End.In(g.loc)
	end := time.Date(e.Year(), e.Month(), e.Day(), 0, 0, 0, 0, g.loc)
	var out []time.Time
	for d := g.o.Days; d >= 1; d-- {
		day := end.AddDate(0, 0, -d)
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday {
			out = append(out, day)
		}
	}
	return out
}

func (g *gen) add(ctx context.Context, recs ...store.Record) error {
	g.batch.Append(recs...)
	g.stats.Records += len(recs)
	if g.batch.Len() >= g.o.Batch {
		return g.flush(ctx)
	}
	return nil
}

func (g *gen) flush(ctx context.Context) error {
	if g.batch.Len() == 0 {
		return nil
	}
	_, err := g.st.Commit(ctx, &g.batch)
	g.batch = store.Batch{}
	return err
}

// logged logs a command's event (under key, "" for none) when it succeeded.
func (g *gen) logged(ctx context.Context, key string) func(queue.Event, error) (queue.Event, error) {
	return func(ev queue.Event, err error) (queue.Event, error) {
		if err != nil {
			return ev, err
		}
		b, err := queue.MarshalEvent(ev)
		if err != nil {
			return ev, err
		}
		return ev, g.add(ctx, store.Record{Stream: ctl.QueueStream, Type: string(ev.Type), Key: key, At: ev.At, Data: b})
	}
}

// day plays one working day: windows open, n tickets issued across the
// hours and served by the windows as they come free.
func (g *gen) day(ctx context.Context, day time.Time, n int) error {
	open, close := day.Add(g.o.Open), day.Add(g.o.Close)
	if err := g.completeDue(ctx, day, open); err != nil {
		return err
	}
	g.stats.Days++
	wins := g.cfg.Windows
	free := make([]time.Time, len(wins))
	for i, w := range wins {
		if _, err := g.logged(ctx, "")(g.eng.OpenWindow(open, w.Number)); err != nil {
			return err
		}
		if err := g.add(ctx, casesys.ClerkRecord(w.Number, "clerk-"+strconv.Itoa(w.Number), open)); err != nil {
			return err
		}
		free[i] = open
	}
	// Arrivals spread over the day, the last ten minutes before close.
	span := close.Add(-10*time.Minute).Sub(open) - time.Second
	arrivals := make([]time.Time, n)
	for i := range arrivals {
		arrivals[i] = open.Add(time.Duration(g.rng.Int64N(int64(span))))
	}
	slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
	// Service takes what the windows have: 85% busy over the hours.
	mean := 0.85 * float64(len(wins)) * close.Sub(open).Seconds() / float64(max(n, 1))
	items := g.cfg.Items
	served, i := 0, 0
	idle := make([]bool, len(wins))
	for served < n {
		w := 0
		for k := range free {
			if !idle[k] && (idle[w] || free[k].Before(free[w])) {
				w = k
			}
		}
		if idle[w] { // no window can take what is left: count what was issued
			break
		}
		if i < n && !arrivals[i].After(free[w]) {
			it := items[g.rng.IntN(len(items))]
			g.stats.Issued++
			key := "gen-" + strconv.Itoa(g.stats.Issued)
			if _, err := g.logged(ctx, key)(g.eng.Issue(arrivals[i], queue.IssueReq{Item: it.Code})); err != nil && !errors.Is(err, queue.ErrNotServed) && !errors.Is(err, queue.ErrClosedToday) {
				return err
			}
			i++
			continue
		}
		t := free[w]
		num := wins[w].Number
		called, err := g.logged(ctx, "")(g.eng.CallNext(t, num))
		if err != nil {
			if i < n {
				free[w] = arrivals[i] // nothing for this window until the next arrival
				continue
			}
			idle[w] = true // the day's arrivals are in; nothing this window serves is left
			continue
		}
		if g.rng.Float64() < g.o.NoShow {
			if _, err := g.logged(ctx, "")(g.eng.NoShow(t.Add(time.Minute), num)); err != nil {
				return err
			}
			free[w] = t.Add(time.Minute + 5*time.Second)
			continue
		}
		start := t.Add(time.Duration(10+g.rng.IntN(30)) * time.Second)
		if _, err := g.logged(ctx, "")(g.eng.Start(start, num)); err != nil {
			return err
		}
		svc := time.Duration(g.rng.ExpFloat64() * mean * float64(time.Second) * 0.8)
		svc += time.Duration(0.2 * mean * float64(time.Second))
		finish := start.Add(svc)
		cas, err := g.accept(ctx, called, num, start)
		if err != nil {
			return err
		}
		if _, err := g.logged(ctx, "")(g.eng.Finish(finish, num)); err != nil {
			return err
		}
		served++
		g.stats.Served++
		if cas.Kind == "promised" && cas.Due != "" {
			g.later[cas.Due] = append(g.later[cas.Due], cas)
		} else if err := g.complete(ctx, cas, finish); err != nil {
			return err
		}
		if g.rng.Float64() < g.o.Rated {
			if err := g.rate(ctx, called, num, finish.Add(15*time.Second)); err != nil {
				return err
			}
		}
		free[w] = finish.Add(time.Duration(3+g.rng.IntN(10)) * time.Second)
	}
	last := close
	for _, f := range free {
		if f.After(last) {
			last = f
		}
	}
	for _, w := range wins {
		if _, err := g.logged(ctx, "")(g.eng.CloseWindow(last, w.Number)); err != nil {
			return err
		}
	}
	return nil
}

// accept opens the case of a ticket whose service starts.
func (g *gen) accept(ctx context.Context, called queue.Event, window int, at time.Time) (casesys.Case, error) {
	t, ok := g.eng.Ticket(called.Ticket)
	if !ok {
		return casesys.Case{}, fmt.Errorf("ticket %d: %w", called.Ticket, queue.ErrUnknownTicket)
	}
	cas, w, err := g.acc.Accept(casesys.Acceptance{Ticket: t.ID, Number: t.Number, Item: t.Item, Window: window,
		Clerk: "clerk-" + strconv.Itoa(window), At: at})
	if err != nil {
		return casesys.Case{}, err
	}
	g.stats.Cases++
	for _, p := range w.Puts {
		g.batch.Put(p.Bucket, p.Key, p.Val)
	}
	return cas, g.add(ctx, w.Records...)
}

// complete records a case's completion (办结) as the case system pushes it.
func (g *gen) complete(ctx context.Context, c casesys.Case, at time.Time) error {
	ch := casesys.StatusChange{Serial: c.Serial, Status: casesys.StatusApproved, At: at.UTC(), By: "case-system"}
	c.Status, c.StatusAt = ch.Status, ch.At
	c.History = append(c.History, ch)
	g.batch.Put(casesys.CasesBucket, c.Serial, wire.Marshal(c))
	return g.add(ctx, store.Record{Stream: casesys.CaseStream, Type: "status", Key: c.Serial + "/" + string(ch.Status), At: ch.At, Data: wire.Marshal(ch)})
}

// completeDue completes the promised cases due by day (at its opening).
func (g *gen) completeDue(ctx context.Context, day, at time.Time) error {
	today := day.Format(casesys.DateLayout)
	var due []string
	for d := range g.later {
		if d <= today {
			due = append(due, d)
		}
	}
	slices.Sort(due)
	for _, d := range due {
		for _, c := range g.later[d] {
			if err := g.complete(ctx, c, at); err != nil {
				return err
			}
		}
		delete(g.later, d)
	}
	return nil
}

// rate records an applicant's rating on the window's pad.
func (g *gen) rate(ctx context.Context, called queue.Event, window int, at time.Time) error {
	t, ok := g.eng.Ticket(called.Ticket)
	if !ok {
		return nil
	}
	level := 5
	switch r := g.rng.IntN(100); {
	case r < 2:
		level = 1
	case r < 4:
		level = 2
	case r < 10:
		level = 3
	case r < 30:
		level = 4
	}
	rt := ctl.Rating{Ticket: t.ID, Number: t.Number, Item: t.Item, Window: window, Level: level, Channel: "pad", At: at}
	g.stats.Rated++
	return g.add(ctx, store.Record{Stream: ctl.RatingStream, Type: "rated", Key: "ticket-" + strconv.FormatInt(t.ID, 10), At: at, Data: wire.Marshal(rt)})
}
