package ctl

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/wire"
)

// kioskDevices are a kiosk's: two printers, a ticket button that names
// the second, and an ID reader.
var kioskDevices = []wire.DeviceInfo{
	{ID: "prn-1", Kind: wire.KindPrinter},
	{ID: "prn-2", Kind: wire.KindPrinter},
	{ID: "btn-1", Kind: wire.KindButton, Item: "HR-001", Printer: "prn-2"},
	{ID: "id-1", Kind: wire.KindIDReader},
}

func startedRig(t *testing.T) *rig {
	t.Helper()
	r := newRig(t, rigHall, nil)
	r.start()
	r.waitFor("windows opened by their hours", func() bool { return r.window(1).State == "open" && r.window(3).State == "open" })
	return r
}

// A ticket issued for a kiosk is "printed" only on the printer's done, and
// carries what the applicant needs: number, item, hall, and a QR code of
// its own page.
func TestIssuePrintedOnlyOnDone(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	ctx := context.Background()
	tk, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001", Source: "req-1"}, "kiosk-1", "prn-1")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Print != PrintPrinted || tk.PrintCode != "" || tk.Number != "A001" || tk.ItemName != "社保卡" || tk.Class != "walkin" {
		t.Fatalf("issued %+v", tk)
	}
	cmd := k.next()
	p := args[wire.Print](t, cmd)
	if cmd.Device != "prn-1" || cmd.Name != wire.CmdPrint || p.Template != wire.TemplateTicket {
		t.Fatalf("print went to %s %s %+v", cmd.Device, cmd.Name, p)
	}
	f := p.Fields
	if f.Number != "A001" || f.Hall != "测试大厅" || f.Item != "社保卡" || f.IssuedAt != "2026-11-23 10:00" ||
		f.QR != r.c.TicketURL(tk.ID, "A001", r.clock.Now()) || f.WindowHint != "" { // windows 1 and 2 serve HR-001: no promise (issue 11)
		t.Fatalf("ticket fields %+v", f)
	}
	if s, code := r.c.PrintStatus(tk.ID); s != PrintPrinted || code != "" {
		t.Fatalf("print status %s %s", s, code)
	}
	if got := r.c.Unprinted(); len(got) != 0 {
		t.Fatalf("unprinted after a done print: %+v", got)
	}
	// The same request again is the same ticket, printed once.
	again, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001", Source: "req-1"}, "kiosk-1", "prn-1")
	if err != nil || !again.Duplicate || again.Number != "A001" || again.ItemName != "社保卡" {
		t.Fatalf("repeated request: %+v %v", again, err)
	}
	k.none()
	// Both print records are in the log: dispatched, then printed.
	recs := r.records(PrintStream)
	if len(recs) != 2 || recs[0].Type != PrintPending || recs[1].Type != PrintPrinted || recs[1].Key != cmd.Msg.ID {
		t.Fatalf("print log %+v", recs)
	}
	if n := r.counter(r.c.metrics.tickets.WithLabelValues("HR-001")); n != 1 {
		t.Fatalf("tickets counted %v", n)
	}
}

