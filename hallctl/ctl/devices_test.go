package ctl

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/wire"
)

// Finding "any board can control any window": an agent enrolled for
// window 1 re-announces its devices claiming window 2's keypad and a
// keypad of window 5, then calls a ticket at window 2 and pauses window 5.
// The hall config is the authority: the claims are refused (counted,
// logged once, shown to the manager) and neither window changes.
func TestForeignKeypadClaimRefused(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	w := r.newAgent("win-1", windowDevices...)
	if _, err := r.c.Issue(context.Background(), IssueRequest{Item: "HR-001"}, "", ""); err != nil {
		t.Fatal(err)
	}
	w.devs = append(w.devs, wire.DeviceInfo{ID: "key-2", Kind: wire.KindKeypad, Window: 2},
		wire.DeviceInfo{ID: "key-5", Kind: wire.KindKeypad, Window: 5})
	w.announce()
	w.announce() // a re-announcement does not log the refusals again
	w.emit("key-2", wire.EvtKey, wire.Key{Action: wire.KeyCallNext})
	w.emit("key-5", wire.EvtKey, wire.Key{Action: wire.KeyPause})
	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyPause}) // its own window: handled
	r.waitFor("window 1 paused", func() bool { return r.window(1).State == "paused" })
	if v := r.window(2); v.Current != 0 || v.State == "paused" {
		t.Fatalf("window 2 driven by a foreign keypad: %+v", v)
	}
	if n := r.counter(r.c.metrics.rejected.WithLabelValues("event", refusedWindow)); n != 2 {
		t.Fatalf("refused events %v, want 2", n)
	}
	if n := strings.Count(r.logs.String(), "device claim refused"); n != 2 {
		t.Fatalf("refusals logged %d times, want once per device:\n%s", n, r.logs.String())
	}
	var found int
	for _, a := range r.c.Supervision(context.Background()) {
		if a.Kind == "device_refused" && strings.Contains(a.Message, "win-1/key-") {
			found++
		}
	}
	if found != 2 {
		t.Fatalf("manager alerts for the refused claims: %d", found)
	}
	// An agent the config does not list gets nothing. Its first message
	// is refused and listed for the manager (which wakes waitFor: a
	// refusal commits nothing); the broker acknowledges a publish before
	// routing it, so no later message of another agent is a barrier.
	x := r.connectAgent("rogue-1", wire.DeviceInfo{ID: "key-2", Kind: wire.KindKeypad, Window: 2})
	x.emit("key-2", wire.EvtKey, wire.Key{Action: wire.KeyCallNext})
	r.waitFor("the rogue's event refused", func() bool {
		return r.counter(r.c.metrics.rejected.WithLabelValues("event", "agent_not_enrolled")) == 1
	})
	x.publishInfo()
	if v := r.window(2); v.Current != 0 {
		t.Fatalf("an unenrolled agent called at window 2: %+v", v)
	}
	if len(r.c.Bus().Find(func(a string, _ wire.DeviceInfo) bool { return a == "rogue-1" })) != 0 {
		t.Fatal("an unenrolled agent's device is in the registry")
	}
}

