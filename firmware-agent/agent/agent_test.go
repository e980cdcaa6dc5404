package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/device/devicetest"
	"github.com/servicehall/servicehall/wire"
)

var t0 = time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)

func printArgs(n string) wire.Print {
	return wire.Print{Template: wire.TemplateTicket, Fields: wire.PrintFields{Hall: hall, Number: n, Item: "HR-001"}}
}

func TestBirthSeenByLateSubscriber(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	early := newSilentController(t, b, "early", wire.HallFilter(hall))
	set := devicetest.NewSet()
	r := startAgent(t, testConfig(t, b.url(), t.TempDir()), set, clockwork.NewFakeClockAt(t0))
	early.waitBirth()

	late := newSilentController(t, b, "late", wire.HallFilter(hall))
	retained := map[string][]byte{}
	for len(retained) < 7 { // status, info, 5 device statuses
		select {
		case m := <-late.msg:
			if !m.retained {
				t.Fatalf("late subscriber got a non-retained %s", m.topic)
			}
			retained[m.topic] = m.payload
		case <-time.After(wait):
			t.Fatalf("late subscriber got only %d retained messages: %v", len(retained), keys(retained))
		}
	}
	if s := string(retained[wire.AgentStatus(hall, agentID)]); s != wire.Online {
		t.Errorf("agent status = %q", s)
	}
	info, err := wire.DecodeInfo(retained[wire.AgentInfo(hall, agentID)])
	if err != nil {
		t.Fatal(err)
	}
	if info.Agent != agentID || info.BootID == "" || info.Session != r.a.Session() || info.BootID != r.a.BootID() {
		t.Errorf("info header = %+v", info)
	}
	want := map[string]wire.DeviceInfo{
		"printer-1": {ID: "printer-1", Kind: "fake-printer", Caps: []string{"cut", "qr"}, State: agent.Loaded},
		"btn-1":     {ID: "btn-1", Kind: "fake-button", Item: "HR-001", Printer: "printer-1", State: agent.Loaded},
		"led-8":     {ID: "led-8", Kind: "fake-display", Window: 8, State: agent.Loaded},
		"pad-8":     {ID: "pad-8", Kind: "fake-unavailable", Window: 8, State: agent.Skipped},
		"broken-1":  {ID: "broken-1", Kind: "fake-broken", State: agent.Failed},
	}
	if len(info.Devices) != len(want) {
		t.Fatalf("info has %d devices, want %d", len(info.Devices), len(want))
	}
	for _, d := range info.Devices {
		w := want[d.ID]
		reason := d.Reason
		d.Reason = ""
		if fmt.Sprint(d) != fmt.Sprint(w) {
			t.Errorf("device info %+v, want %+v", d, w)
		}
		if (w.State == agent.Loaded) != (reason == "") {
			t.Errorf("device %s state %s has reason %q", d.ID, d.State, reason)
		}
	}
	statuses := map[string]string{"printer-1": "online", "btn-1": "online", "led-8": "online", "pad-8": "offline/skipped", "broken-1": "fault/start_failed"}
	for id, w := range statuses {
		s, err := wire.DecodeDevStatus(retained[wire.DevStatus(hall, agentID, id)])
		if err != nil {
			t.Fatalf("status of %s: %v", id, err)
		}
		got := s.State
		if s.Code != "" {
			got += "/" + s.Code
		}
		if got != w {
			t.Errorf("status of %s = %s, want %s", id, got, w)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestCommandExecutedOnceAndAcked(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	ct := newController(t, b, "ctl", wire.HallFilter(hall))
	set := devicetest.NewSet()
	clock := clockwork.NewFakeClockAt(t0)
	r := startAgent(t, testConfig(t, b.url(), t.TempDir()), set, clock)
	ct.waitBirth()

	c := wire.NewCommand(t0, time.Minute, printArgs("A001"))
	ct.command("printer-1", wire.CmdPrint, c)
	if a := ct.nextAck("printer-1"); a.ID != c.ID || a.Status != wire.AckDone {
		t.Fatalf("ack = %+v", a)
	}
	calls := set.Printer("printer-1").Calls()
	if len(calls) != 1 || calls[0].Name != wire.CmdPrint || !bytes.Equal(calls[0].Args, c.Args) {
		t.Fatalf("printer calls = %+v", calls)
	}
	// QoS 1 redelivery or a controller retry: the stored ack, no second print.
	ct.command("printer-1", wire.CmdPrint, c)
	if a := ct.nextAck("printer-1"); a.ID != c.ID || a.Status != wire.AckDone {
		t.Fatalf("second ack = %+v", a)
	}
	if n := len(set.Printer("printer-1").Calls()); n != 1 {
		t.Fatalf("printed %d times", n)
	}
	// A failing printer: the driver's outcome is the ack.
	set.Printer("printer-1").SetOutcome(device.Failed("paper_out", errors.New("paper end sensor")))
	c2 := wire.NewCommand(t0, time.Minute, printArgs("A002"))
	ct.command("printer-1", wire.CmdPrint, c2)
	if a := ct.nextAck("printer-1"); a.ID != c2.ID || a.Status != wire.AckFailed || a.Code != "paper_out" {
		t.Fatalf("failed ack = %+v", a)
	}
	st := r.a.Stats()
	if st.CmdExecuted != 2 || st.CmdDuplicate != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRepeatedCommandAfterRestart(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	ct := newController(t, b, "ctl", wire.HallFilter(hall))
	set := devicetest.NewSet()
	dir := t.TempDir()
	clock := clockwork.NewFakeClockAt(t0)
	r1 := startAgent(t, testConfig(t, b.url(), dir), set, clock)
	ct.waitBirth()
	c := wire.NewCommand(t0, time.Minute, printArgs("A001"))
	ct.command("printer-1", wire.CmdPrint, c)
	if a := ct.nextAck("printer-1"); a.Status != wire.AckDone {
		t.Fatalf("ack = %+v", a)
	}
	r1.stop()
	if s := string(ct.next(wire.AgentStatus(hall, agentID)).payload); s != wire.Offline {
		t.Fatalf("after a clean stop the agent status is %q", s)
	}

	r2 := startAgent(t, testConfig(t, b.url(), dir), set, clock)
	info := ct.waitBirth()
	if info.BootID == r1.a.BootID() || info.Session != r1.a.Session() {
		t.Errorf("after restart boot_id %s (was %s), session %s (was %s)", info.BootID, r1.a.BootID(), info.Session, r1.a.Session())
	}
	ct.command("printer-1", wire.CmdPrint, c)
	if a := ct.nextAck("printer-1"); a.ID != c.ID || a.Status != wire.AckDone {
		t.Fatalf("ack after restart = %+v", a)
	}
	if n := len(set.Printer("printer-1").Calls()); n != 1 {
		t.Fatalf("printed %d times across a restart", n)
	}
	if st := r2.a.Stats(); st.CmdDuplicate != 1 || st.CmdExecuted != 0 {
		t.Errorf("stats after restart = %+v", st)
	}
}

func TestExpiredCommands(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	ct := newController(t, b, "ctl", wire.HallFilter(hall))
	set := devicetest.NewSet()
	clock := clockwork.NewFakeClockAt(t0)
	r := startAgent(t, testConfig(t, b.url(), t.TempDir()), set, clock)
	ct.waitBirth()
	p := set.Printer("printer-1")

	// Past its exp on arrival.
	old := wire.NewCommand(t0.Add(-time.Minute), 30*time.Second, printArgs("A001"))
	ct.command("printer-1", wire.CmdPrint, old)
	if a := ct.nextAck("printer-1"); a.ID != old.ID || a.Status != wire.AckExpired {
		t.Fatalf("ack = %+v", a)
	}

	// Valid on arrival, expired while waiting behind a slow print.
	p.Hold()
	slow := wire.NewCommand(t0, time.Minute, printArgs("A002"))
	ct.command("printer-1", wire.CmdPrint, slow)
	<-p.Started
	late := wire.NewCommand(t0, 10*time.Second, printArgs("A003"))
	ct.command("printer-1", wire.CmdPrint, late)
	// The queued command is accepted at receipt; once it is queued (a
	// repeat of it counts as a duplicate), move time past its exp.
	ct.command("printer-1", wire.CmdPrint, late)
	waitFor(t, func() bool { return r.a.Stats().CmdDuplicate == 1 })
	clock.Advance(11 * time.Second)
	p.Release()
	if a := ct.nextAck("printer-1"); a.ID != slow.ID || a.Status != wire.AckDone {
		t.Fatalf("slow ack = %+v", a)
	}
	if a := ct.nextAck("printer-1"); a.ID != late.ID || a.Status != wire.AckExpired {
		t.Fatalf("late ack = %+v", a)
	}
	calls := p.Calls()
	if len(calls) != 1 {
		t.Fatalf("printer ran %d commands, want only the slow one", len(calls))
	}
	if st := r.a.Stats(); st.CmdExpired != 2 {
		t.Errorf("expired = %d", st.CmdExpired)
	}
}

// waitFor polls cond; only for state the agent changes on its own
// goroutines in reaction to broker traffic.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMalformedAndRejected(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	ct := newController(t, b, "ctl", wire.HallFilter(hall))
	set := devicetest.NewSet()
	r := startAgent(t, testConfig(t, b.url(), t.TempDir()), set, clockwork.NewFakeClockAt(t0))
	ct.waitBirth()
	cmd := wire.Command(hall, agentID, "printer-1", wire.CmdPrint)
	id := wire.NewID(t0)
	for _, p := range []string{
		`garbage`,
		`{"v":1}`,
		`{"v":2,"id":"` + id + `","args":{}}`,
		`{"v":1,"id":"not-a-uuid"}`,
		`{"v":1,"id":"` + id + `","args":[1,2]}`,
		`{"v":1,"id":{"x":1}}`,
		`[]`,
		``,
		strings.Repeat("x", wire.MaxPayload+1),
	} {
		ct.publish(cmd, false, []byte(p))
	}
	ct.publish(wire.Desired(hall, agentID, "led-8"), false, []byte(`{"version":0}`))
	ct.publish(wire.Desired(hall, agentID, "led-8"), false, []byte(`{{{`))
	ct.publish(wire.CtlStatus(hall), false, []byte(`maybe`))

	// Recoverable ids get a rejected ack with the reason as code.
	if a := ct.nextAck("printer-1"); a.ID != id || a.Status != wire.AckRejected || a.Code != "unknown_version" {
		t.Errorf("ack = %+v", a)
	}
	if a := ct.nextAck("printer-1"); a.ID != id || a.Status != wire.AckRejected || a.Code != "invalid" {
		t.Errorf("ack = %+v", a)
	}
	// Commands the agent refuses itself.
	for _, tc := range []struct{ dev, code string }{
		{"nope", agent.CodeUnknownDevice},
		{"btn-1", agent.CodeUnsupported},
		{"pad-8", agent.CodeUnavailable},
	} {
		c := wire.NewCommand(t0, time.Minute, printArgs("A009"))
		ct.command(tc.dev, wire.CmdPrint, c)
		if a := ct.nextAck(tc.dev); a.ID != c.ID || a.Status != wire.AckRejected || a.Code != tc.code {
			t.Errorf("%s: ack = %+v", tc.dev, a)
		}
	}
	// Still alive and executing.
	c := wire.NewCommand(t0, time.Minute, printArgs("A010"))
	ct.command("printer-1", wire.CmdPrint, c)
	if a := ct.nextAck("printer-1"); a.ID != c.ID || a.Status != wire.AckDone {
		t.Fatalf("ack = %+v", a)
	}
	st := r.a.Stats()
	want := map[string]uint64{"malformed": 6, "unknown_version": 1, "missing_id": 1, "invalid": 3, "oversize": 1}
	// malformed: garbage, {"id":{..}}, [], "" (empty), desired {{{, ctl "maybe"
	// invalid: not-a-uuid, args array, desired version 0
	if fmt.Sprint(st.Malformed) != fmt.Sprint(want) {
		t.Errorf("malformed = %v, want %v", st.Malformed, want)
	}
	if st.CmdRejected != 5 || st.CmdExecuted != 1 {
		t.Errorf("stats = %+v", st)
	}
	if len(set.Printer("printer-1").Calls()) != 1 {
		t.Error("a malformed command reached the driver")
	}
}

func TestDesiredInVersionOrder(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	ct := newController(t, b, "ctl", wire.HallFilter(hall))
	set := devicetest.NewSet()
	r := startAgent(t, testConfig(t, b.url(), t.TempDir()), set, clockwork.NewFakeClockAt(t0))
	ct.waitBirth()
	d := set.Display("led-8")
	topic := wire.Desired(hall, agentID, "led-8")
	rep := wire.Reported(hall, agentID, "led-8")
	doc := func(v uint64, line string) []byte {
		return wire.Marshal(wire.DesiredMsg{Version: v, Lines: []string{line, "请到8号窗口"}})
	}
	ct.publish(topic, true, doc(2, "A002"))
	if got := <-d.Applied; got.Version != 2 || got.Lines[0] != "A002" {
		t.Fatalf("applied %+v", got)
	}
	if m, _ := wire.DecodeReported(ct.next(rep).payload); m != (wire.ReportedMsg{Version: 2, OK: true}) {
		t.Fatalf("reported %+v", m)
	}
	ct.publish(topic, true, doc(1, "A001")) // older: dropped
	ct.publish(topic, true, doc(2, "A002")) // same: dropped
	ct.publish(topic, true, doc(3, "A003"))
	if got := <-d.Applied; got.Version != 3 {
		t.Fatalf("applied version %d after 1, 2, 3", got.Version)
	}
	if m, _ := wire.DecodeReported(ct.next(rep).payload); m != (wire.ReportedMsg{Version: 3, OK: true}) {
		t.Fatalf("reported %+v", m)
	}
	d.FailWith(errors.New("no answer from the controller"))
	ct.publish(topic, true, doc(4, "A004"))
	if m, _ := wire.DecodeReported(ct.next(rep).payload); m != (wire.ReportedMsg{Version: 4, OK: false, Code: "apply_failed"}) {
		t.Fatalf("reported %+v", m)
	}
	st := r.a.Stats()
	if st.DesiredApplied != 2 || st.DesiredStale != 2 {
		t.Errorf("stats = %+v", st)
	}
	select {
	case got := <-d.Applied:
		t.Fatalf("extra apply %+v", got)
	default:
	}
}

// pressEvents collects evt/press events until n distinct ids arrived,
// failing on a duplicate id or an out-of-order seq.
func pressEvents(t *testing.T, ct *controller, n int) []wire.EventMsg {
	t.Helper()
	topic := wire.Event(hall, agentID, "btn-1", wire.EvtPress)
	seen := map[string]bool{}
	var out []wire.EventMsg
	for len(out) < n {
		m := ct.next(topic)
		e, err := wire.DecodeEvent(m.payload)
		if err != nil {
			t.Fatal(err)
		}
		if seen[e.ID] {
			t.Fatalf("event %s (seq %d) delivered twice", e.ID, e.Seq)
		}
		seen[e.ID] = true
		if len(out) > 0 && e.Seq != out[len(out)-1].Seq+1 {
			t.Fatalf("seq %d after %d", e.Seq, out[len(out)-1].Seq)
		}
		var p wire.Press
		if err := wire.DecodeArgs(e.Data, &p); err != nil || p.Item != "HR-001" {
			t.Fatalf("press data %s: %v", e.Data, err)
		}
		out = append(out, e)
	}
	return out
}

func TestOutage100Presses(t *testing.T) {
	b1 := startBroker(t, "127.0.0.1:0")
	addr := b1.addr
	ct := newController(t, b1, "ctl", wire.HallFilter(hall))
	set := devicetest.NewSet()
	r := startAgent(t, testConfig(t, b1.url(), t.TempDir()), set, clockwork.NewRealClock())
	ct.waitBirth()
	btn := set.Button("btn-1")
	ctx := context.Background()
	if err := btn.Press(ctx); err != nil {
		t.Fatal(err)
	}
	first := pressEvents(t, ct, 1)[0]

	b1.close() // the broker goes away
	for i := 0; i < 100; i++ {
		if err := btn.Press(ctx); err != nil {
			t.Fatalf("press %d: %v", i, err)
		}
	}
	// The broker comes back on the same port with no memory. The agent
	// reconnects first (its birth is seen by an observer) and must hold its
	// outbox until the controller announces itself: events published
	// before then would be acknowledged by the broker and lost.
	b2 := startBroker(t, addr)
	obs := newSilentController(t, b2, "observer", wire.HallFilter(hall))
	obs.waitBirth()
	ct2 := newController(t, b2, "ctl", wire.HallFilter(hall))
	evs := pressEvents(t, ct2, 100)
	if evs[0].Seq != first.Seq+1 || evs[0].Session != first.Session {
		t.Fatalf("first event after the outage: seq %d session %s; before: seq %d session %s", evs[0].Seq, evs[0].Session, first.Seq, first.Session)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID {
			t.Fatalf("UUIDv7 ids out of press order at %d", i)
		}
	}
	// Nothing else is pending: one more press arrives right after, with
	// the next seq, proving no duplicate of the 100 was queued before it.
	if err := btn.Press(ctx); err != nil {
		t.Fatal(err)
	}
	last := pressEvents(t, ct2, 1)[0]
	if last.Seq != evs[99].Seq+1 {
		t.Fatalf("after the flush: seq %d, want %d", last.Seq, evs[99].Seq+1)
	}
	waitFor(t, func() bool { return r.a.Stats().EventsPublished == 102 })
	if st := r.a.Stats(); st.EventsEmitted != 102 || st.Connects < 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestOutboxSurvivesRestart(t *testing.T) {
	addr := freeAddr(t) // no broker yet
	dir := t.TempDir()
	set := devicetest.NewSet()
	cfg := testConfig(t, "tcp://"+addr, dir)
	r1 := startAgent(t, cfg, set, clockwork.NewRealClock())
	for i := 0; i < 10; i++ {
		if err := set.Button("btn-1").Press(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	session := r1.a.Session()
	r1.stop()

	b := startBroker(t, addr, agentID)
	ct := newController(t, b, "ctl", wire.HallFilter(hall))
	b.gate.open()
	r2 := startAgent(t, testConfig(t, "tcp://"+addr, dir), set, clockwork.NewRealClock())
	evs := pressEvents(t, ct, 10)
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.Session != session {
			t.Fatalf("event %d: seq %d session %s, want seq %d session %s", i, e.Seq, e.Session, i+1, session)
		}
	}
	waitFor(t, func() bool { return r2.a.Stats().EventsPublished == 10 })
}

func TestCtlOnlineResendsInfo(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	ct := newController(t, b, "ctl", wire.HallFilter(hall))
	set := devicetest.NewSet()
	startAgent(t, testConfig(t, b.url(), t.TempDir()), set, clockwork.NewFakeClockAt(t0))
	first := ct.waitBirth()
	ct.publish(wire.CtlStatus(hall), true, []byte(wire.Online))
	m := ct.next(wire.AgentInfo(hall, agentID))
	var info wire.InfoMsg
	if err := json.Unmarshal(m.payload, &info); err != nil || info.BootID != first.BootID {
		t.Fatalf("re-sent info %s: %v", m.payload, err)
	}
}

func TestDeviceRunErrorRestarts(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	ct := newController(t, b, "ctl", wire.HallFilter(hall))
	set := devicetest.NewSet()
	r := startAgent(t, testConfig(t, b.url(), t.TempDir()), set, clockwork.NewRealClock())
	ct.waitBirth()
	set.Printer("printer-1").RunErr <- errors.New("port unplugged")
	topic := wire.DevStatus(hall, agentID, "printer-1")
	s, _ := wire.DecodeDevStatus(ct.next(topic).payload)
	if s.State != wire.StateFault || s.Code != agent.CodeRunError || !strings.Contains(s.Detail, "unplugged") {
		t.Fatalf("status %+v", s)
	}
	s, _ = wire.DecodeDevStatus(ct.next(topic).payload)
	if s.State != wire.StateOnline {
		t.Fatalf("status after restart %+v", s)
	}
	if st := r.a.Stats(); st.DeviceRestarts != 1 {
		t.Errorf("restarts = %d", st.DeviceRestarts)
	}
}

func TestCredentials(t *testing.T) {
	g := &gate{password: "s3cret"}
	b := startBrokerGate(t, "127.0.0.1:0", g)
	ct := newController(t, b, "ctl", wire.HallFilter(hall))
	dir := t.TempDir()
	pw := filepath.Join(dir, "secret")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, b.url(), filepath.Join(dir, "state"))
	cfg.MQTT.PasswordFile = pw
	cfg.Defaults()
	startAgent(t, cfg, devicetest.NewSet(), clockwork.NewFakeClockAt(t0))
	ct.waitBirth()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.creds) != 1 || g.creds[0] != "a1:s3cret" {
		t.Fatalf("agent presented %v", g.creds)
	}
}

func TestMissingPasswordFileIsAStartError(t *testing.T) {
	cfg := testConfig(t, "tcp://127.0.0.1:1", t.TempDir())
	cfg.MQTT.PasswordFile = filepath.Join(t.TempDir(), "absent")
	cfg.Defaults()
	_, err := agent.New(context.Background(), cfg, agent.Opts{Lookup: devicetest.NewSet().Lookup})
	if err == nil || !strings.Contains(err.Error(), "mqtt.password_file") {
		t.Fatalf("New = %v", err)
	}
}

func TestOutboxWaitsForController(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	obs := newSilentController(t, b, "observer", wire.HallFilter(hall))
	set := devicetest.NewSet()
	r := startAgent(t, testConfig(t, b.url(), t.TempDir()), set, clockwork.NewRealClock())
	obs.waitBirth()
	if err := set.Button("btn-1").Press(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, err := r.a.OutboxLen(context.Background()); err != nil || n != 1 {
		t.Fatalf("outbox %d (%v), want the press held", n, err)
	}
	ct := newController(t, b, "ctl", wire.HallFilter(hall))
	evs := pressEvents(t, ct, 1)
	if len(evs) != 1 {
		t.Fatalf("got %d events", len(evs))
	}
}
