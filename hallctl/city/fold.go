package city

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/report"
	"github.com/servicehall/servicehall/hallctl/store"
)

// streams are the log streams casesys.Ledger reads; the folder reads
// nothing else.
var streams = []string{casesys.QueueStream, casesys.ClerkStream, casesys.CaseStream, casesys.RatingStream, casesys.FollowUpStream}

// DefaultBatch is how many records a fold transaction takes at most.
const DefaultBatch = 5000

// ErrRaced: another folder moved a hall's cursor; this one dropped its
// state for the hall and starts it again at the next fold.
var ErrRaced = errors.New("city fold: another folder advanced the hall's cursor")

// Folder keeps city_tickets up to date: for each hall of the database it
// reads the events after the hall's cursor (city_cursors), folds them
// through the hall's casesys.Ledger, and upserts the rows of the tickets
// they touched together with the new cursor, one transaction per batch.
// Rows are derived with the hall report's code (report.TicketRates,
// report.CaseDue, report.DeptOf), so a hall's city figures are its
// `hallctl report` figures. The ledger lives in memory: after a restart
// the folder replays each hall's events up to its cursor without writing
// (the ledger needs them: a rating's follow-up or a case's completion
// comes days after the ticket), then writes only what is new. Not safe
// for concurrent use; two folders on one database are safe (the cursor
// row is locked and checked).
type Folder struct {
	pool  *pgxpool.Pool
	halls map[string]*config.Config // hall configs by id (nil config: UTC, departments "-")
	log   *slog.Logger
	clock clockwork.Clock
	// Batch is the most records per transaction (DefaultBatch when 0).
	Batch int
	// Passed, when set, is told the outcome of each of Run's passes.
	Passed func(FoldStats, error)
	st     map[string]*hallState
}

type hallState struct {
	cfg        *config.Config
	led        *casesys.Ledger
	cursor     int64
	lastRating map[int64]int    // ticket → index of its last rating in led.Ratings
	caseOf     map[int64]string // ticket → serial of its last accepted case
	nRatings   int
}

// NewFolder makes a folder over pool; halls maps hall ids to configs.
func NewFolder(pool *pgxpool.Pool, halls map[string]*config.Config, log *slog.Logger, clock clockwork.Clock) *Folder {
	return &Folder{pool: pool, halls: halls, log: log, clock: clock, st: map[string]*hallState{}}
}

// FoldStats counts what a fold did.
type FoldStats struct {
	Halls   int // halls looked at
	Records int // records folded (and written for)
	Rows    int // ticket rows upserted
}

// FoldAll folds every hall of the database up to its last seq now.
func (f *Folder) FoldAll(ctx context.Context) (FoldStats, error) {
	rows, err := f.pool.Query(ctx, `SELECT hall, last_seq FROM halls ORDER BY hall`)
	if err != nil {
		return FoldStats{}, fmt.Errorf("city fold: list halls: %w", err)
	}
	type hl struct {
		hall string
		last int64
	}
	var hs []hl
	for rows.Next() {
		var h hl
		if err := rows.Scan(&h.hall, &h.last); err != nil {
			rows.Close()
			return FoldStats{}, fmt.Errorf("city fold: list halls: %w", err)
		}
		hs = append(hs, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return FoldStats{}, fmt.Errorf("city fold: list halls: %w", err)
	}
	var st FoldStats
	var errs []error
	for _, h := range hs {
		st.Halls++
		n, r, err := f.foldHall(ctx, h.hall, h.last)
		st.Records += n
		st.Rows += r
		if err != nil {
			errs = append(errs, err)
		}
	}
	return st, errors.Join(errs...)
}

func (f *Folder) batch() int {
	if f.Batch > 0 {
		return f.Batch
	}
	return DefaultBatch
}

// state is hall's in-memory ledger, rebuilt from the log up to the
// stored cursor when the folder has none.
func (f *Folder) state(ctx context.Context, hall string) (*hallState, error) {
	if st := f.st[hall]; st != nil {
		return st, nil
	}
	cfg := f.halls[hall]
	st := &hallState{cfg: cfg, led: casesys.NewLedger(cfg), lastRating: map[int64]int{}, caseOf: map[int64]string{}}
	err := f.pool.QueryRow(ctx, `SELECT last_seq FROM city_cursors WHERE hall = $1`, hall).Scan(&st.cursor)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("city fold %s: read cursor: %w", hall, err)
	}
	for after := int64(0); after < st.cursor; {
		recs, err := f.read(ctx, hall, after, st.cursor)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			st.apply(r)
		}
		if len(recs) < f.batch() {
			break
		}
		after = recs[len(recs)-1].Seq
	}
	f.st[hall] = st
	return st, nil
}

