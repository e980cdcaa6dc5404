package city

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/casesys"
)

// Query chooses a summary.
type Query struct {
	From, To string   // local days YYYY-MM-DD, inclusive
	By       string   // "hall" or "dept"
	Halls    []string // only these halls; nil = every hall
}

// MaxDays bounds a summary's range.
const MaxDays = 366

// ErrBadQuery is wrapped by every refused query parameter.
var ErrBadQuery = errors.New("bad city query")

// ParseQuery reads from, to, by and hall (repeated or comma-separated)
// from URL parameters: from defaults to today, to to from, by to hall.
func ParseQuery(v url.Values, today string) (Query, error) {
	for k := range v {
		switch k {
		case "from", "to", "by", "hall":
		default:
			return Query{}, fmt.Errorf("%w: unknown parameter %q", ErrBadQuery, trunc(k))
		}
	}
	q := Query{From: v.Get("from"), To: v.Get("to"), By: v.Get("by")}
	if q.From == "" || q.From == "today" {
		q.From = today
	}
	if q.To == "" {
		q.To = q.From
	} else if q.To == "today" {
		q.To = today
	}
	from, err := time.Parse(casesys.DateLayout, q.From)
	if err != nil {
		return Query{}, fmt.Errorf("%w: from %q is not YYYY-MM-DD", ErrBadQuery, trunc(q.From))
	}
	to, err := time.Parse(casesys.DateLayout, q.To)
	if err != nil {
		return Query{}, fmt.Errorf("%w: to %q is not YYYY-MM-DD", ErrBadQuery, trunc(q.To))
	}
	// Canonical (time.Parse accepts nothing else, but be sure).
	q.From, q.To = from.Format(casesys.DateLayout), to.Format(casesys.DateLayout)
	if to.Before(from) {
		return Query{}, fmt.Errorf("%w: to is before from", ErrBadQuery)
	}
	if to.Sub(from) >= MaxDays*24*time.Hour {
		return Query{}, fmt.Errorf("%w: at most %d days", ErrBadQuery, MaxDays)
	}
	switch q.By {
	case "":
		q.By = "hall"
	case "hall", "dept":
	default:
		return Query{}, fmt.Errorf("%w: by %q (hall or dept)", ErrBadQuery, trunc(q.By))
	}
	seen := map[string]bool{}
	for _, hs := range v["hall"] {
		for _, h := range strings.Split(hs, ",") {
			h = strings.TrimSpace(h)
			if h == "" {
				continue
			}
			if !auth.ValidSubject(h) {
				return Query{}, fmt.Errorf("%w: hall %q", ErrBadQuery, trunc(h))
			}
			if !seen[h] {
				seen[h] = true
				q.Halls = append(q.Halls, h)
			}
			if len(q.Halls) > auth.MaxHalls {
				return Query{}, fmt.Errorf("%w: more than %d halls", ErrBadQuery, auth.MaxHalls)
			}
		}
	}
	sort.Strings(q.Halls)
	return q, nil
}

// trunc keeps error messages short (parameters come from anyone).
func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// ErrForbidden: the token may not read a hall the query names.
var ErrForbidden = errors.New("this token may not read that hall")

// Limit narrows q to the halls claims c may read: a query for a hall the
// token does not cover is ErrForbidden; a query for every hall becomes
// one for the token's halls (unless it covers all).
func (q Query) Limit(c auth.Claims) (Query, error) {
	if len(q.Halls) > 0 {
		for _, h := range q.Halls {
			if !c.CanRead(h) {
				return q, fmt.Errorf("%w: %s", ErrForbidden, h)
			}
		}
		return q, nil
	}
	if c.CanRead(auth.AllHalls) {
		return q, nil
	}
	q.Halls = append([]string(nil), c.Halls...)
	sort.Strings(q.Halls)
	return q, nil
}

// Row is one line of a summary: a hall, a hall's department, or the
// totals (Total true). Rates and waits are nil when there is nothing to
// take them over.
type Row struct {
	Hall      string   `json:"hall,omitempty"`
	HallName  string   `json:"hall_name,omitempty"`
	Dept      string   `json:"dept,omitempty"`
	DeptName  string   `json:"dept_name,omitempty"`
	Total     bool     `json:"total,omitempty"`
	Tickets   int64    `json:"tickets"`
	Served    int64    `json:"served"`
	NoShows   int64    `json:"no_shows"`
	Called    int64    `json:"called"` // tickets with a wait
	MeanWaitS *float64 `json:"mean_wait_s"`
	P50WaitS  *float64 `json:"p50_wait_s"`
	P90WaitS  *float64 `json:"p90_wait_s"`
	Rated     int64    `json:"rated"`
	Good      int64    `json:"good"`
	Bad       int64    `json:"bad"`
	Rectified int64    `json:"rectified"`
	GoodRate  *float64 `json:"good_rate"`    // 好评率
	BadRate   *float64 `json:"bad_rate"`     // 差评率
	Rectify   *float64 `json:"rectify_rate"` // 差评整改率
	Due       int64    `json:"due"`
	DueOnTime int64    `json:"due_on_time"`
	OnTime    *float64 `json:"due_on_time_rate"` // 按期办结率（到期件）
}

