package ratingpad

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

// The controller's rating-open carries the case serial (issue 14,
// DESIGN.md's `case`): the pad takes it and rates the session as before.
func TestOpenWithCaseSerial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "")
		args := []byte(`{"session":"s9","ticket":"A009","window":8,"case":"440300HR-00120261123000009","timeout_s":30}`)
		if got := r.pad.Handle(context.Background(), wire.CmdRatingOpen, args); got != device.Done {
			t.Fatalf("open with case: %+v", got)
		}
		r.push(2)
		if got := r.rec.take(); len(got) != 1 || got[0] != (wire.Rating{Session: "s9", Level: 2}) {
			t.Fatalf("ratings %+v", got)
		}
	})
}
