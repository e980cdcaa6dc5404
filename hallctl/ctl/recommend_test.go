package ctl

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// recommendHall: 人社 (HR) has one open window for slow items, 税务 (TAX)
// two open windows; window 5 is a closed 人社 backup window, window 6 a
// closed second one exactly like it.
const recommendHall = `hall: {id: r, name: 推荐大厅, hours: {open: "08:00", close: "18:00"}}
departments: [{code: HR, name: 人社}, {code: TAX, name: 税务}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 600}
  - {code: HR-002, name: 就业登记, dept: HR, prefix: B, service_s: 600}
  - {code: TAX-001, name: 发票, dept: TAX, prefix: C, service_s: 300}
windows:
  - {number: 1, dept: HR, serves: ["dept:HR"]}
  - {number: 2, dept: TAX, serves: ["dept:TAX"]}
  - {number: 3, dept: TAX, serves: ["dept:TAX"], backup: [HR-001]}
  - {number: 5, dept: HR, serves: ["dept:HR"]}
  - {number: 6, dept: HR, serves: ["dept:HR"]}
`

// recommendController opens the given windows at 08:00 and issues hr 人社
// and tax 税务 tickets evenly over the two hours to 10:00; with serve, the
// open windows finish and call after each ticket (a hall keeping up).
func recommendController(t *testing.T, hall string, open []int, hr, tax int, serve ...bool) *Controller {
	t.Helper()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c, clock, _ := newTestController(t, hall, time.Date(2026, 11, 23, 8, 0, 0, 0, sh))
	ctx := context.Background()
	for _, w := range open {
		if _, err := c.Manage(ctx, ManagerAction{Type: "open", Window: w}); err != nil {
			t.Fatal(err)
		}
	}
	n := hr + tax
	step := 2 * time.Hour / time.Duration(n)
	for i := range n {
		clock.Advance(step)
		item := "TAX-001"
		if i*tax/n == (i+1)*tax/n { // spread the tax tickets among the hr ones
			item = []string{"HR-001", "HR-002"}[i%2]
		}
		if _, err := c.Issue(ctx, IssueRequest{Item: item}, "", ""); err != nil {
			t.Fatal(err)
		}
		for _, w := range open {
			if len(serve) > 0 && serve[0] {
				_, _ = c.Act(ctx, ActRequest{Window: w, Action: "finish"})
				_, _ = c.Act(ctx, ActRequest{Window: w, Action: "call-next"})
			}
		}
	}
	return c
}