// read returns up to a batch of hall's ledger records with after < seq ≤ upto.
func (f *Folder) read(ctx context.Context, hall string, after, upto int64) ([]store.Record, error) {
	rows, err := f.pool.Query(ctx, `SELECT seq, at, stream, type, key, data FROM events
		WHERE hall = $1 AND seq > $2 AND seq <= $3 AND stream = ANY($4) ORDER BY seq LIMIT $5`,
		hall, after, upto, streams, f.batch())
	if err != nil {
		return nil, fmt.Errorf("city fold %s: read events: %w", hall, err)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		var r store.Record
		var at int64
		if err := rows.Scan(&r.Seq, &at, &r.Stream, &r.Type, &r.Key, &r.Data); err != nil {
			return nil, fmt.Errorf("city fold %s: read events: %w", hall, err)
		}
		r.At = time.Unix(0, at).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("city fold %s: read events: %w", hall, err)
	}
	return out, nil
}

// apply folds r into the ledger and returns the ticket whose row it may
// change (0 for none).
func (st *hallState) apply(r store.Record) int64 {
	st.led.Apply(r)
	var v struct {
		Ticket int64  `json:"ticket"`
		Serial string `json:"serial"`
	}
	if r.Stream == casesys.ClerkStream || json.Unmarshal(r.Data, &v) != nil {
		return 0
	}
	ticket := v.Ticket
	if r.Stream == casesys.CaseStream {
		switch r.Type {
		case "accepted":
			if c := st.led.Cases[v.Serial]; c != nil && v.Ticket != 0 {
				st.caseOf[v.Ticket] = v.Serial
			}
		case "status":
			ticket = 0
			if c := st.led.Cases[v.Serial]; c != nil {
				ticket = c.Ticket
			}
		}
	}
	for ; st.nRatings < len(st.led.Ratings); st.nRatings++ {
		st.lastRating[st.led.Ratings[st.nRatings].Ticket] = st.nRatings
	}
	return ticket
}

// foldHall folds hall's new records up to last; it returns the records
// folded and rows written.
func (f *Folder) foldHall(ctx context.Context, hall string, last int64) (int, int, error) {
	st, err := f.state(ctx, hall)
	if err != nil {
		return 0, 0, err
	}
	nrec, nrows := 0, 0
	for st.cursor < last {
		recs, err := f.read(ctx, hall, st.cursor, last)
		if err != nil {
			delete(f.st, hall)
			return nrec, nrows, err
		}
		next := last
		if len(recs) == f.batch() {
			next = recs[len(recs)-1].Seq
		}
		touched := map[int64]int64{} // ticket → seq of the last record touching it
		for _, r := range recs {
			if id := st.apply(r); id != 0 {
				touched[id] = r.Seq
			}
		}
		rows := st.rows(hall, touched)
		if err := f.write(ctx, hall, st.cursor, next, rows); err != nil {
			delete(f.st, hall) // the ledger is ahead of the database: rebuild it
			return nrec, nrows, err
		}
		st.cursor = next
		nrec += len(recs)
		nrows += rows.n()
	}
	return nrec, nrows, nil
}

// cols are the upsert's column arrays (one element per ticket row).
type cols struct {
	hall                          []string
	ticket, seq                   []int64
	day, dept, item, dueDay       []*string
	issued, called, finished      []*time.Time
	wait                          []*float64
	noShow, served                []bool
	rating                        []int16
	rated, good, bad, rect, dueOK []bool
}

func (c *cols) n() int { return len(c.ticket) }

func ptime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// rows derives the city_tickets rows of the touched tickets.
func (st *hallState) rows(hall string, touched map[int64]int64) *cols {
	c := &cols{}
	loc := time.UTC
	if st.cfg != nil && st.cfg.Loc != nil {
		loc = st.cfg.Loc
	}
	for id, seq := range touched {
		t := st.led.Tickets[id]
		var lc *casesys.LedgerCase
		if s, ok := st.caseOf[id]; ok {
			lc = st.led.Cases[s]
		}
		if t == nil && lc == nil {
			continue // a record about a ticket whose issue is not in the log
		}
		c.hall = append(c.hall, hall)
		c.ticket = append(c.ticket, id)
		c.seq = append(c.seq, seq)
		var due *string
		dueOK := false
		if lc != nil {
			if d, ok2, ok := report.CaseDue(lc, loc); ok {
				s := d.Format(casesys.DateLayout)
				due, dueOK = &s, ok2
			}
		}
		c.dueDay = append(c.dueDay, due)
		c.dueOK = append(c.dueOK, dueOK)
		if t == nil {
			dash := "-"
			c.day, c.dept, c.item = append(c.day, nil), append(c.dept, &dash), append(c.item, nil)
			c.issued, c.called, c.finished = append(c.issued, nil), append(c.called, nil), append(c.finished, nil)
			c.wait = append(c.wait, nil)
			c.noShow, c.served, c.rating = append(c.noShow, false), append(c.served, false), append(c.rating, 0)
			c.rated, c.good, c.bad, c.rect = append(c.rated, false), append(c.good, false), append(c.bad, false), append(c.rect, false)
			continue
		}
		day, dept, item := t.Day, report.DeptOf(t, st.cfg), t.Item
		c.day, c.dept, c.item = append(c.day, &day), append(c.dept, &dept), append(c.item, &item)
		c.issued = append(c.issued, ptime(t.IssuedAt))
		c.called = append(c.called, ptime(t.FirstCalledAt))
		c.finished = append(c.finished, ptime(t.FinishedAt))
		var w *float64
		if s := t.WaitS(); s >= 0 {
			w = &s
		}
		c.wait = append(c.wait, w)
		c.noShow = append(c.noShow, t.State == casesys.TicketNoShow)
		c.served = append(c.served, t.State == casesys.TicketFinished)
		var lr *casesys.LedgerRating
		if i, ok := st.lastRating[id]; ok {
			lr = &st.led.Ratings[i]
		}
		rates := report.TicketRates(st.led, t, lr)
		c.rating = append(c.rating, int16(max(0, min(t.Rating, 5))))
		c.rated = append(c.rated, rates.Rated > 0)
		c.good = append(c.good, rates.Good > 0)
		c.bad = append(c.bad, rates.Bad > 0)
		c.rect = append(c.rect, rates.BadRectified > 0)
	}
	return c
}

