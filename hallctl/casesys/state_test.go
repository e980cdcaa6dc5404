package casesys

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
)

// A ledger saved and restored is the same ledger: saving it again gives the
// same bytes, alerts and follow-ups are equal, and records applied after
// the restore fold in as they would have.
func TestLedgerStateRoundTrip(t *testing.T) {
	hall := testHall(t)
	cal, _ := NewCalendar(holidays)
	l := NewLedger(hall)
	var seq int64
	add := func(l *Ledger, r store.Record) {
		if r.Seq == 0 {
			seq++
			r.Seq = seq
		}
		l.Apply(r)
	}
	t0 := time.Date(2026, 11, 19, 1, 0, 0, 0, time.UTC) // Thu 09:00 local
	var tail []store.Record
	for d := 0; d < 2; d++ {
		day := t0.AddDate(0, 0, d)
		for i := 1; i <= 5; i++ {
			id := int64(d*10 + i)
			at := day.Add(time.Duration(i) * time.Minute)
			recs := []store.Record{
				qrec(0, "issued", at, map[string]any{"ticket": id, "number": "A", "item": "HR-001", "day": day.In(hall.Loc).Format(DateLayout)}),
				qrec(0, "called", at.Add(time.Minute), map[string]any{"ticket": id, "window": 1}),
			}
			if i != 5 {
				recs = append(recs, qrec(0, "finished", at.Add(3*time.Minute), map[string]any{"ticket": id, "window": 1}))
			}
			c := Case{Serial: "000000HR-0012026111" + string(rune('0'+d)) + "00000" + string(rune('0'+i)), Ticket: id, Item: "HR-001", Kind: "promised", Due: "2026-11-25", AcceptedAt: at}
			recs = append(recs, store.Record{Stream: CaseStream, Type: "accepted", At: at, Data: mustJSON(c)})
			if i%2 == 0 {
				recs = append(recs, store.Record{Stream: CaseStream, Type: "status", At: at, Data: mustJSON(StatusChange{Serial: c.Serial, Status: StatusApproved, At: at.Add(time.Hour)})})
			}
			b, _ := json.Marshal(map[string]any{"ticket": id, "level": i, "window": 1, "item": "HR-001", "at": at.Add(4 * time.Minute)})
			recs = append(recs, store.Record{Stream: RatingStream, Type: "rated", Data: b})
			if d == 0 {
				for _, r := range recs {
					add(l, r)
				}
			} else {
				tail = append(tail, recs...)
			}
		}
	}
	add(l, FollowUpRecord(FollowUpClosed{Ticket: 1, Note: "已回访", At: t0.Add(2 * time.Hour)}))
	saved, err := l.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	r, err := RestoreLedger(hall, saved)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := r.MarshalState()
	if !bytes.Equal(saved, again) {
		t.Fatalf("restore → save differs:\n%s\n%s", saved, again)
	}
	for _, rec := range tail {
		seq++
		rec.Seq = seq
		l.Apply(rec)
		r.Apply(rec)
	}
	now := t0.AddDate(0, 0, 1).Add(2 * time.Hour)
	eq := func(what string, a, b any) {
		t.Helper()
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s differ:\n%s\n%s", what, ja, jb)
		}
	}
	eq("alerts", Alerts(l, Supervision{}, cal, now), Alerts(r, Supervision{}, cal, now))
	eq("follow-ups", FollowUps(l, cal, 0, now), FollowUps(r, cal, 0, now))
	a, _ := l.MarshalState()
	b, _ := r.MarshalState()
	if !bytes.Equal(a, b) {
		t.Errorf("after the tail: states differ")
	}

	// Compact to the second day: the first day's tickets and completed
	// cases go; open cases, its low ratings and their follow-up stay.
	r.Compact("2026-11-20", "2026-09-01")
	for id := range r.Tickets {
		if id < 10 {
			t.Errorf("ticket %d of the first day kept", id)
		}
	}
	open, done := 0, 0
	for _, c := range r.Cases {
		if c.CompletedAt.IsZero() {
			open++
		} else if c.AcceptedAt.Before(t0.AddDate(0, 0, 1)) {
			done++
		}
	}
	if open != 6 || done != 0 {
		t.Errorf("cases after compaction: %d open (want 6), %d completed of the first day (want 0)", open, done)
	}
	fus := FollowUps(r, cal, 0, now)
	if len(fus) != 4 || fus[0].Ticket != 1 || !fus[0].Closed {
		t.Errorf("follow-ups after compaction: %+v", fus)
	}
	if _, err := RestoreLedger(hall, []byte(`{"v":99}`)); err == nil {
		t.Error("a state of another version restored")
	}
}
