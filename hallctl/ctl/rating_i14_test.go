package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/wire"
)

// served issues a ticket (by card when person is set), serves it at
// window 1 and finishes it.
func served(t *testing.T, r *rig, person string) Issued {
	t.Helper()
	ctx := context.Background()
	tk, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001", PersonHash: person}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, r, 1, "clerk-1")
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyFinish}); err != nil {
		t.Fatal(err)
	}
	return tk
}

// 差评 reasons are stored with the rating and sent in rating.given; the
// phone page's comment is stored for the manager's follow-up only — not
// on the feed, not in the answer; reasons on a good rating, unknown codes
// and a comment from the kiosk are refused and record nothing.
func TestRatingReasonsAndComment(t *testing.T) {
	t.Parallel()
	r := newRig(t, casesHall, nil)
	r.openWindows()
	ctx := context.Background()
	feed := r.c.Subscribe(64)
	tk := served(t, r, "")
	for _, bad := range []struct {
		level   int
		channel string
		ex      RatingExtra
	}{
		{4, ChannelKiosk, RatingExtra{Reasons: []string{"attitude"}}},
		{1, ChannelKiosk, RatingExtra{Reasons: []string{"nope"}}},
		{1, ChannelKiosk, RatingExtra{Reasons: []string{"slow", "slow"}}},
		{1, ChannelKiosk, RatingExtra{Comment: "不好"}},
		{5, ChannelQR, RatingExtra{Comment: "很好"}},
		{1, ChannelQR, RatingExtra{Comment: strings.Repeat("长", MaxRatingComment+1)}},
	} {
		if _, err := r.c.Rate(ctx, tk.ID, bad.level, bad.channel, "", bad.ex); !errors.Is(err, ErrBadReason) || Code(err) != "bad_reason" {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
	if len(r.records(RatingStream)) != 0 {
		t.Fatal("a refused rating was recorded")
	}
	if n := r.counter(r.c.metrics.ratingsRefused.WithLabelValues("bad_reason")); n != 6 {
		t.Fatalf("refused ratings counted %v, want 6", n)
	}
	const comment = "窗口人员态度生硬，材料说明不清"
	rt, err := r.c.Rate(ctx, tk.ID, 1, ChannelQR, "", RatingExtra{Reasons: []string{"attitude", "unclear_materials"}, Comment: comment})
	if err != nil || rt.Clerk != "clerk-1" || rt.Channel != "qr" || rt.Serial == "" {
		t.Fatalf("rated %+v %v", rt, err)
	}
	if p := rt.Public(); p.Comment != "" || p.Person != "" || len(p.Reasons) != 2 {
		t.Fatalf("public rating %+v", p)
	}
	recs := r.records(RatingStream)
	var stored Rating
	if len(recs) != 1 || json.Unmarshal(recs[0].Data, &stored) != nil || stored.Comment != comment ||
		!reflect.DeepEqual(stored.Reasons, []string{"attitude", "unclear_materials"}) {
		t.Fatalf("stored %s", recs[0].Data)
	}
	fus := r.c.FollowUps(ctx)
	if len(fus) != 1 || fus[0].Comment != comment || fus[0].Channel != "qr" || fus[0].State != casesys.FollowUpPending {
		t.Fatalf("follow-ups %+v", fus)
	}
	for {
		select {
		case ev := <-feed.C:
			if ev.Kind != "rating" {
				continue
			}
			b, _ := json.Marshal(ev)
			if bytes.Contains(b, []byte(comment)) || ev.Rating == nil || len(ev.Rating.Reasons) != 2 {
				t.Fatalf("feed rating %s", b)
			}
			return
		case <-time.After(guard):
			t.Fatal("no rating on the feed")
		}
	}
}

// One rating per applicant per case: the applicant (the ID card's keyed
// hash) who rated a case from one ticket cannot rate it again from
// another ticket of the same case; another case is rated.
func TestOneRatingPerApplicantPerCase(t *testing.T) {
	t.Parallel()
	r := newRig(t, casesHall, nil)
	r.openWindows()
	ctx := context.Background()
	p := hashOf("applicant-1")
	t1 := served(t, r, p)
	serial := serialOf(t, r, t1.ID)
	if _, err := r.c.Rate(ctx, t1.ID, 2, ChannelKiosk, ""); err != nil {
		t.Fatal(err)
	}
	// The applicant comes back on the same case (a second ticket for the
	// case serial, as a 补正 visit would be).
	t2 := served(t, r, p)
	r.c.mu.Lock()
	r.c.cases.accepted[t2.ID] = serial
	r.c.mu.Unlock()
	if _, err := r.c.Rate(ctx, t2.ID, 5, ChannelQR, ""); !errors.Is(err, ErrAlreadyRated) || Code(err) != "already_rated" {
		t.Fatalf("second rating of the case: %v", err)
	}
	if n := r.counter(r.c.metrics.ratingsRefused.WithLabelValues("already_rated_case")); n != 1 {
		t.Fatalf("refusals counted %v", n)
	}
	// A restart keeps the rule (from the log).
	r.restart()
	r.c.mu.Lock()
	r.c.cases.accepted[t2.ID] = serial
	r.c.mu.Unlock()
	if _, err := r.c.Rate(ctx, t2.ID, 5, ChannelQR, ""); !errors.Is(err, ErrAlreadyRated) {
		t.Fatalf("after a restart: %v", err)
	}
	// Its own case, or another applicant's, is rated.
	own := serialOf(t, r, t2.ID)
	r.c.mu.Lock()
	r.c.cases.accepted[t2.ID] = own
	r.c.mu.Unlock()
	if _, err := r.c.Rate(ctx, t2.ID, 5, ChannelQR, ""); err != nil {
		t.Fatalf("a ticket without the case: %v", err)
	}
	t3 := served(t, r, hashOf("applicant-2"))
	if _, err := r.c.Rate(ctx, t3.ID, 4, ChannelPad, ""); err != nil {
		t.Fatal(err)
	}
}

// The rating pad's session carries the case serial (cmd/rating-open
// `case`), and the rating event to the case system the clerk and the
// channel.
func TestRatingOpenCarriesSerial(t *testing.T) {
	t.Parallel()
	r := newRig(t, casesHall, nil)
	r.start()
	r.waitFor("windows open", func() bool { return r.window(1).State == "open" })
	w := r.newAgent("win-1", windowDevices...)
	ctx := context.Background()
	tk, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyCallNext, Clerk: "clerk-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyStart, Clerk: "clerk-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyFinish, Clerk: "clerk-1"}); err != nil {
		t.Fatal(err)
	}
	for {
		c := w.next()
		if c.Name != wire.CmdRatingOpen {
			continue
		}
		ro := args[wire.RatingOpen](t, c)
		if ro.Case == "" || ro.Case != serialOf(t, r, tk.ID) {
			t.Fatalf("rating-open %+v, want case %s", ro, serialOf(t, r, tk.ID))
		}
		w.emit(c.Device, wire.EvtRating, wire.Rating{Session: ro.Session, Level: 1})
		break
	}
	r.waitFor("the rating recorded", func() bool { return r.c.Rated(tk.ID) })
	var rt Rating
	if recs := r.records(RatingStream); len(recs) != 1 || json.Unmarshal(recs[0].Data, &rt) != nil || rt.Channel != "pad" || rt.Clerk != "clerk-1" {
		t.Fatalf("pad rating %+v", rt)
	}
}

