package ctl

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/wire"
)

// The hours scheduler runs on the controller's clock: windows open when
// their hours begin and close, once idle, when they end.
func TestHoursSchedulerRuns(t *testing.T) {
	t.Parallel()
	r := newRig(t, hoursHall, nil)
	r.clock.Advance(time.Date(2026, 11, 23, 8, 59, 50, 0, shanghai()).Sub(r.clock.Now()))
	r.start()
	if r.window(1).State != "closed" || r.window(2).State != "closed" {
		t.Fatalf("before 09:00: %s/%s", r.window(1).State, r.window(2).State)
	}
	r.clock.Advance(15 * time.Second)
	r.waitFor("windows opened at 09:00", func() bool { return r.window(1).State == "open" && r.window(2).State == "open" })
	r.clock.Advance(time.Date(2026, 11, 23, 12, 0, 5, 0, shanghai()).Sub(r.clock.Now()))
	r.waitFor("window 1 closed for lunch", func() bool { return r.window(1).State == "closed" })
	if r.window(2).State != "open" {
		t.Fatalf("window 2 (hall hours) is %s at noon", r.window(2).State)
	}
	r.stop() // its log lines are written
	for _, want := range []string{"window opened by its hours", "window closed by its hours"} {
		if !strings.Contains(r.logs.String(), want) {
			t.Errorf("the scheduler did not log %q", want)
		}
	}
}

// A device that cannot do its job is an alert that says what it means.
func TestDeviceFaultAlerts(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	a := r.newAgent("dev-1",
		wire.DeviceInfo{ID: "spk-1", Kind: wire.KindSpeaker, Zone: "east"},
		wire.DeviceInfo{ID: "prn-1", Kind: wire.KindPrinter},
		wire.DeviceInfo{ID: "id-1", Kind: wire.KindIDReader},
		wire.DeviceInfo{ID: "led-1", Kind: wire.KindLED, Window: 2})
	a.status("spk-1", wire.StateFault, "no_tts")
	a.status("prn-1", wire.StateFault, "head_open")
	a.status("id-1", wire.StateFault, "usb")
	a.status("led-1", wire.StateOnline, "")
	faults := alertsOf(r.c.Supervision(context.Background()), "device_fault")
	if len(faults) != 3 {
		t.Fatalf("fault alerts %+v", faults)
	}
	want := map[string]string{"spk-1": "叫号不会播报", "prn-1": "号票可能无法打印", "id-1": "usb"}
	for _, f := range faults {
		found := false
		for dev, hint := range want {
			if strings.Contains(f.Message, "dev-1/"+dev) && strings.Contains(f.Message, hint) && f.Severity == "critical" {
				found = true
			}
		}
		if !found {
			t.Errorf("alert %q", f.Message)
		}
	}
}

// Unprinted tickets are listed oldest first.
func TestUnprintedOldestFirst(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	k.answer("prn-1", wire.AckFailed, "paper_out")
	for i := 0; i < 5; i++ {
		if _, err := r.c.Issue(context.Background(), IssueRequest{Item: "HR-001"}, "kiosk-1", "prn-1"); err != nil {
			t.Fatal(err)
		}
		k.next()
	}
	un := r.c.Unprinted()
	if len(un) != 5 {
		t.Fatalf("unprinted %d", len(un))
	}
	for i, pr := range un {
		if pr.Ticket != int64(i+1) {
			t.Fatalf("unprinted order %+v", un)
		}
	}
}

// Device events that cannot be read are refused and counted, and do not
// stop the events after them.
func TestBadDeviceEventsRefused(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	a := r.newAgent("odd-1",
		wire.DeviceInfo{ID: "btn-1", Kind: wire.KindButton, Item: "HR-001"},
		wire.DeviceInfo{ID: "pad-1", Kind: wire.KindRating, Window: 2},
		wire.DeviceInfo{ID: "id-1", Kind: wire.KindIDReader},
		wire.DeviceInfo{ID: "key-2", Kind: wire.KindKeypad, Window: 2})
	a.emit("btn-1", wire.EvtPress, map[string]any{"item": 7})
	a.emit("pad-1", wire.EvtRating, wire.Rating{Session: "1", Level: 9})
	a.emit("id-1", wire.EvtCard, wire.Card{MaskedName: "x"})
	a.emit("key-2", wire.EvtKey, wire.Key{Action: "dance"})
	a.emit("btn-1", wire.EvtPress, wire.Press{Item: "NOPE", Ticket: "A001"})
	a.emit("key-2", wire.EvtKey, wire.Key{Action: wire.KeyPause})
	r.waitFor("the last event handled", func() bool { return r.window(2).State == "paused" })
	if n := len(r.c.Snapshot().Waiting); n != 0 {
		t.Fatalf("refused events issued %d tickets", n)
	}
	if n := r.counter(r.c.metrics.rejected.WithLabelValues("event", "handler")); n != 5 {
		t.Fatalf("refused events counted %v, want 5", n)
	}
	if r.c.Config() != r.cfg || !r.c.Now().Equal(r.clock.Now()) {
		t.Fatal("Config and Now are not the controller's")
	}
}
