package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Revocation (issue 10, "a token's subject can be disabled"): disabling a
// subject is durable, audited, idempotent, and survives a restart, also
// one that starts from a snapshot.
func TestSubjectsDisableEnableRestart(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, hoursHall, nil)
	c := r.c
	if c.SubjectDisabled("工号1024") {
		t.Fatal("disabled before anything")
	}
	changed, err := c.DisableSubject(ctx, "工号1024", "admin01", "admin")
	if err != nil || !changed {
		t.Fatalf("disable: %v %v", changed, err)
	}
	if !c.SubjectDisabled("工号1024") || c.SubjectDisabled("工号1025") {
		t.Fatal("not disabled at once, or the wrong subject")
	}
	if changed, err := c.DisableSubject(ctx, "工号1024", "admin01", "admin"); err != nil || changed {
		t.Errorf("second disable: %v %v, want unchanged", changed, err)
	}
	for _, bad := range []string{"", "a/b", "x\ny", "very-long-subject-very-long-subject-very-long-subject-very-long-subject"} {
		if _, err := c.DisableSubject(ctx, bad, "admin01", "admin"); !errors.Is(err, ErrBadSubject) {
			t.Errorf("subject %q: %v", bad, err)
		}
	}
	audit, err := c.Audit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range audit {
		if e.Action.Type == "disable_subject" && e.Detail == "工号1024" && e.Actor == "admin01" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d audit entries for the disable, want 1: %+v", n, audit)
	}
	if _, err := c.DisableSubject(ctx, "clerk@3", "admin01", "admin"); err != nil {
		t.Fatal(err)
	}

	r.restart()
	if !r.c.SubjectDisabled("工号1024") || !r.c.SubjectDisabled("clerk@3") {
		t.Fatal("a restart forgot a disabled subject")
	}
	if changed, err := r.c.EnableSubject(ctx, "clerk@3", "admin01", "admin"); err != nil || !changed {
		t.Fatalf("enable: %v %v", changed, err)
	}
	// Enough records for the next start to save a snapshot, then one more
	// start that restores it.
	for i := 0; i <= subjectSnapshotEvery/2; i++ {
		r.c.DisableSubject(ctx, "s1", "a", "admin")
		r.c.EnableSubject(ctx, "s1", "a", "admin")
	}
	r.restart()
	if _, err := r.st.LatestSnapshot(ctx, SubjectStream); err != nil {
		t.Fatalf("no subject snapshot after %d records: %v", subjectSnapshotEvery, err)
	}
	r.restart()
	got := r.c.DisabledSubjects()
	if len(got) != 1 || got[0].Subject != "工号1024" || got[0].By != "admin01" {
		t.Errorf("after snapshot and restart: %+v", got)
	}
}

// A staff sign-out is a record: the ended session stays refused across a
// restart (it lived only in the web layer's memory before), and is
// dropped once its token would have expired anyway, also from the
// snapshot a later start saves.
func TestEndedSessionSurvivesRestartUntilExpiry(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, hoursHall, nil)
	until := r.clock.Now().Add(time.Hour)
	if r.c.SessionEnded("jti-1") || r.c.SessionEnded("") {
		t.Fatal("ended before a sign-out")
	}
	if err := r.c.EndSession(ctx, "jti-1", "c1", until); err != nil {
		t.Fatal(err)
	}
	if err := r.c.EndSession(ctx, "jti-short", "c2", r.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !r.c.SessionEnded("jti-1") || r.c.SessionEnded("jti-2") {
		t.Fatal("the sign-out did not end exactly that session")
	}
	r.restart()
	if !r.c.SessionEnded("jti-1") || !r.c.SessionEnded("jti-short") {
		t.Fatal("a restart brought a signed-out session back")
	}
	r.clock.Advance(2 * time.Minute)
	if r.c.SessionEnded("jti-short") || !r.c.SessionEnded("jti-1") {
		t.Fatal("expiry: the short session should be over, the long one still ended")
	}
	// Enough records for a snapshot: only the unexpired session is kept.
	for i := 0; i <= subjectSnapshotEvery; i++ {
		if err := r.c.EndSession(ctx, fmt.Sprintf("old-%d", i), "c3", r.clock.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	r.clock.Advance(time.Minute)
	r.restart()
	snap, err := r.st.LatestSnapshot(ctx, SubjectStream)
	if err != nil {
		t.Fatalf("no snapshot: %v", err)
	}
	var d subjectSnapshot
	if err := json.Unmarshal(snap.Data, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Ended) != 1 || d.Ended[0].Session != "jti-1" {
		t.Errorf("snapshot keeps %d ended sessions (%+v), want only jti-1", len(d.Ended), d.Ended)
	}
	r.restart()
	if !r.c.SessionEnded("jti-1") || r.c.SessionEnded("old-3") {
		t.Error("after the snapshot start: wrong ended sessions")
	}
}
