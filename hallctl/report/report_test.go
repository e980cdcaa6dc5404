package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/xuri/excelize/v2"
)

func testHall(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("hall.yaml", []byte(`
hall: {id: t, name: 测试大厅, timezone: Asia/Shanghai}
departments: [{code: HR, name: 人社}, {code: TAX, name: 税务}]
items:
  - {code: HR-001, name: 人才引进, dept: HR, prefix: A, kind: promised, promise_days: 3}
  - {code: TAX-01, name: 发票, dept: TAX, prefix: B}
windows:
  - {number: 1, dept: HR, serves: ["HR-001"]}
  - {number: 2, dept: TAX, serves: ["TAX-01"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// local is a time on a local (Asia/Shanghai) day.
func local(day string, hm string) time.Time {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	t, err := time.ParseInLocation("2006-01-02 15:04", day+" "+hm, loc)
	if err != nil {
		panic(err)
	}
	return t
}

type logb struct{ recs []store.Record }

func (b *logb) q(typ string, at time.Time, f map[string]any) {
	m := map[string]any{"type": typ, "at": at.UTC()}
	for k, v := range f {
		m[k] = v
	}
	d, _ := json.Marshal(m)
	b.recs = append(b.recs, store.Record{Stream: casesys.QueueStream, Type: typ, At: at, Data: d})
}

func (b *logb) rate(ticket int64, level int, at time.Time) {
	d, _ := json.Marshal(map[string]any{"ticket": ticket, "level": level, "at": at.UTC()})
	b.recs = append(b.recs, store.Record{Stream: casesys.RatingStream, Type: "rated", At: at, Data: d})
}

func (b *logb) accept(ticket int64, serial, due string, at time.Time) {
	c := casesys.Case{Serial: serial, Ticket: ticket, Item: "HR-001", Due: due, Kind: "promised", AcceptedAt: at, Status: casesys.StatusAccepted}
	d, _ := json.Marshal(c)
	b.recs = append(b.recs, store.Record{Stream: casesys.CaseStream, Type: "accepted", Key: serial, At: at, Data: d})
}

func (b *logb) status(serial string, s casesys.Status, at time.Time) {
	d, _ := json.Marshal(casesys.StatusChange{Serial: serial, Status: s, At: at})
	b.recs = append(b.recs, store.Record{Stream: casesys.CaseStream, Type: "status", At: at, Data: d})
}

// handDay is the small day computed by hand in TestHandComputedDay.
func handDay() []store.Record {
	var b logb
	d := "2026-11-20"
	b.recs = append(b.recs, casesys.ClerkRecord(1, "李*", local(d, "08:55")))
	iss := func(id int64, item, hm, day string) {
		b.q("issued", local(day, hm), map[string]any{"ticket": id, "number": "X", "item": item, "day": day})
	}
	ev := func(typ string, id int64, w int, hm, day string) {
		b.q(typ, local(day, hm), map[string]any{"ticket": id, "window": w})
	}
	iss(1, "HR-001", "09:00", d)
	iss(2, "HR-001", "09:05", d)
	iss(3, "TAX-01", "09:06", d)
	ev("called", 3, 2, "09:08", d)
	ev("started", 3, 2, "09:08", d)
	ev("called", 1, 1, "09:10", d)
	ev("started", 1, 1, "09:11", d)
	b.accept(1, "000000HR-00120261120000001", "2026-11-25", local(d, "09:11"))
	ev("finished", 3, 2, "09:13", d)
	b.rate(3, 2, local(d, "09:14"))
	iss(4, "TAX-01", "09:20", d)
	ev("finished", 1, 1, "09:21", d)
	b.rate(1, 5, local(d, "09:22"))
	ev("called", 2, 1, "09:30", d)
	b.q("no_show", local(d, "09:32"), map[string]any{"ticket": 2, "window": 1, "void": true})
	iss(5, "HR-001", "09:40", d)
	ev("called", 5, 1, "10:00", d)
	ev("started", 5, 1, "10:00", d)
	b.accept(5, "000000HR-00120261120000002", "2026-11-25", local(d, "10:00"))
	ev("finished", 5, 1, "10:20", d)
	// Next day.
	d2 := "2026-11-21"
	iss(6, "TAX-01", "09:00", d2)
	ev("called", 6, 2, "09:01", d2)
	ev("started", 6, 2, "09:01", d2)
	ev("finished", 6, 2, "09:02", d2)
	// Case outcomes: ticket 5's case done early, ticket 1's late.
	b.status("000000HR-00120261120000002", casesys.StatusApproved, local("2026-11-24", "15:00"))
	b.status("000000HR-00120261120000001", casesys.StatusInReview, local("2026-11-24", "15:00"))
	b.status("000000HR-00120261120000001", casesys.StatusRejected, local("2026-11-26", "10:00"))
	for i := range b.recs {
		b.recs[i].Seq = int64(i + 1)
	}
	return b.recs
}

func ledgerOf(hall *config.Config, recs []store.Record) *casesys.Ledger {
	l := casesys.NewLedger(hall)
	for _, r := range recs {
		l.Apply(r)
	}
	return l
}

func TestHandComputedDay(t *testing.T) {
	hall := testHall(t)
	l := ledgerOf(hall, handDay())
	if l.Skipped != 0 {
		t.Fatalf("skipped %d records", l.Skipped)
	}
	rows, err := Compute(l, hall, Opts{From: "2026-11-20", To: "2026-11-21", Period: "day", By: "item"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		// HR-001: tickets 1, 2, 5; waits 600, 1500, 1200 s; service 600, 1200 s;
		// ticket 2 no-show; cases: 5 early, 1 late; one rating of 5.
		{Period: "2026-11-20", Group: "HR-001", GroupName: "人才引进", Tickets: 3, Served: 2, NoShows: 1, Waits: 3,
			MeanWaitS: 1100, P90WaitS: 1500, MeanSvcS: 900, Completed: 2, OnTime: 1, Early: 1, Ratings: [5]int{0, 0, 0, 0, 1},
			Rates: Rates{Rated: 1, Good: 1, LevelSum: 5}},
		// TAX-01: tickets 3, 4 (never called); wait 120 s, service 300 s; rated 2.
		{Period: "2026-11-20", Group: "TAX-01", GroupName: "发票", Tickets: 2, Served: 1, Waits: 1,
			MeanWaitS: 120, P90WaitS: 120, MeanSvcS: 300, Ratings: [5]int{0, 1, 0, 0, 0},
			Rates: Rates{Rated: 1, Bad: 1, LevelSum: 2}},
		{Period: "2026-11-21", Group: "TAX-01", GroupName: "发票", Tickets: 1, Served: 1, Waits: 1,
			MeanWaitS: 60, P90WaitS: 60, MeanSvcS: 60},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows: %+v", rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, rows[i], want[i])
		}
	}
	if r := rows[0]; r.OnTimeRate() != 0.5 || r.EarlyRate() != 0.5 || r.Satisfaction() != 1 {
		t.Errorf("rates %v %v %v", r.OnTimeRate(), r.EarlyRate(), r.Satisfaction())
	}
	if !math.IsNaN(rows[2].OnTimeRate()) {
		t.Error("no completed cases should give no rate")
	}

	byWin, _ := Compute(l, hall, Opts{From: "2026-11-20", To: "2026-11-20", Period: "day", By: "window"})
	got := map[string]int{}
	for _, r := range byWin {
		got[r.Group] = r.Tickets
	}
	if len(byWin) != 3 || got["1"] != 3 || got["2"] != 1 || got["-"] != 1 || byWin[0].Group != "1" {
		t.Errorf("by window: %+v", byWin)
	}
	byClerk, _ := Compute(l, hall, Opts{From: "2026-11-20", To: "2026-11-21", Period: "month", By: "clerk"})
	got = map[string]int{}
	for _, r := range byClerk {
		got[r.Group] = r.Tickets
		if r.Period != "2026-11" {
			t.Errorf("month period %q", r.Period)
		}
	}
	if got["李*"] != 3 || got["window 2"] != 2 || got["-"] != 1 {
		t.Errorf("by clerk: %+v", byClerk)
	}
	byDept, _ := Compute(l, hall, Opts{From: "2026-11-16", To: "2026-11-22", Period: "week", By: "department"})
	if len(byDept) != 2 || byDept[0].Period != "2026-W47" || byDept[0].Group != "HR" || byDept[1].Tickets != 3 || byDept[0].GroupName != "人社" {
		t.Errorf("by department: %+v", byDept)
	}
	for _, o := range []Opts{{From: "x", To: "2026-11-20", Period: "day", By: "item"}, {From: "2026-11-21", To: "2026-11-20", Period: "day", By: "item"},
		{From: "2026-11-20", To: "2026-11-20", Period: "year", By: "item"}, {From: "2026-11-20", To: "2026-11-20", Period: "day", By: "zone"}} {
		if _, err := Compute(l, hall, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}

	// CSV and XLSX carry the same figures.
	var cb bytes.Buffer
	if err := WriteCSV(&cb, rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&cb).ReadAll()
	if err != nil || len(recs) != 4 || strings.Join(recs[1], ",") != "2026-11-20,HR-001,人才引进,3,2,1,1100,1500,900,2,0.5,0.5,0,0,0,0,1,1,1,0,,,0,,5,0" {
		t.Fatalf("csv: %v %v", recs, err)
	}
	if strings.Join(recs[3], ",") != "2026-11-21,TAX-01,发票,1,1,0,60,60,60,0,,,0,0,0,0,0,,,,,,0,,,0" {
		t.Fatalf("csv empty rates: %v", recs[3])
	}
	var xb bytes.Buffer
	if err := WriteXLSX(&xb, rows); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&xb)
	if err != nil {
		t.Fatal(err)
	}
	xrows, err := f.GetRows("report")
	if err != nil || len(xrows) != 4 || strings.Join(xrows[1], ",") != strings.Join(recs[1], ",") || xrows[0][0] != "period" {
		t.Fatalf("xlsx rows: %v %v", xrows, err)
	}
}

func TestP90(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{[]float64{5}, 5}, {[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 9}, {[]float64{10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11}, 10}} {
		if got := P90(c.xs); got != c.want {
			t.Errorf("P90(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
	if !math.IsNaN(P90(nil)) {
		t.Error("P90 of nothing")
	}
}

// TestAgreesWithEngineLog drives the real queue engine through a random
// day, logs its events, and checks the report against counts taken
// directly from the events, ticket by ticket.
func TestAgreesWithEngineLog(t *testing.T) {
	hall := testHall(t)
	eng, err := queue.New(hall.QueueSpec(), hall.Loc, queue.DefaultOpts())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	now := local("2026-11-20", "09:00")
	var recs []store.Record
	log := func(ev queue.Event, err error) {
		if err != nil {
			return
		}
		b, _ := queue.MarshalEvent(ev)
		recs = append(recs, store.Record{Seq: int64(len(recs) + 1), Stream: casesys.QueueStream, Type: string(ev.Type), At: ev.At, Data: b})
	}
	log(eng.OpenWindow(now, 1))
	log(eng.OpenWindow(now, 2))
	for range 1500 {
		now = now.Add(time.Duration(rng.IntN(60)+1) * time.Second)
		w := 1 + rng.IntN(2)
		switch rng.IntN(6) {
		case 0, 1:
			log(eng.Issue(now, queue.IssueReq{Item: []string{"HR-001", "TAX-01"}[rng.IntN(2)]}))
		case 2:
			log(eng.CallNext(now, w))
		case 3:
			log(eng.Start(now, w))
		case 4:
			log(eng.Finish(now, w))
		case 5:
			log(eng.NoShow(now, w))
		}
	}
	// Straight from the events.
	type tk struct {
		issued, called time.Time
		last           queue.EventType
	}
	tks := map[int64]*tk{}
	finished := 0
	for _, r := range recs {
		ev, _ := queue.UnmarshalEvent(r.Data)
		switch ev.Type {
		case queue.EvIssued:
			tks[ev.Ticket] = &tk{issued: ev.At}
		case queue.EvCalled:
			if tks[ev.Ticket].called.IsZero() {
				tks[ev.Ticket].called = ev.At
			}
		case queue.EvFinished:
			finished++
		}
		if ev.Ticket != 0 && ev.Type != queue.EvRecalled {
			tks[ev.Ticket].last = ev.Type
		}
	}
	noShows, waits, sumWait := 0, 0, 0.0
	for _, x := range tks {
		if x.last == queue.EvNoShow {
			noShows++
		}
		if !x.called.IsZero() {
			waits++
			sumWait += x.called.Sub(x.issued).Seconds()
		}
	}
	rows, err := Compute(ledgerOf(hall, recs), hall, Opts{From: "2026-11-20", To: "2026-11-20", Period: "day", By: "window"})
	if err != nil {
		t.Fatal(err)
	}
	var tickets, served, ns, nw int
	var sw float64
	for _, r := range rows {
		tickets += r.Tickets
		served += r.Served
		ns += r.NoShows
		nw += r.Waits
		if r.Waits > 0 {
			sw += r.MeanWaitS * float64(r.Waits)
		}
	}
	if tickets != len(tks) || served != finished || ns != noShows || nw != waits || math.Abs(sw-sumWait) > 1e-6 {
		t.Fatalf("report tickets %d served %d no-shows %d waits %d (sum %.1f); log %d %d %d %d (sum %.1f)",
			tickets, served, ns, nw, sw, len(tks), finished, noShows, waits, sumWait)
	}
	if finished < 50 || noShows < 3 {
		t.Fatalf("the random day is too thin: %d served, %d no-shows", finished, noShows)
	}
	t.Logf("%d tickets, %d served, %d no-shows", len(tks), finished, noShows)
}

// TestReadLogWhileOpen reads the log while a store (the running hallctl)
// holds it open and appends.
func TestReadLogWhileOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hallctl.db")
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	day := handDay()
	for i := range day {
		day[i].Seq = 0
	}
	if _, err := st.Append(ctx, day[:10]...); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := ReadLog(ctx, path, func(store.Record) error { n++; return nil }); err != nil || n != 10 {
		t.Fatalf("read %d %v", n, err)
	}
	if _, err := st.Append(ctx, day[10:]...); err != nil {
		t.Fatal(err)
	}
	hall := testHall(t)
	l := casesys.NewLedger(hall)
	if err := ReadLog(ctx, path, func(r store.Record) error { l.Apply(r); return nil }); err != nil {
		t.Fatal(err)
	}
	rows, _ := Compute(l, hall, Opts{From: "2026-11-20", To: "2026-11-20", Period: "day", By: "item"})
	if len(rows) != 2 || rows[0].Tickets != 3 || rows[0].Completed != 2 {
		t.Fatalf("rows from the open log: %+v", rows)
	}
	if err := ReadLog(ctx, filepath.Join(t.TempDir(), "missing.db"), func(store.Record) error { return nil }); err == nil {
		t.Fatal("missing log accepted")
	}
}
