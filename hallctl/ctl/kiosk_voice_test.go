package ctl

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/wire"
)

// A kiosk agent's own speaker (no zone) is admitted and speaks the fixed
// prompts only; calls of zoned windows do not reach it.
func TestKioskSpeakerPrompts(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", append(append([]wire.DeviceInfo(nil), kioskDevices...), wire.DeviceInfo{ID: "voice-1", Kind: wire.KindSpeaker})...)
	if _, ok := r.c.KioskSpeaker("kiosk-1"); !ok {
		t.Fatal("the kiosk's speaker was not admitted")
	}
	ctx := context.Background()
	if err := r.c.KioskSpeak(ctx, "kiosk-1", "swipe_card", "", "zh"); err != nil {
		t.Fatal(err)
	}
	c := k.next()
	if sp := args[wire.Speak](t, c); c.Device != "voice-1" || c.Name != wire.CmdSpeak || sp.Text != KioskPrompts["swipe_card"].ZH || sp.Lang != "zh" {
		t.Fatalf("got %s to %s: %+v", c.Name, c.Device, sp)
	}
	tk, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.c.KioskSpeak(ctx, "kiosk-1", "your_number", tk.Number, "en"); err != nil {
		t.Fatal(err)
	}
	if sp := args[wire.Speak](t, k.next()); sp.Text != "Your number is A001. Please take your ticket and wait to be called." || sp.Lang != "en" {
		t.Fatalf("numbered prompt %+v", sp)
	}
	for _, c := range []struct {
		agent, prompt, number string
		want                  error
	}{
		{"kiosk-1", "anything at all", "", ErrUnknownPrompt},
		{"kiosk-1", "your_number", "Z999", ErrUnknownTicketNumber},
		{"win-1", "swipe_card", "", ErrNoSpeaker},
		{"nobody", "swipe_card", "", ErrNoSpeaker},
	} {
		if err := r.c.KioskSpeak(ctx, c.agent, c.prompt, c.number, "zh"); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	// A call at window 1 (zone east) is not announced on the kiosk.
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyCallNext}); err != nil {
		t.Fatal(err)
	}
	k.none()
}

// The number prompt for a ticket whose print is not confirmed promises
// no paper ("take your ticket" is said only after the printer's done).
func TestKioskUnprintedPromptPromisesNoPaper(t *testing.T) {
	p, ok := KioskPrompts["your_number_unprinted"]
	if !ok || !p.Number {
		t.Fatal("no numbered prompt for an unprinted ticket")
	}
	if strings.Contains(p.ZH, "号票") || strings.Contains(strings.ToLower(p.EN), "ticket") {
		t.Errorf("unprinted prompt promises paper: %q / %q", p.ZH, p.EN)
	}
}
