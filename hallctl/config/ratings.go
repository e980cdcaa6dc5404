package config

import (
	"fmt"
	"regexp"
)

// Ratings tune 好差评 (issue 14): the reasons offered for a 差评 (ratings
// 1 and 2) and the working-day deadlines of the follow-up's steps
// (核实 → 整改 → 反馈). The zero value is the default: the reasons of
// DefaultRatingReasons and steps of 1, 3 and 1 working days.
type Ratings struct {
	// Reasons are offered as buttons for ratings 1–2 on the kiosk and the
	// phone ticket page; a rating names them by code.
	Reasons []RatingReason `yaml:"reasons,omitempty"`
	// StepsDays are each follow-up step's deadline in working days after
	// the step before it (the rating for verify).
	StepsDays RatingSteps `yaml:"steps_days,omitempty"`
}

// RatingReason is one 差评 reason.
type RatingReason struct {
	Code string `yaml:"code"` // [a-z0-9_], stored and sent to the case system
	ZH   string `yaml:"zh"`
	EN   string `yaml:"en"`
}

// RatingSteps are the follow-up steps' deadlines in working days.
type RatingSteps struct {
	Verify   int `yaml:"verify,omitempty"`   // 核实; default 1
	Rectify  int `yaml:"rectify,omitempty"`  // 整改; default 3
	Feedback int `yaml:"feedback,omitempty"` // 反馈; default 1
}

// Total is the whole follow-up's deadline in working days.
func (s RatingSteps) Total() int { return s.Verify + s.Rectify + s.Feedback }

// DefaultRatingReasons is ratings.reasons' default.
var DefaultRatingReasons = []RatingReason{
	{Code: "long_wait", ZH: "等候时间长", EN: "Waited too long"},
	{Code: "attitude", ZH: "服务态度差", EN: "Poor attitude"},
	{Code: "slow", ZH: "办事效率低", EN: "Slow service"},
	{Code: "not_told_once", ZH: "一次性告知不到位", EN: "Not told everything at once"},
	{Code: "unclear_materials", ZH: "材料要求不清", EN: "Unclear material requirements"},
	{Code: "other", ZH: "其他", EN: "Other"},
}

// DefaultRatingSteps are ratings.steps_days' defaults.
var DefaultRatingSteps = RatingSteps{Verify: 1, Rectify: 3, Feedback: 1}

var reasonCode = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

func (r *Ratings) applyDefaults() {
	if len(r.Reasons) == 0 {
		r.Reasons = append([]RatingReason(nil), DefaultRatingReasons...)
	}
	if r.StepsDays.Verify == 0 {
		r.StepsDays.Verify = DefaultRatingSteps.Verify
	}
	if r.StepsDays.Rectify == 0 {
		r.StepsDays.Rectify = DefaultRatingSteps.Rectify
	}
	if r.StepsDays.Feedback == 0 {
		r.StepsDays.Feedback = DefaultRatingSteps.Feedback
	}
}

// Reason finds a reason by code.
func (r Ratings) Reason(code string) (RatingReason, bool) {
	for _, x := range r.Reasons {
		if x.Code == code {
			return x, true
		}
	}
	return RatingReason{}, false
}

func (r Ratings) problems(add func(key, format string, args ...any)) {
	seen := map[string]bool{}
	if len(r.Reasons) > 20 {
		add("ratings.reasons", "lists %d reasons; at most 20 fit on the screens", len(r.Reasons))
	}
	for i, x := range r.Reasons {
		k := fmt.Sprintf("ratings.reasons[%d]", i)
		switch {
		case !reasonCode.MatchString(x.Code):
			add(k+".code", "%q must be 1-32 of [a-z0-9_]", x.Code)
		case seen[x.Code]:
			add(k+".code", "%q is listed twice", x.Code)
		}
		seen[x.Code] = true
		if x.ZH == "" {
			add(k+".zh", "is empty")
		}
		if len([]rune(x.ZH)) > 20 || len([]rune(x.EN)) > 40 {
			add(k, "label is too long for a button (zh ≤ 20, en ≤ 40 characters)")
		}
	}
	for _, s := range []struct {
		key string
		v   int
	}{{"verify", r.StepsDays.Verify}, {"rectify", r.StepsDays.Rectify}, {"feedback", r.StepsDays.Feedback}} {
		if s.v < 0 || s.v > 60 {
			add("ratings.steps_days."+s.key, "%d must be 1 to 60 working days", s.v)
		}
	}
}