// A printer out of paper: the ticket is not printed, the manager sees it,
// and a reprint goes to the kiosk's other printer.
func TestPaperOutOffersReprintOnAnotherPrinter(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	k.answer("prn-1", wire.AckFailed, "paper_out")
	ctx := context.Background()
	tk, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "kiosk-1", "prn-1")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Print != PrintFailed || tk.PrintCode != "paper_out" {
		t.Fatalf("issued with an empty printer: %+v", tk)
	}
	k.next()
	if s, code := r.c.PrintStatus(tk.ID); s != PrintFailed || code != "paper_out" {
		t.Fatalf("print status %s %s", s, code)
	}
	un := r.c.Unprinted()
	if len(un) != 1 || un[0].Ticket != tk.ID || un[0].Device != "prn-1" || un[0].Code != "paper_out" {
		t.Fatalf("unprinted %+v", un)
	}
	var alert *casesys.Alert
	for _, a := range r.c.Supervision(ctx) {
		if a.Kind == "unprinted" {
			alert = &a
		}
	}
	if alert == nil || alert.Number != "A001" || !strings.Contains(alert.Message, "paper_out") {
		t.Fatalf("no unprinted alert: %+v", r.c.Supervision(ctx))
	}
	r.barrier(k, "prn-2") // the bus's own report of the outcome is handled too
	if n := r.counter(r.c.metrics.unprinted); n != 1 {
		t.Fatalf("unprinted counted %v", n)
	}
	// The reprint avoids the printer that failed.
	re, err := r.c.Reprint(ctx, "A001", "kiosk-1", "")
	if err != nil {
		t.Fatal(err)
	}
	cmd := k.next()
	if re.Print != PrintPrinted || cmd.Device != "prn-2" || args[wire.Print](t, cmd).Fields.Number != "A001" {
		t.Fatalf("reprint %+v on %s", re, cmd.Device)
	}
	if len(r.c.Unprinted()) != 0 || len(alertsOf(r.c.Supervision(ctx), "unprinted")) != 0 {
		t.Fatal("still unprinted after the reprint")
	}
	if _, err := r.c.Reprint(ctx, "A001", "kiosk-1", ""); Code(err) != "not_reprintable" {
		t.Fatalf("second reprint: %v", err)
	}
	if _, err := r.c.Reprint(ctx, "Z999", "kiosk-1", ""); Code(err) != "unknown_ticket" {
		t.Fatalf("reprint of an unknown number: %v", err)
	}
	// A ticket that is called is no longer waiting: nothing to reprint.
	k.answer("prn-1", wire.AckFailed, "paper_out")
	t2, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-002"}, "kiosk-1", "prn-1")
	k.next()
	if _, err := r.c.Act(ctx, ActRequest{Window: 3, Action: wire.KeyCallNext}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Reprint(ctx, t2.Number, "kiosk-1", "prn-2"); Code(err) != "not_reprintable" {
		t.Fatalf("reprint of a called ticket: %v", err)
	}
	if len(r.c.Unprinted()) != 0 {
		t.Fatalf("a called ticket is listed as unprinted: %+v", r.c.Unprinted())
	}
}

