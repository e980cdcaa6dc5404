package casesys

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/servicehall/servicehall/hallctl/store"
)

func qrec(seq int64, typ string, at time.Time, f map[string]any) store.Record {
	m := map[string]any{"type": typ, "at": at}
	for k, v := range f {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return store.Record{Seq: seq, Stream: QueueStream, Type: typ, At: at, Data: b}
}

func TestAlertsAndFollowUps(t *testing.T) {
	hall := testHall(t)
	cal, _ := NewCalendar(holidays)
	l := NewLedger(hall)
	t0 := time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC) // Fri 09:00 local
	var seq int64
	add := func(r store.Record) { seq++; r.Seq = seq; l.Apply(r) }
	add(ClerkRecord(1, "张*", t0))
	// Window 1 (clerk 张*): 10 calls, 4 no-shows. Window 2 (no clerk): 10 calls, 1 no-show.
	for i := 1; i <= 20; i++ {
		w := 1 + (i-1)/10
		at := t0.Add(time.Duration(i) * time.Minute)
		add(qrec(0, "issued", at, map[string]any{"ticket": i, "number": "A", "item": "TAX-01", "day": "2026-11-20"}))
		add(qrec(0, "called", at.Add(time.Minute), map[string]any{"ticket": i, "window": w}))
		if (w == 1 && i <= 4) || (w == 2 && i == 11) {
			add(qrec(0, "no_show", at.Add(2*time.Minute), map[string]any{"ticket": i, "window": w, "void": true}))
		} else {
			add(qrec(0, "finished", at.Add(5*time.Minute), map[string]any{"ticket": i, "window": w}))
		}
	}
	// A ticket waiting since 09:30; window 2 paused at 09:40.
	add(qrec(0, "issued", t0.Add(30*time.Minute), map[string]any{"ticket": 50, "number": "B050", "item": "HR-001", "day": "2026-11-20"}))
	add(qrec(0, "window_paused", t0.Add(40*time.Minute), map[string]any{"window": 2}))
	// Promised cases: one due today (open), one overdue, one completed.
	for i, due := range []string{"2026-11-20", "2026-11-18", "2026-11-19"} {
		c := Case{Serial: "000000HR-00120261110" + []string{"000001", "000002", "000003"}[i], Ticket: int64(100 + i), Item: "HR-001", Due: due, Kind: "promised"}
		add(store.Record{Stream: CaseStream, Type: "accepted", Data: mustJSON(c)})
	}
	add(store.Record{Stream: CaseStream, Type: "status", Data: mustJSON(StatusChange{Serial: "000000HR-00120261110000003", Status: StatusApproved, At: t0})})
	// Ratings: ticket 5 rated 1 (window 1, clerk 张*), ticket 12 rated 2, ticket 13 rated 5.
	for _, r := range []struct {
		ticket int64
		level  int
	}{{5, 1}, {12, 2}, {13, 5}} {
		b, _ := json.Marshal(map[string]any{"ticket": r.ticket, "level": r.level, "window": 1 + (r.ticket-1)/10, "item": "TAX-01", "at": t0.Add(time.Hour)})
		add(store.Record{Stream: RatingStream, Type: "rated", Data: b})
	}
	add(FollowUpRecord(FollowUpClosed{Ticket: 12, Note: "已回访", At: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)}))

	now := t0.Add(70 * time.Minute) // 10:10 local
	alerts := Alerts(l, Supervision{}, cal, now)
	kinds := map[string][]Alert{}
	for _, a := range alerts {
		kinds[a.Kind] = append(kinds[a.Kind], a)
	}
	if a := kinds[AlertLongWait]; len(a) != 1 || a[0].Ticket != 50 || a[0].Value != 40 {
		t.Errorf("long wait: %+v", a)
	}
	if a := kinds[AlertPaused]; len(a) != 1 || a[0].Window != 2 || a[0].Severity != "warning" {
		t.Errorf("paused: %+v", a)
	}
	if a := kinds[AlertOverdue]; len(a) != 1 || !strings.HasSuffix(a[0].Serial, "000002") {
		t.Errorf("overdue: %+v", a)
	}
	if a := kinds[AlertDueSoon]; len(a) != 1 || !strings.HasSuffix(a[0].Serial, "000001") || a[0].Value != 0 {
		t.Errorf("due soon: %+v", a)
	}
	if a := kinds[AlertNoShowRate]; len(a) != 1 || a[0].Clerk != "张*" || a[0].Value != 0.4 {
		t.Errorf("no-show rate: %+v", a)
	}
	// Per-item threshold.
	if a := Alerts(l, Supervision{ItemWaitMin: map[string]float64{"HR-001": 60}}, cal, now); countKind(a, AlertLongWait) != 0 {
		t.Errorf("item threshold ignored: %+v", a)
	}

	// Follow-ups: rated Fri 10:00 local, 3 working days → Wed 2026-11-25.
	fus := FollowUps(l, cal, 3, now)
	if len(fus) != 2 || fus[0].Ticket != 5 || fus[0].Clerk != "张*" || fus[0].Deadline != "2026-11-25" || fus[0].Overdue {
		t.Fatalf("follow-ups: %+v", fus)
	}
	if fus[1].Clerk != "window 2" || !fus[1].Closed || fus[1].Overdue {
		t.Fatalf("closed follow-up: %+v", fus[1])
	}
	later := FollowUps(l, cal, 3, time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC))
	if !later[0].Overdue || later[1].Overdue {
		t.Fatalf("overdue after the deadline: %+v", later)
	}

	// Forgetting earlier days keeps today's figures and open cases.
	l.ForgetBefore("2026-11-20")
	if len(Alerts(l, Supervision{}, cal, now)) != len(alerts) || len(l.Tickets) != 21 {
		t.Fatalf("ForgetBefore today changed the figures")
	}
	m := NewMonitor(l, Config{}, cal, func() time.Time { return now })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			k := mf.GetName()
			for _, lp := range mt.GetLabel() {
				k += "," + lp.GetValue()
			}
			series[k] = mt.GetGauge().GetValue()
		}
	}
	for k, want := range map[string]float64{
		"servicehall_supervision_alerts,no_show_rate,warning": 1,
		"servicehall_supervision_alerts,overdue,critical":     1,
		"servicehall_supervision_alerts,long_wait,critical":   0,
		"servicehall_rating_followups,open":                   1,
		"servicehall_rating_followups,closed":                 1,
		"servicehall_rating_followups,overdue":                0,
		"servicehall_supervision_longest_wait_seconds,HR-001": 2400,
		"servicehall_supervision_window_paused_seconds,2":     1800,
	} {
		if got, ok := series[k]; !ok || got != want {
			t.Errorf("metric %s = %v (present %v), want %v", k, got, ok, want)
		}
	}
}

func countKind(as []Alert, k string) int {
	n := 0
	for _, a := range as {
		if a.Kind == k {
			n++
		}
	}
	return n
}
