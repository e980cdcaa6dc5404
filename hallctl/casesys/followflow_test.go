package casesys

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
)

// flowLog builds the records of rated tickets and follow-up steps.
type flowLog struct {
	recs []store.Record
	n    map[int64]int
}

func (b *flowLog) add(r store.Record) {
	r.Seq = int64(len(b.recs) + 1)
	b.recs = append(b.recs, r)
}

func (b *flowLog) rated(ticket int64, level int, at time.Time, person string) {
	d, _ := json.Marshal(map[string]any{"ticket": ticket, "number": "A00" + string(rune('0'+ticket)), "item": "HR-001",
		"window": 1, "level": level, "at": at.UTC(), "clerk": "clerk-1", "channel": "qr", "reasons": []string{"attitude"},
		"comment": "态度生硬", "person": person})
	b.add(store.Record{Stream: RatingStream, Type: "rated", At: at, Data: d})
}

func (b *flowLog) step(ticket int64, action string, at time.Time) {
	if b.n == nil {
		b.n = map[int64]int{}
	}
	b.add(FollowUpStepRecord(FollowUpStep{Ticket: ticket, Action: action, Note: "n-" + action, By: "mgr", At: at}, b.n[ticket]))
	b.n[ticket]++
}

func (b *flowLog) close(ticket int64, at time.Time) {
	b.add(FollowUpRecord(FollowUpClosed{Ticket: ticket, Note: "已回访", By: "mgr", At: at}))
}

func followUpOf(t *testing.T, l *Ledger, cal *Calendar, now time.Time, ticket int64) FollowUp {
	t.Helper()
	for _, f := range FollowUps(l, cal, 0, now) {
		if f.Ticket == ticket {
			return f
		}
	}
	t.Fatalf("no follow-up of ticket %d", ticket)
	return FollowUp{}
}