func alertsOf(as []casesys.Alert, kind string) []casesys.Alert {
	var out []casesys.Alert
	for _, a := range as {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// With no printer online the reprint is refused with a clear code.
func TestReprintWithoutOnlinePrinter(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	k.answer("prn-1", wire.AckFailed, "paper_out")
	ctx := context.Background()
	if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "kiosk-1", "prn-1"); err != nil {
		t.Fatal(err)
	}
	k.next()
	k.status("prn-1", wire.StateFault, "paper_out")
	k.status("prn-2", wire.StateOffline, "")
	if _, err := r.c.Reprint(ctx, "A001", "kiosk-1", ""); Code(err) != "no_printer" {
		t.Fatalf("reprint with no printer online: %v", err)
	}
	// The faulty printer is a manager alert that says what it means.
	faults := alertsOf(r.c.Supervision(ctx), "device_fault")
	if len(faults) != 1 || !strings.Contains(faults[0].Message, "kiosk-1/prn-1") || !strings.Contains(faults[0].Message, "缺纸") {
		t.Fatalf("device fault alerts %+v", faults)
	}
	// The only printer back online takes it, though it failed before.
	k.status("prn-1", wire.StateOnline, "")
	k.answer("prn-1", wire.AckDone, "")
	re, err := r.c.Reprint(ctx, "A001", "kiosk-1", "")
	if err != nil || re.Print != PrintPrinted {
		t.Fatalf("reprint on the refilled printer: %+v %v", re, err)
	}
	if c := k.next(); c.Device != "prn-1" {
		t.Fatalf("reprint went to %s", c.Device)
	}
}

// A printer that never answers: the kiosk is told "pending" (the client
// left, or the wait ran out), and once the command expires the ticket is
// unprinted.
func TestSilentPrinterExpires(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	k.answer("prn-1", "", "")
	gone, cancel := context.WithCancel(context.Background())
	cancel() // the kiosk's request was abandoned: the ticket stays
	tk, err := r.c.Issue(gone, IssueRequest{Item: "HR-001"}, "kiosk-1", "prn-1")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Print != PrintPending || tk.Number != "A001" {
		t.Fatalf("issued %+v", tk)
	}
	k.next()
	if s, _ := r.c.PrintStatus(tk.ID); s != PrintPending {
		t.Fatalf("print status %s, want pending", s)
	}
	if s, _ := r.c.PrintStatus(999); s != "" {
		t.Fatalf("print status of an unknown ticket %q", s)
	}
	r.clock.Advance(time.Duration(r.cfg.Server.CommandTTLS+1) * time.Second)
	r.waitFor("the expired print recorded", func() bool { s, _ := r.c.PrintStatus(tk.ID); return s == PrintFailed })
	if _, code := r.c.PrintStatus(tk.ID); code != wire.AckExpired {
		t.Fatalf("code %q, want expired", code)
	}
	if un := r.c.Unprinted(); len(un) != 1 || un[0].Number != "A001" {
		t.Fatalf("unprinted %+v", un)
	}
}

// A print given up on that its printer answers done later (the ack was
// lost with a broker node, and a re-sent copy was answered from the
// agent's ledger): the applicant holds the ticket, so it is printed after
// all, in the log and off the manager's alerts.
func TestLateDoneAfterGivingUp(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	k.answer("prn-1", "", "")
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	tk, err := r.c.Issue(gone, IssueRequest{Item: "HR-001"}, "kiosk-1", "prn-1")
	if err != nil {
		t.Fatal(err)
	}
	cmd := k.next()
	r.clock.Advance(time.Duration(r.cfg.Server.CommandTTLS+1) * time.Second)
	r.waitFor("the expired print recorded", func() bool { s, _ := r.c.PrintStatus(tk.ID); return s == PrintFailed })
	k.wait(k.c.Publish(wire.Ack(r.cfg.Hall.ID, "kiosk-1", "prn-1"), 1, false, wire.Marshal(wire.AckMsg{ID: cmd.Msg.ID, Status: wire.AckDone})))
	r.waitFor("the late done recorded", func() bool { s, _ := r.c.PrintStatus(tk.ID); return s == PrintPrinted })
	if un := r.c.Unprinted(); len(un) != 0 {
		t.Fatalf("still unprinted: %+v", un)
	}
	recs := r.records(PrintStream)
	if len(recs) != 3 || recs[1].Type != PrintFailed || recs[2].Type != PrintPrinted || recs[2].Key != cmd.Msg.ID+"/late" {
		t.Fatalf("print log %+v", recs)
	}
	if n := r.counter(r.c.metrics.commands.WithLabelValues(wire.CmdPrint, wire.AckDone)); n != 1 {
		t.Fatalf("late done counted %v times", n)
	}
	// A second copy of the late ack changes nothing.
	k.wait(k.c.Publish(wire.Ack(r.cfg.Hall.ID, "kiosk-1", "prn-1"), 1, false, wire.Marshal(wire.AckMsg{ID: cmd.Msg.ID, Status: wire.AckDone})))
	r.barrier(k, "prn-2")
	late := 0
	for _, rec := range r.records(PrintStream) {
		if rec.Key == cmd.Msg.ID+"/late" {
			late++
		}
	}
	if late != 1 {
		t.Fatalf("the late done recorded %d times", late)
	}
}

// A print that times out in Issue's own wait is pending, then recorded
// when the printer answers late.
func TestPrintWaitRunsOut(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, func(o *Options) { o.PrintWait = time.Millisecond })
	r.start()
	k := r.newAgent("kiosk-1", kioskDevices...)
	k.answer("prn-1", "", "")
	tk, err := r.c.Issue(context.Background(), IssueRequest{Item: "HR-001"}, "kiosk-1", "prn-1")
	if err != nil || tk.Print != PrintPending {
		t.Fatalf("issued %+v %v", tk, err)
	}
	cmd := k.next()
	// The printer answers after the wait: the outcome is still recorded.
	k.wait(k.c.Publish(wire.Ack(r.cfg.Hall.ID, "kiosk-1", "prn-1"), 1, false, wire.Marshal(wire.AckMsg{ID: cmd.Msg.ID, Status: wire.AckDone})))
	r.waitFor("the late done recorded", func() bool { s, _ := r.c.PrintStatus(tk.ID); return s == PrintPrinted })
}