const upsertRows = `INSERT INTO city_tickets (hall, ticket, day, dept, item, issued_at, called_at, finished_at, wait_s,
	no_show, served, rating, rated, good, bad, rectified, due_day, due_on_time, seq)
SELECT h, t, d::date, dp, coalesce(it, ''), ia, ca, fa, w, ns, sv, rt, rd, g, b, rc, dd::date, dot, sq
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
	$8::timestamptz[], $9::float8[], $10::bool[], $11::bool[], $12::int2[], $13::bool[], $14::bool[], $15::bool[],
	$16::bool[], $17::text[], $18::bool[], $19::bigint[])
	AS u(h, t, d, dp, it, ia, ca, fa, w, ns, sv, rt, rd, g, b, rc, dd, dot, sq)
ON CONFLICT (hall, ticket) DO UPDATE SET day = excluded.day, dept = excluded.dept, item = excluded.item,
	issued_at = excluded.issued_at, called_at = excluded.called_at, finished_at = excluded.finished_at,
	wait_s = excluded.wait_s, no_show = excluded.no_show, served = excluded.served, rating = excluded.rating,
	rated = excluded.rated, good = excluded.good, bad = excluded.bad, rectified = excluded.rectified,
	due_day = excluded.due_day, due_on_time = excluded.due_on_time, seq = excluded.seq`

// write upserts rows and moves hall's cursor from → to in one
// transaction; ErrRaced when the stored cursor is not from.
func (f *Folder) write(ctx context.Context, hall string, from, to int64, c *cols) error {
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("city fold %s: begin: %w", hall, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO city_cursors(hall) VALUES ($1) ON CONFLICT DO NOTHING`, hall); err != nil {
		return fmt.Errorf("city fold %s: cursor: %w", hall, err)
	}
	var cur int64
	if err := tx.QueryRow(ctx, `SELECT last_seq FROM city_cursors WHERE hall = $1 FOR UPDATE`, hall).Scan(&cur); err != nil {
		return fmt.Errorf("city fold %s: cursor: %w", hall, err)
	}
	if cur != from {
		return fmt.Errorf("%w: %s at %d, this folder at %d", ErrRaced, hall, cur, from)
	}
	if c.n() > 0 {
		if _, err := tx.Exec(ctx, upsertRows, c.hall, c.ticket, c.day, c.dept, c.item, c.issued, c.called, c.finished,
			c.wait, c.noShow, c.served, c.rating, c.rated, c.good, c.bad, c.rect, c.dueDay, c.dueOK, c.seq); err != nil {
			return fmt.Errorf("city fold %s: upsert tickets: %w", hall, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE city_cursors SET last_seq = $2, folded_at = $3 WHERE hall = $1`, hall, to, f.clock.Now()); err != nil {
		return fmt.Errorf("city fold %s: cursor: %w", hall, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("city fold %s: commit: %w", hall, err)
	}
	return nil
}

// Run folds every hall now and then at every tick of every until ctx
// ends; failures are logged and retried at the next tick.
func (f *Folder) Run(ctx context.Context, every time.Duration) {
	t := f.clock.NewTicker(every)
	defer t.Stop()
	for {
		start := f.clock.Now()
		st, err := f.FoldAll(ctx)
		if err != nil && ctx.Err() == nil {
			f.log.Warn("city fold failed; retrying at the next refresh", "err", err)
		} else if st.Records > 0 {
			f.log.Info("city folded", "halls", st.Halls, "records", st.Records, "rows", st.Rows, "took", f.clock.Since(start))
		}
		if f.Passed != nil {
			f.Passed(st, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
	}
}
