package report

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/store"
)

// ratesDay is a week computed by hand (TestRatesHandComputed): Monday
// 2026-11-23, HR-001 at window 1 (clerk c1) tickets 1–6, TAX-01 at window
// 2 (clerk c2) tickets 7–8.
func ratesDay() []store.Record {
	var b logb
	d := "2026-11-23"
	b.recs = append(b.recs, casesys.ClerkRecord(1, "c1", local(d, "08:50")), casesys.ClerkRecord(2, "c2", local(d, "08:50")))
	rate := func(id int64, level int, person string) {
		data, _ := json.Marshal(map[string]any{"ticket": id, "level": level, "at": local(d, "12:00").UTC(), "channel": "kiosk", "person": person})
		b.recs = append(b.recs, store.Record{Stream: casesys.RatingStream, Type: "rated", At: local(d, "12:00"), Data: data})
	}
	for id := int64(1); id <= 8; id++ {
		item, w := "HR-001", 1
		if id > 6 {
			item, w = "TAX-01", 2
		}
		b.q("issued", local(d, "09:00"), map[string]any{"ticket": id, "number": "X", "item": item, "day": d})
		b.q("called", local(d, "09:10"), map[string]any{"ticket": id, "window": w})
		b.q("started", local(d, "09:10"), map[string]any{"ticket": id, "window": w})
		b.q("finished", local(d, "09:20"), map[string]any{"ticket": id, "window": w})
	}
	// Promised cases: 1 due Wed, done Wed (on time); 2 due Wed, done Thu
	// (late); 3 due Thu, still open (late); 4 due Mon 30th (after the
	// range: not counted).
	b.accept(1, "S1", "2026-11-25", local(d, "09:10"))
	b.accept(2, "S2", "2026-11-25", local(d, "09:10"))
	b.accept(3, "S3", "2026-11-26", local(d, "09:10"))
	b.accept(4, "S4", "2026-11-30", local(d, "09:10"))
	b.status("S1", casesys.StatusApproved, local("2026-11-25", "16:00"))
	b.status("S2", casesys.StatusApproved, local("2026-11-26", "10:00"))
	rate(1, 5, "")
	rate(2, 4, "")
	rate(3, 3, "")
	rate(4, 2, "p4") // named, follow-up closed
	rate(5, 1, "p5") // named, follow-up only verified
	rate(6, 1, "")   // the clerk's appeal accepted
	rate(7, 2, "")   // unnamed, closed
	rate(8, 5, "")
	step := func(id int64, n int, action string) {
		b.recs = append(b.recs, casesys.FollowUpStepRecord(casesys.FollowUpStep{Ticket: id, Action: action, By: "m", At: local("2026-11-24", "10:00")}, n))
	}
	step(4, 0, casesys.ActVerify)
	b.recs = append(b.recs, casesys.FollowUpRecord(casesys.FollowUpClosed{Ticket: 4, By: "m", At: local("2026-11-26", "10:00")}))
	step(5, 0, casesys.ActVerify)
	step(6, 0, casesys.ActAppeal)
	step(6, 1, casesys.ActAcceptAppeal)
	b.recs = append(b.recs, casesys.FollowUpRecord(casesys.FollowUpClosed{Ticket: 7, By: "m", At: local("2026-11-25", "10:00")}))
	for i := range b.recs {
		b.recs[i].Seq = int64(i + 1)
	}
	return b.recs
}

func TestRatesHandComputed(t *testing.T) {
	hall := testHall(t)
	l := ledgerOf(hall, ratesDay())
	if l.Skipped != 0 {
		t.Fatalf("skipped %d", l.Skipped)
	}
	rows, err := Compute(l, hall, Opts{From: "2026-11-23", To: "2026-11-27", Period: "week", By: "item"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	hr, tax := rows[0], rows[1]
	// HR-001: ratings 5 4 3 2 1 1; ticket 6's 1 left out (appeal accepted):
	// 5 rated, 3 good, 2 bad (4 closed, 5 not; both named); levels 15.
	if hr.Ratings != [5]int{2, 1, 1, 1, 1} || hr.Rates != (Rates{Rated: 5, Good: 3, Bad: 2, BadRectified: 1, NamedBad: 2,
		NamedBadRectified: 1, LevelSum: 15, AppealsAccepted: 1, Due: 3, DueOnTime: 1}) {
		t.Fatalf("HR-001 %+v", hr)
	}
	for name, c := range map[string][2]float64{
		"好评率": {hr.GoodRate(), 0.6}, "差评率": {hr.BadRate(), 0.4}, "差评整改率": {hr.RectifyRate(), 0.5},
		"实名差评回访整改率": {hr.NamedRectifyRate(), 0.5}, "按期办结率": {hr.DueOnTimeRate(), 1.0 / 3}, "平均评价": {hr.MeanRating(), 3},
		"提前办结率": {hr.EarlyRate(), 0},
	} {
		if math.Abs(c[0]-c[1]) > 1e-9 {
			t.Errorf("HR-001 %s = %v, want %v", name, c[0], c[1])
		}
	}
	// TAX-01: 2 (closed, not named) and 5.
	if tax.Rates != (Rates{Rated: 2, Good: 1, Bad: 1, BadRectified: 1, LevelSum: 7}) || tax.RectifyRate() != 1 ||
		!math.IsNaN(tax.NamedRectifyRate()) || tax.MeanRating() != 3.5 || !math.IsNaN(tax.DueOnTimeRate()) {
		t.Fatalf("TAX-01 %+v", tax)
	}
	byClerk, err := Compute(l, hall, Opts{From: "2026-11-23", To: "2026-11-27", Period: "week", By: "clerk"})
	if err != nil || len(byClerk) != 2 || byClerk[0].Group != "c1" || byClerk[0].MeanRating() != 3 || byClerk[1].MeanRating() != 3.5 {
		t.Fatalf("by clerk %+v %v", byClerk, err)
	}
	byWin, err := Compute(l, hall, Opts{From: "2026-11-23", To: "2026-11-27", Period: "week", By: "window"})
	if err != nil || len(byWin) != 2 || byWin[0].GoodRate() != 0.6 || byWin[1].BadRate() != 0.5 {
		t.Fatalf("by window %+v %v", byWin, err)
	}
	byDept, err := Compute(l, hall, Opts{From: "2026-11-23", To: "2026-11-27", Period: "week", By: "department"})
	if err != nil || len(byDept) != 2 || byDept[0].Group != "HR" || byDept[0].MeanRating() != 3 {
		t.Fatalf("by department %+v %v", byDept, err)
	}
}