// A ticket for the screen only (no printer) is issued without a print.
func TestIssueScreenOnlyAndErrors(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, nil)
	r.openWindows()
	ctx := context.Background()
	tk, err := r.c.Issue(ctx, IssueRequest{Item: "HR-002"}, "", "")
	if err != nil || tk.Print != "" || tk.Number != "B001" || tk.ItemName != "退休审批" {
		t.Fatalf("screen-only ticket %+v %v", tk, err)
	}
	if s, _ := r.c.PrintStatus(tk.ID); s != "" {
		t.Fatalf("print status of a screen-only ticket %q", s)
	}
	if tk.WindowHint != "" || tk.HintWindow != 0 { // windows 1, 2 and 3 may call HR-002: none is promised (issue 11)
		t.Fatalf("window hint %q", tk.WindowHint)
	}
	if _, err := r.c.Issue(ctx, IssueRequest{Item: "NOPE"}, "", ""); Code(err) != "unknown_item" {
		t.Fatalf("unknown item: %v", err)
	}
	if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001", Class: "vip"}, "", ""); Code(err) != "unknown_class" {
		t.Fatalf("unknown class: %v", err)
	}
	if n := len(r.c.Snapshot().Waiting); n != 1 {
		t.Fatalf("waiting %d, want only the issued ticket", n)
	}
	// One live ticket per person and item, unless taken for someone (代办).
	if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001", PersonHash: "p1"}, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001", PersonHash: "p1"}, "", ""); Code(err) != "duplicate_person" {
		t.Fatalf("a second ticket for the same person: %v", err)
	}
	if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001", PersonHash: "p1", Proxy: true}, "", ""); err != nil {
		t.Fatalf("a proxy's second ticket: %v", err)
	}
}

