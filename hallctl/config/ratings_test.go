package config

import (
	"strings"
	"testing"
)

// ratings: defaults to the six 差评 reasons and steps 1, 3, 1; a hall's
// own list replaces them; bad codes, duplicates and negative days are
// problems with their keys.
func TestRatingsSection(t *testing.T) {
	c, err := Parse("hall.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Ratings; len(r.Reasons) != 6 || r.Reasons[1].ZH != "服务态度差" || r.StepsDays != (RatingSteps{1, 3, 1}) || r.StepsDays.Total() != 5 {
		t.Fatalf("defaults %+v", r)
	}
	c, err = Parse("hall.yaml", []byte(good+"ratings: {reasons: [{code: queue, zh: 排队久, en: Long queue}], steps_days: {rectify: 5}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Ratings.Reason("queue"); !ok || len(c.Ratings.Reasons) != 1 || c.Ratings.StepsDays != (RatingSteps{1, 5, 1}) {
		t.Fatalf("own list %+v", c.Ratings)
	}
	_, err = Parse("hall.yaml", []byte(good+"ratings: {reasons: [{code: Bad Code, zh: x}, {code: a, zh: y}, {code: a, zh: z}, {code: b}], steps_days: {verify: -1}}\n"))
	if err == nil {
		t.Fatal("bad ratings accepted")
	}
	for _, key := range []string{"ratings.reasons[0].code", "ratings.reasons[2].code", "ratings.reasons[3].zh", "ratings.steps_days.verify"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no problem for %s in %v", key, err)
		}
	}
}