// A speaker claiming a zone its agent is not enrolled for gets no speak
// commands; the enrolled zone's speaker does.
func TestForeignSpeakerZoneRefused(t *testing.T) {
	t.Parallel()
	r := newRig(t, strings.Replace(rigHall, "{id: spk-1, zones: [east, west]}", "{id: spk-1, zones: [west]}", 1), nil)
	r.start()
	r.waitFor("windows open", func() bool { return r.window(1).State == "open" })
	s := r.newAgent("spk-1", speakerDevices...)
	if _, err := r.c.Issue(context.Background(), IssueRequest{Item: "HR-001"}, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Act(context.Background(), ActRequest{Window: 1, Action: wire.KeyCallNext}); err != nil { // east
		t.Fatal(err)
	}
	if _, err := r.c.Issue(context.Background(), IssueRequest{Item: "HR-001"}, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Act(context.Background(), ActRequest{Window: 2, Action: wire.KeyCallNext}); err != nil { // west
		t.Fatal(err)
	}
	if c := s.next(); c.Device != "spk-west" || c.Name != wire.CmdSpeak {
		t.Fatalf("got %s to %s, want speak to spk-west", c.Name, c.Device)
	}
	s.none()
}

// Event time bounds: an event stamped an hour ahead, or two days old, is
// refused; a dispenser's press buffered offline for 20 hours is handled.
func TestEventTimeBounds(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	now := r.clock.Now()
	for i, at := range []time.Time{now.Add(time.Hour), now.Add(-48 * time.Hour), now.Add(-20 * time.Hour)} {
		k.emitMsg("btn-1", wire.EvtPress, wire.NewEvent(at, "s1", uint64(100+i), wire.Press{Item: "HR-001"}))
	}
	if c := k.next(); c.Name != wire.CmdPrint {
		t.Fatalf("got %s", c.Name)
	}
	k.none()
	if n := len(r.c.Snapshot().Waiting); n != 1 {
		t.Fatalf("%d tickets, want only the buffered press's", n)
	}
	for _, reason := range []string{"ts_future", "ts_past"} {
		if n := r.counter(r.c.metrics.rejected.WithLabelValues("event", reason)); n != 1 {
			t.Fatalf("%s refusals %v", reason, n)
		}
	}
}

// Finding "50,000 arbitrary topics grew the device registry": device
// status topics of made-up devices (of an enrolled and of an unknown
// agent) and an info announcing more devices than allowed leave the
// registry at its bounds, and ticket issue works as before.
func TestRegistryBounded(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall+"limits: {registry_devices: 40, agent_devices: 8}\n", nil)
	r.start()
	k := r.newAgent("kiosk-1", kioskDevices...)
	hall := r.cfg.Hall.ID
	st := wire.Marshal(wire.DevStatusMsg{State: wire.StateOnline})
	const flood = 500 // far past the bounds (40, 8); more only slows the test under -race
	for i := 0; i < flood; i++ {
		k.c.Publish(wire.DevStatus(hall, "kiosk-1", fmt.Sprintf("fake-%d", i)), 1, false, st)
		k.c.Publish(wire.DevStatus(hall, fmt.Sprintf("ghost-%d", i), "d"), 1, false, st)
	}
	many := make([]wire.DeviceInfo, 0, 50)
	for i := 0; i < 50; i++ {
		many = append(many, wire.DeviceInfo{ID: fmt.Sprintf("p-%d", i), Kind: wire.KindPrinter})
	}
	r.connectAgent("lone-1", many...).publishInfo()
	k.wait(k.c.Publish(wire.DevStatus(hall, "kiosk-1", "prn-1"), 1, false, st)) // in order after the flood
	r.waitFor("the flood handled", func() bool {
		return r.counter(r.c.metrics.rejected.WithLabelValues("device", "agent_devices")) == 42 && r.counter(r.c.metrics.rejected.WithLabelValues("dev-status", "agent_not_enrolled")) >= 1 &&
			r.counter(r.c.metrics.rejected.WithLabelValues("dev-status", "unknown_device")) == flood
	})
	agents, devs := r.c.Bus().Size()
	if agents > 2 || devs > 8+len(kioskDevices) {
		t.Fatalf("registry holds %d agents, %d devices", agents, devs)
	}
	if n := r.counter(r.c.metrics.rejected.WithLabelValues("device", "agent_devices")); n != 42 {
		t.Fatalf("devices over the per-agent bound refused %v, want 42", n)
	}
	tk, err := r.c.Issue(context.Background(), IssueRequest{Item: "HR-001"}, "kiosk-1", "prn-1")
	if err != nil || tk.Number == "" {
		t.Fatalf("issue after the flood: %+v %v", tk, err)
	}
	if c := k.next(); c.Name != wire.CmdPrint || c.Device != "prn-1" {
		t.Fatalf("got %s to %s", c.Name, c.Device)
	}
}