// The follow-up workflow through the controller: the manager's steps in
// order (a step out of order is refused), the clerk's appeal from the
// window (not another's, not without a reason), upheld then closed; a
// second follow-up's appeal accepted, after which it cannot be closed.
// Every step is audited.
func TestFollowUpWorkflowSteps(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, nil)
	r.openWindows()
	ctx := context.Background()
	t1 := served(t, r, "")
	if _, err := r.c.Rate(ctx, t1.ID, 1, ChannelKiosk, "", RatingExtra{Reasons: []string{"slow"}}); err != nil {
		t.Fatal(err)
	}
	step := func(action string) casesys.FollowUp {
		t.Helper()
		f, err := r.c.FollowUpAction(ctx, t1.ID, action, "note "+action, "mgr-1", "manager")
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		return f
	}
	if _, err := r.c.FollowUpAction(ctx, t1.ID, casesys.ActRectify, "", "mgr-1", "manager"); !errors.Is(err, casesys.ErrFollowUpState) || Code(err) != "followup_bad_state" {
		t.Fatalf("rectify before verify: %v", err)
	}
	if f := step(casesys.ActVerify); f.State != casesys.FollowUpVerified || f.StepDeadline != "2026-11-26" {
		t.Fatalf("verified %+v", f)
	}
	if _, err := r.c.AppealFollowUp(ctx, 2, t1.ID, "不是我办的", "clerk-2"); !errors.Is(err, ErrNotYourFollowUp) || Code(err) != "not_your_followup" {
		t.Fatalf("appeal from another window: %v", err)
	}
	if _, err := r.c.AppealFollowUp(ctx, 1, t1.ID, "  ", "clerk-1"); !errors.Is(err, ErrAppealReason) {
		t.Fatalf("appeal without a reason: %v", err)
	}
	f, err := r.c.AppealFollowUp(ctx, 1, t1.ID, "申请人材料不全，已一次性告知", "clerk-1")
	if err != nil || f.State != casesys.FollowUpAppealed {
		t.Fatalf("appeal %+v %v", f, err)
	}
	if f := step(casesys.ActUphold); f.State != casesys.FollowUpVerified {
		t.Fatalf("upheld %+v", f)
	}
	if _, err := r.c.AppealFollowUp(ctx, 1, t1.ID, "again", "clerk-1"); !errors.Is(err, casesys.ErrFollowUpState) {
		t.Fatalf("a second appeal: %v", err)
	}
	step(casesys.ActRectify)
	if f := step(casesys.ActFeedback); f.State != casesys.FollowUpFeedback {
		t.Fatalf("feedback %+v", f)
	}
	f = step(casesys.ActClose)
	if f.State != casesys.FollowUpClosedState || !f.Closed || len(f.Log) != 6 || f.Log[1].Note != "申请人材料不全，已一次性告知" || f.Log[1].By != "clerk-1" {
		t.Fatalf("closed %+v", f)
	}
	if _, err := r.c.FollowUpAction(ctx, t1.ID, casesys.ActVerify, "", "m", "manager"); !errors.Is(err, ErrFollowUpClosed) {
		t.Fatalf("a step after closing: %v", err)
	}

	t2 := served(t, r, "")
	if _, err := r.c.Rate(ctx, t2.ID, 2, ChannelPad, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.AppealFollowUp(ctx, 1, t2.ID, "系统故障导致等候", "clerk-1"); err != nil {
		t.Fatal(err)
	}
	if f, err := r.c.FollowUpAction(ctx, t2.ID, casesys.ActAcceptAppeal, "属实", "mgr-1", "manager"); err != nil || f.State != casesys.FollowUpAppealAccepted {
		t.Fatalf("accept appeal %+v %v", f, err)
	}
	if _, err := r.c.CloseFollowUp(ctx, t2.ID, "x", "m"); !errors.Is(err, casesys.ErrFollowUpState) {
		t.Fatalf("closing an accepted appeal: %v", err)
	}
	// A restart keeps the states.
	r.restart()
	got := map[int64]string{}
	for _, f := range r.c.FollowUps(ctx) {
		got[f.Ticket] = f.State
	}
	if got[t1.ID] != casesys.FollowUpClosedState || got[t2.ID] != casesys.FollowUpAppealAccepted {
		t.Fatalf("after restart %v", got)
	}
	es, err := r.c.Audit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for i := len(es) - 1; i >= 0; i-- {
		if strings.HasPrefix(es[i].Action.Type, "followup_") {
			kinds = append(kinds, es[i].Action.Type+"/"+es[i].Actor)
		}
	}
	want := "followup_verify/mgr-1 followup_appeal/clerk-1 followup_uphold/mgr-1 followup_rectify/mgr-1 followup_feedback/mgr-1 followup_close/mgr-1 followup_appeal/clerk-1 followup_accept_appeal/mgr-1"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("audit %q\nwant %q", strings.Join(kinds, " "), want)
	}
}