// Summary is the answer to a Query: rows sorted by hall (and
// department), then the totals row.
type Summary struct {
	From  string `json:"from"`
	To    string `json:"to"`
	By    string `json:"by"`
	Rows  []Row  `json:"rows"`
	Total Row    `json:"total"`
}

// summarySQL is the one summary query; %s is the grouping (hall, or
// hall and dept). A ticket counts by its local issue day; a promised
// case by its due day (按期办结率 as the hall report). P90 is
// percentile_disc — the report's nearest rank; P50 is the median by
// percentile_cont.
const summarySQL = `SELECT hall, %[2]s, grouping(hall) = 1,
	count(*) FILTER (WHERE i),
	count(*) FILTER (WHERE i AND served),
	count(*) FILTER (WHERE i AND no_show),
	count(wait_s) FILTER (WHERE i),
	avg(wait_s) FILTER (WHERE i),
	percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_s) FILTER (WHERE i),
	percentile_disc(0.9) WITHIN GROUP (ORDER BY wait_s) FILTER (WHERE i),
	count(*) FILTER (WHERE i AND rated),
	count(*) FILTER (WHERE i AND good),
	count(*) FILTER (WHERE i AND bad),
	count(*) FILTER (WHERE i AND rectified),
	count(*) FILTER (WHERE d),
	count(*) FILTER (WHERE d AND due_on_time)
FROM (SELECT hall, dept, served, no_show, wait_s, rated, good, bad, rectified, due_on_time,
		day BETWEEN $1 AND $2 AS i, due_day BETWEEN $1 AND $2 AS d
	FROM city_tickets
	WHERE (day BETWEEN $1 AND $2 OR due_day BETWEEN $1 AND $2) %[3]s) x
GROUP BY GROUPING SETS ((%[1]s), ())`

// SQL is the statement and arguments Summarize runs for q (docs, EXPLAIN).
func (q Query) SQL() (string, []any) {
	group, dept := "hall", "''"
	if q.By == "dept" {
		group, dept = "hall, dept", "dept"
	}
	args := []any{q.From, q.To}
	where := ""
	if q.Halls != nil {
		where = "AND hall = ANY($3)"
		args = append(args, q.Halls)
	}
	return fmt.Sprintf(summarySQL, group, dept, where), args
}

// SessionSettings are set (SET LOCAL) in the summary's transaction.
const SessionSettings = `SET LOCAL work_mem = '64MB'; SET LOCAL jit = off`

// Names gives halls' and departments' display names.
type Names interface {
	HallName(hall string) string
	DeptName(hall, dept string) string
}

// Summarize runs q over city_tickets.
func Summarize(ctx context.Context, pool *pgxpool.Pool, q Query, names Names) (Summary, error) {
	sql, args := q.SQL()
	// One read-only transaction with room to sort the waits in memory
	// (the percentiles of a 30-day city range are ~500,000 values; the
	// server's default work_mem spills them to disk) and no JIT (it
	// costs more than it saves on these plans).
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return Summary{}, fmt.Errorf("city summary: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, SessionSettings); err != nil {
		return Summary{}, fmt.Errorf("city summary: %w", err)
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return Summary{}, fmt.Errorf("city summary: %w", err)
	}
	defer rows.Close()
	s := Summary{From: q.From, To: q.To, By: q.By, Rows: []Row{}}
	for rows.Next() {
		var r Row
		var hall, dept *string
		if err := rows.Scan(&hall, &dept, &r.Total, &r.Tickets, &r.Served, &r.NoShows, &r.Called, &r.MeanWaitS,
			&r.P50WaitS, &r.P90WaitS, &r.Rated, &r.Good, &r.Bad, &r.Rectified, &r.Due, &r.DueOnTime); err != nil {
			return Summary{}, fmt.Errorf("city summary: %w", err)
		}
		r.GoodRate, r.BadRate = rate(r.Good, r.Rated), rate(r.Bad, r.Rated)
		r.Rectify, r.OnTime = rate(r.Rectified, r.Bad), rate(r.DueOnTime, r.Due)
		if r.Total {
			s.Total = r
			continue
		}
		if hall != nil {
			r.Hall = *hall
		}
		if dept != nil && q.By == "dept" {
			r.Dept = *dept
		}
		if names != nil {
			r.HallName = names.HallName(r.Hall)
			if r.Dept != "" {
				r.DeptName = names.DeptName(r.Hall, r.Dept)
			}
		}
		s.Rows = append(s.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return Summary{}, fmt.Errorf("city summary: %w", err)
	}
	s.Total.Total = true
	sort.Slice(s.Rows, func(i, j int) bool {
		a, b := s.Rows[i], s.Rows[j]
		if a.Hall != b.Hall {
			return a.Hall < b.Hall
		}
		if (a.Dept == "-") != (b.Dept == "-") {
			return b.Dept == "-"
		}
		return a.Dept < b.Dept
	})
	return s, nil
}

func rate(a, b int64) *float64 {
	if b == 0 {
		return nil
	}
	x := float64(a) / float64(b)
	return &x
}