// The 差评 follow-up goes pending → verified → rectifying → feedback →
// closed, each step with its deadline from ratings.steps_days (1, 3, 1
// working days by default; the whole deadline is their sum when
// follow_up_days is not set); a step out of order in the log is ignored;
// the clerk's appeal is upheld (back where it was) or accepted
// (appeal_accepted, never overdue after).
func TestFollowUpWorkflow(t *testing.T) {
	hall := testHall(t)
	cal, err := NewCalendar(nil)
	if err != nil {
		t.Fatal(err)
	}
	at := func(day, hm string) time.Time {
		x, _ := time.ParseInLocation("2006-01-02 15:04", day+" "+hm, shanghai)
		return x
	}
	var b flowLog
	b.rated(1, 1, at("2026-11-23", "10:00"), "hash-1") // Monday
	b.rated(2, 2, at("2026-11-23", "11:00"), "")
	b.rated(3, 4, at("2026-11-23", "11:30"), "") // no follow-up
	l := NewLedger(hall)
	apply := func() {
		for _, r := range b.recs {
			if r.Seq > l.LastSeq {
				l.Apply(r)
			}
		}
	}
	apply()
	now := at("2026-11-23", "12:00")
	f := followUpOf(t, l, cal, now, 1)
	if len(FollowUps(l, cal, 0, now)) != 2 {
		t.Fatal("a rating of 4 is a follow-up")
	}
	if f.State != FollowUpPending || f.StepDeadline != "2026-11-24" || f.Deadline != "2026-11-30" || f.Overdue ||
		!reflect.DeepEqual(f.Next, []string{ActVerify, ActClose, ActAppeal}) || !f.Named || f.Channel != "qr" ||
		f.Comment != "态度生硬" || !reflect.DeepEqual(f.Reasons, []string{"attitude"}) {
		t.Fatalf("pending follow-up %+v", f)
	}
	// Past the verify deadline (Tuesday) it is overdue: an alert.
	if f := followUpOf(t, l, cal, at("2026-11-25", "09:00"), 1); !f.StepOverdue || !f.Overdue {
		t.Fatalf("verify step not overdue on Wednesday: %+v", f)
	}
	b.step(1, ActFeedback, at("2026-11-23", "13:00")) // out of order: ignored
	b.step(1, ActVerify, at("2026-11-24", "09:00"))
	apply()
	f = followUpOf(t, l, cal, at("2026-11-24", "10:00"), 1)
	if f.State != FollowUpVerified || f.StepDeadline != "2026-11-27" || f.Overdue || len(f.Log) != 1 ||
		f.Log[0].From != FollowUpPending || f.Log[0].To != FollowUpVerified || f.Log[0].By != "mgr" {
		t.Fatalf("verified %+v", f)
	}
	// The clerk appeals; the manager upholds the rating: back to verified,
	// and no second appeal.
	b.step(1, ActAppeal, at("2026-11-24", "11:00"))
	apply()
	if f = followUpOf(t, l, cal, at("2026-11-24", "11:00"), 1); f.State != FollowUpAppealed || f.StepDeadline != "" ||
		!reflect.DeepEqual(f.Next, []string{ActClose, ActUphold, ActAcceptAppeal}) {
		t.Fatalf("appealed %+v", f)
	}
	b.step(1, ActUphold, at("2026-11-24", "14:00"))
	apply()
	if f = followUpOf(t, l, cal, at("2026-11-24", "14:00"), 1); f.State != FollowUpVerified ||
		!reflect.DeepEqual(f.Next, []string{ActRectify, ActClose}) {
		t.Fatalf("upheld %+v", f)
	}
	b.step(1, ActRectify, at("2026-11-25", "09:00"))
	apply()
	if f = followUpOf(t, l, cal, at("2026-11-25", "09:00"), 1); f.State != FollowUpRectifying || f.StepDeadline != "2026-11-26" {
		t.Fatalf("rectifying %+v", f)
	}
	b.step(1, ActFeedback, at("2026-11-26", "09:00"))
	apply()
	if f = followUpOf(t, l, cal, at("2026-11-26", "09:00"), 1); f.State != FollowUpFeedback || f.StepDeadline != "2026-11-27" {
		t.Fatalf("feedback %+v", f)
	}
	b.close(1, at("2026-11-27", "09:00"))
	apply()
	f = followUpOf(t, l, cal, at("2026-12-10", "09:00"), 1)
	if f.State != FollowUpClosedState || !f.Closed || f.Overdue || len(f.Next) != 0 || len(f.Log) != 6 {
		t.Fatalf("closed %+v", f)
	}
	if got := FollowUpStateOf(l, 1, at("2026-11-23", "10:00")); got != FollowUpClosedState {
		t.Fatalf("state for reports %q", got)
	}

	// Ticket 2: the appeal is accepted; it ends there.
	b.step(2, ActAppeal, at("2026-11-23", "15:00"))
	b.step(2, ActAcceptAppeal, at("2026-11-24", "09:00"))
	apply()
	f = followUpOf(t, l, cal, at("2026-12-10", "09:00"), 2)
	if f.State != FollowUpAppealAccepted || f.Overdue || len(f.Next) != 0 || f.Named {
		t.Fatalf("appeal accepted %+v", f)
	}

	// A snapshot keeps the steps.
	b2, err := l.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	l2, err := RestoreLedger(hall, b2)
	if err != nil {
		t.Fatal(err)
	}
	if f := followUpOf(t, l2, cal, at("2026-12-10", "09:00"), 2); f.State != FollowUpAppealAccepted {
		t.Fatalf("restored %+v", f)
	}
	// follow_up_days, when set, is the whole deadline.
	if f := FollowUps(l, cal, 2, at("2026-11-23", "12:00"))[0]; f.Deadline != "2026-11-25" {
		t.Fatalf("follow_up_days 2: deadline %s", f.Deadline)
	}
}

// rating.given carries the clerk, the channel and the reason codes, and
// never the comment or the applicant's hash.
func TestRatingEventCarriesClerkChannelReasons(t *testing.T) {
	var b flowLog
	b.rated(1, 1, time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC), "hash-1")
	evs, err := newMapper("h").Map(b.recs[0])
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %+v %v", evs, err)
	}
	ev := evs[0]
	if ev.Type != EvRatingGiven || ev.Clerk != "clerk-1" || ev.Channel != "qr" || !reflect.DeepEqual(ev.Reasons, []string{"attitude"}) || ev.Level != 1 {
		t.Fatalf("rating event %+v", ev)
	}
	body, _ := json.Marshal(ev)
	if strings.Contains(string(body), "态度生硬") || strings.Contains(string(body), "hash-1") {
		t.Fatalf("the comment or the person hash left the hall: %s", body)
	}
}