// The elderly priority comes from the card read for the ticket, by the
// hall's elderly_age this year; an explicit class is kept. The card is
// recorded for the case system with its masked forms and hash only.
func TestElderlyFromCard(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, nil)
	r.openWindows()
	ctx := context.Background()
	old := &CardEvent{IDHash: "h-old", MaskedID: "4403**********1234", MaskedName: "张*", BirthYear: 1950}
	young := &CardEvent{IDHash: "h-young", MaskedID: "4403**********5678", MaskedName: "李*", BirthYear: 1990}
	edge := &CardEvent{IDHash: "h-edge", BirthYear: 2026 - 70}
	for _, c := range []struct {
		req  IssueRequest
		want string
	}{
		{IssueRequest{Item: "HR-001", Card: old}, "elderly"},
		{IssueRequest{Item: "HR-001", Card: young}, "walkin"},
		{IssueRequest{Item: "HR-001", Card: edge}, "elderly"},
		{IssueRequest{Item: "HR-001", Card: &CardEvent{IDHash: "h-none"}}, "walkin"},
		{IssueRequest{Item: "HR-001"}, "walkin"},
		{IssueRequest{Item: "HR-001", Class: "green", Card: old}, "green"},
	} {
		tk, err := r.c.Issue(ctx, c.req, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if tk.Class != c.want {
			t.Errorf("card %+v class %q: got %s, want %s", c.req.Card, c.req.Class, tk.Class, c.want)
		}
	}
	ids := r.records(casesys.IdentityStream)
	if len(ids) != 5 {
		t.Fatalf("identity records %d, want one per card", len(ids))
	}
	var id casesys.Identity
	if err := json.Unmarshal(ids[0].Data, &id); err != nil {
		t.Fatal(err)
	}
	if id.Ticket != 1 || id.IDHash != "h-old" || id.MaskedName != "张*" || id.BirthYear != 1950 {
		t.Fatalf("identity %+v", id)
	}
	// Priority by class head start: green, then the elderly, then walk-ins.
	for i, want := range []string{"A006", "A001", "A003", "A002"} {
		w := 1 + i%2
		if i >= 2 {
			if _, err := r.c.Act(ctx, ActRequest{Window: w, Action: wire.KeyStart}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := r.c.Act(ctx, ActRequest{Window: w, Action: wire.KeyCallNext})
		if err != nil {
			t.Fatal(err)
		}
		if res.Called == nil || res.Called.Number != want {
			t.Fatalf("call %d: %+v, want %s", i+1, res.Called, want)
		}
	}
}

// The printer of a ticket: the one named, else the agent's first printer
// that is online and not faulty, else its first.
func TestPrinterOf(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	pick := func(named string) string {
		t.Helper()
		p, ok := r.c.PrinterOf("kiosk-1", named)
		if !ok {
			t.Fatalf("no printer for %q", named)
		}
		return p.Device.ID
	}
	if got := pick(""); got != "prn-1" {
		t.Fatalf("first printer: %s", got)
	}
	if got := pick("prn-2"); got != "prn-2" {
		t.Fatalf("named printer: %s", got)
	}
	k.status("prn-1", wire.StateFault, "paper_out")
	if got := pick(""); got != "prn-2" {
		t.Fatalf("with prn-1 out of paper: %s", got)
	}
	k.status("prn-2", wire.StateOffline, "")
	if got := pick(""); got != "prn-1" {
		t.Fatalf("with none working, the first: %s", got)
	}
	if _, ok := r.c.PrinterOf("kiosk-1", "prn-9"); ok {
		t.Fatal("an unknown printer name was found")
	}
	if _, ok := r.c.PrinterOf("nobody", ""); ok {
		t.Fatal("a printer of an unknown agent was found")
	}
}

// A button press issues a ticket and prints it on the button's printer; a
// redelivered press issues nothing more.
func TestButtonPress(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	// A button without a printer on its agent: the press is refused.
	lone := r.newAgent("lone-1",
		wire.DeviceInfo{ID: "btn-9", Kind: wire.KindButton, Item: "HR-001"},
		wire.DeviceInfo{ID: "key-9", Kind: wire.KindKeypad, Window: 2})
	lone.emit("btn-9", wire.EvtPress, wire.Press{Item: "HR-001"})
	lone.emit("key-9", wire.EvtKey, wire.Key{Action: wire.KeyPause, Arg: "break"})
	r.waitFor("window 2 paused from its keypad", func() bool { return r.window(2).State == "paused" })
	if n := len(r.c.Snapshot().Waiting); n != 0 {
		t.Fatalf("a press without a printer issued %d tickets", n)
	}
	if n := r.counter(r.c.metrics.rejected.WithLabelValues("event", "handler")); n != 1 {
		t.Fatalf("rejected events %v, want 1", n)
	}

	k.mu.Lock()
	k.seq++
	ev := wire.NewEvent(r.clock.Now(), "s1", k.seq, wire.Press{Item: "HR-001"})
	k.mu.Unlock()
	k.emitMsg("btn-1", wire.EvtPress, ev)
	cmd := k.next()
	if cmd.Device != "prn-2" || args[wire.Print](t, cmd).Fields.Number != "A001" {
		t.Fatalf("press printed on %s: %s", cmd.Device, cmd.Msg.Args)
	}
	k.emitMsg("btn-1", wire.EvtPress, ev) // redelivered
	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	cmd = k.next()
	if n := args[wire.Print](t, cmd).Fields.Number; n != "A002" {
		t.Fatalf("second press printed %s", n)
	}
	r.waitFor("the second print recorded", func() bool { s, _ := r.c.PrintStatus(2); return s == PrintPrinted })
	if n := len(r.c.Snapshot().Waiting); n != 2 {
		t.Fatalf("waiting %d, want 2 (the redelivery is not a ticket)", n)
	}
	if n := r.counter(r.c.metrics.dups); n != 1 {
		t.Fatalf("duplicates counted %v", n)
	}
}

// After the hall's hours, with every window closed, a ticket is refused
// with closed_today (the API answered 500: the issued event held +Inf,
// which the log cannot encode), the manager's floor still encodes, and a
// window a manager opens by hand issues again.
func TestIssueAfterHours(t *testing.T) {
	t.Parallel()
	r := newRig(t, strings.Replace(rigHall, `close: "24:00"`, `close: "09:00"`, 1), nil) // 10:00 now: closed
	r.start()
	ctx := context.Background()
	_, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if Code(err) != "closed_today" {
		t.Fatalf("after hours: %v (code %q), want closed_today", err, Code(err))
	}
	if n := len(r.c.Snapshot().Waiting); n != 0 {
		t.Fatalf("%d tickets waiting after a refusal", n)
	}
	if _, err := json.Marshal(r.c.ManagerFloor()); err != nil {
		t.Fatalf("manager floor after hours: %v", err)
	}
	if _, err := r.c.Manage(ctx, ManagerAction{Type: "open", Window: 1}); err != nil {
		t.Fatal(err)
	}
	tk, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if err != nil || tk.P50S < 0 {
		t.Fatalf("with window 1 opened by hand: %+v, %v", tk, err)
	}
}
