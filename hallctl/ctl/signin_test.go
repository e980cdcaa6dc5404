package ctl

import (
	"context"
	"testing"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/wire"
)

// A clerk's action at a window the hall does not have is refused, and
// records no sign-in there (it used to log the clerk at "window 9").
func TestNoSignInAtUnknownWindow(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, nil)
	_, err := r.c.Act(context.Background(), ActRequest{Window: 9, Action: wire.KeyCallNext, Clerk: "clerk-7"})
	mustCode(t, err, "unknown_window")
	if recs := r.records(casesys.ClerkStream); len(recs) != 0 {
		t.Fatalf("signed in at a window that does not exist: %d records", len(recs))
	}
}