// An ID card read at the window names the applicant of a ticket taken
// without one: its rating carries the hash, a restart keeps it, and the
// same applicant cannot rate the case again from another ticket.
func TestWindowCardNamesTheApplicant(t *testing.T) {
	t.Parallel()
	r := newRig(t, casesHall, nil)
	r.openWindows()
	ctx := context.Background()
	h := hashOf("applicant-at-window")
	readAndFinish := func() Issued {
		t.Helper()
		tk, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		serve(t, r, 1, "clerk-1")
		if err := r.c.inUnit(ctx, func(u *unit) error {
			r.c.onWindowCard(u, 1, wire.Card{IDHash: h, MaskedID: "4403**********1234", MaskedName: "王**"})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyFinish}); err != nil {
			t.Fatal(err)
		}
		return tk
	}
	t1 := readAndFinish()
	r.restart() // the read survives a restart (from the log)
	rt, err := r.c.Rate(ctx, t1.ID, 2, ChannelKiosk, "")
	if err != nil || rt.Person != h {
		t.Fatalf("rating %+v %v", rt, err)
	}
	if fus := r.c.FollowUps(ctx); len(fus) != 1 || !fus[0].Named {
		t.Fatalf("a named 差评 expected: %+v", fus)
	}
	t2 := readAndFinish()
	r.c.mu.Lock()
	r.c.cases.accepted[t2.ID] = rt.Serial
	r.c.mu.Unlock()
	if _, err := r.c.Rate(ctx, t2.ID, 5, ChannelKiosk, ""); !errors.Is(err, ErrAlreadyRated) {
		t.Fatalf("the same applicant rated the case twice: %v", err)
	}
}