// One department overloaded and an idle backup window that serves it:
// opening that window ranks first, every recommendation improves the
// department without making the hall worse, and the answer agrees with
// the what-if preview of the same actions.
func TestRecommendOpensBackupWindow(t *testing.T) {
	c := recommendController(t, recommendHall, []int{1, 2, 3}, 24, 6)
	ctx := context.Background()
	live := c.Snapshot()
	r, err := c.Recommend(ctx, RecommendRequest{Budget: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Recommendations) == 0 {
		t.Fatalf("no recommendation for an overloaded 人社: %+v", r)
	}
	first := r.Recommendations[0]
	t.Logf("candidates %d evaluated %d simulations %d", r.Candidates, r.Evaluated, r.Simulations)
	for _, rec := range r.Recommendations {
		t.Logf("%d %s (%s) %v: %.1f → %.1f min, hall %.1f → %.1f, %d waiting %v", rec.Rank, rec.Title, rec.TitleEN, rec.Actions,
			rec.P90BeforeMin, rec.P90AfterMin, rec.HallP90BeforeMin, rec.HallP90AfterMin, rec.WaitingAffected, rec.WaitingNumbers)
	}
	if first.Title != "开启 5 号窗口办理人社业务" || first.Kind != "open" || first.Dept != "HR" || first.DeptName != "人社" ||
		!reflect.DeepEqual(first.Actions, []ManagerAction{{Type: "open", Window: 5}}) {
		t.Errorf("first recommendation %+v, want opening window 5 for 人社", first)
	}
	if first.P90AfterMin >= first.P90BeforeMin-1 || first.WaitingAffected == 0 || len(first.WaitingNumbers) == 0 ||
		!strings.HasPrefix(first.WaitingNumbers[0], "A") && !strings.HasPrefix(first.WaitingNumbers[0], "B") {
		t.Errorf("first recommendation's effect %+v", first)
	}
	if r.HorizonMin != 120 || !r.Complete || r.Candidates > MaxRecommendCandidates || r.Simulations != 3*(1+r.Evaluated) {
		t.Errorf("search size %+v", r)
	}
	for i, rec := range r.Recommendations {
		if rec.Rank != i+1 || rec.P90AfterMin >= rec.P90BeforeMin || rec.HallP90AfterMin > rec.HallP90BeforeMin {
			t.Errorf("recommendation %d does not improve: %+v", i+1, rec)
		}
		pr, err := c.Preview(ctx, PreviewRequest{Actions: rec.Actions, HorizonS: 7200, Replications: 3, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(pr.Before.WaitP90/60-rec.HallP90BeforeMin) > 0.1 || math.Abs(pr.After.WaitP90/60-rec.HallP90AfterMin) > 0.1 {
			t.Errorf("%s: preview says hall P90 %.1f → %.1f min, the recommendation %.1f → %.1f", rec.Title,
				pr.Before.WaitP90/60, pr.After.WaitP90/60, rec.HallP90BeforeMin, rec.HallP90AfterMin)
		}
	}
	if after := c.Snapshot(); !reflect.DeepEqual(live.Windows, after.Windows) || !reflect.DeepEqual(live.Waiting, after.Waiting) {
		t.Error("the search changed the live hall")
	}
}

// Windows 5 and 6 are the same: the tie goes to the lower number, and the
// same state gives the same answer.
func TestRecommendTiesDeterministic(t *testing.T) {
	c := recommendController(t, recommendHall, []int{1, 2, 3}, 24, 6)
	ctx := context.Background()
	a, err := c.Recommend(ctx, RecommendRequest{Budget: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Recommendations) < 2 || a.Recommendations[0].Window != 5 || a.Recommendations[1].Window != 6 ||
		a.Recommendations[0].P90AfterMin != a.Recommendations[1].P90AfterMin {
		t.Fatalf("windows 5 and 6 do not tie in that order: %+v", a.Recommendations)
	}
	for range 2 {
		b, err := c.Recommend(ctx, RecommendRequest{Budget: 10 * time.Second})
		if err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("another answer for the same state (%v):\n%+v\n%+v", err, a, b)
		}
	}
}

// Both departments busy and no closed window: taking 税务's clerk would
// make 税务 worse, so it is never recommended; a quiet hall gets no
// recommendation at all.
func TestRecommendNeverWorse(t *testing.T) {
	const busy = `hall: {id: r, name: 推荐大厅, hours: {open: "08:00", close: "18:00"}}
departments: [{code: HR, name: 人社}, {code: TAX, name: 税务}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 600}
  - {code: HR-002, name: 就业登记, dept: HR, prefix: B, service_s: 600}
  - {code: TAX-001, name: 发票, dept: TAX, prefix: C, service_s: 600}
windows:
  - {number: 1, dept: HR, serves: ["dept:HR"]}
  - {number: 2, dept: TAX, serves: ["dept:TAX"]}
`
	c := recommendController(t, busy, []int{1, 2}, 16, 14)
	ctx := context.Background()
	r, err := c.Recommend(ctx, RecommendRequest{Budget: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Candidates == 0 || r.Evaluated != r.Candidates {
		t.Errorf("nothing searched: %+v", r)
	}
	for _, rec := range r.Recommendations {
		t.Errorf("recommended although it makes a department worse: %+v", rec)
	}

	quiet := recommendController(t, recommendHall, []int{1, 2, 3, 5}, 4, 2, true)
	r, err = quiet.Recommend(ctx, RecommendRequest{Budget: 10 * time.Second})
	if err != nil || len(r.Recommendations) != 0 || r.Candidates != 0 {
		t.Errorf("a quiet hall: %v %+v", err, r)
	}
}

// The search is bounded: a cancelled context ends it with an error
// naming the cause, and the horizon and replications are capped.
func TestRecommendBounds(t *testing.T) {
	c := recommendController(t, recommendHall, []int{1, 2, 3}, 24, 6)
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Recommend(cctx, RecommendRequest{}); !errors.Is(err, ErrPreview) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := c.Recommend(context.Background(), RecommendRequest{Budget: time.Nanosecond}); !errors.Is(err, ErrPreview) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a budget spent before the baseline: %v", err)
	}
	r, err := c.Recommend(context.Background(), RecommendRequest{HorizonS: 1e9, Replications: 99, Budget: 10 * time.Second})
	if err != nil || r.HorizonMin != 240 || r.Simulations != 5*(1+r.Evaluated) {
		t.Errorf("caps: %v %+v", err, r)
	}
}
