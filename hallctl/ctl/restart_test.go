package ctl

import (
	"context"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/wire"
)

// Close, reopen, same state: the queue, the windows, the prints (an
// unprinted ticket stays unprinted, a print in flight is re-sent with the
// same id), the display documents, the device registry (known before any
// agent speaks), the clerks and the cases (one case per ticket, serials
// never reused).
func TestRestartFromTheLog(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	w := r.newAgent("win-1", windowDevices...)
	ctx := context.Background()

	b1, err := r.c.Issue(ctx, IssueRequest{Item: "HR-002"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	k.answer("prn-1", wire.AckFailed, "paper_out")
	a1, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "kiosk-1", "prn-1")
	k.next()
	k.answer("prn-2", "", "")
	gone, cancel := context.WithCancel(ctx)
	cancel()
	a2, _ := r.c.Issue(gone, IssueRequest{Item: "HR-001"}, "kiosk-1", "prn-2")
	inflight := k.next()

	if _, err := r.c.Act(ctx, ActRequest{Window: 3, Action: wire.KeyCallNext, Clerk: "clerk-3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Act(ctx, ActRequest{Window: 3, Action: wire.KeyStart, Clerk: "clerk-3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyCallNext, Clerk: "clerk-1"}); err != nil {
		t.Fatal(err)
	}
	doc := w.nextDoc()
	var serial string
	for _, rec := range r.records("case") {
		serial = rec.Key
	}
	if serial == "" {
		t.Fatal("no case opened at the start")
	}
	r.waitFor("the agents' births kept", func() bool {
		_, e1 := r.st.Get(ctx, registryBucket, "kiosk-1")
		_, e2 := r.st.Get(ctx, registryBucket, "win-1")
		return e1 == nil && e2 == nil
	})
	before := r.c.Snapshot()

	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	r.restart() // not running: what a restart knows before any message
	after := r.c.Snapshot()
	if len(after.Waiting) != len(before.Waiting) {
		t.Fatalf("waiting %d after restart, %d before", len(after.Waiting), len(before.Waiting))
	}
	for i := range before.Waiting {
		if before.Waiting[i].Number != after.Waiting[i].Number {
			t.Fatalf("waiting order changed: %+v vs %+v", before.Waiting, after.Waiting)
		}
	}
	for i := range before.Windows {
		bw, aw := before.Windows[i], after.Windows[i]
		if bw.State != aw.State || bw.CurrentNo != aw.CurrentNo {
			t.Fatalf("window %d: %+v before, %+v after", bw.Number, bw, aw)
		}
	}
	if s, code := r.c.PrintStatus(a1.ID); s != PrintFailed || code != "paper_out" {
		t.Fatalf("%s print after restart: %s %s", a1.Number, s, code)
	}
	if s, _ := r.c.PrintStatus(a2.ID); s != PrintPending {
		t.Fatalf("%s print after restart: %s", a2.Number, s)
	}
	if s, _ := r.c.PrintStatus(b1.ID); s != "" {
		t.Fatalf("%s (never printed) after restart: %q", b1.Number, s)
	}
	if p, ok := r.c.PrinterOf("kiosk-1", ""); !ok || p.Device.ID != "prn-1" || p.Online {
		t.Fatalf("registry before the agents speak: %+v %v", p, ok)
	}
	if pend, err := r.c.ListPending(ctx); err != nil || len(pend) != 1 || pend[0].Msg.ID != inflight.Msg.ID {
		t.Fatalf("pending commands %+v %v", pend, err)
	}

	// Running again: the print in flight is sent again with its id, the
	// LED gets its document again.
	k.answer("prn-2", wire.AckDone, "")
	r.start()
	if again := k.next(); again.Msg.ID != inflight.Msg.ID {
		t.Fatalf("re-sent %s, want %s", again.Msg.ID, inflight.Msg.ID)
	}
	r.waitFor("the re-sent print recorded", func() bool { s, _ := r.c.PrintStatus(a2.ID); return s == PrintPrinted })
	if d := w.nextDoc(); d.Doc.Version != doc.Doc.Version || d.Doc.Lines[0] != doc.Doc.Lines[0] {
		t.Fatalf("display after restart %+v, before %+v", d, doc)
	}
	// One case per ticket: B001 sent back to its line and started again
	// opens no second case; the next case has a new serial.
	if _, err := r.c.Act(ctx, ActRequest{Window: 3, Action: wire.KeyTransfer, Arg: "item:HR-002"}); err != nil {
		t.Fatal(err)
	}
	if res, err := r.c.Act(ctx, ActRequest{Window: 3, Action: wire.KeyCallNext}); err != nil || res.Called.Number != b1.Number {
		t.Fatalf("window 3 called %+v, %v; want the transferred %s", res.Called, err, b1.Number)
	}
	if _, err := r.c.Act(ctx, ActRequest{Window: 3, Action: wire.KeyStart}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyStart}); err != nil {
		t.Fatal(err)
	}
	var serials []string
	for _, rec := range r.records("case") {
		if rec.Type == "accepted" {
			serials = append(serials, rec.Key)
		}
	}
	if len(serials) != 2 || serials[0] != serial || serials[1] == serial {
		t.Fatalf("cases %v (first %s)", serials, serial)
	}
	// The clerk signed in before the restart is on the second case's
	// window only if it was theirs: window 1's case names clerk-1.
	var found bool
	for _, rec := range r.records("case") {
		if rec.Key == serials[1] {
			found = strings.Contains(string(rec.Data), `"clerk":"clerk-1"`)
		}
	}
	if !found {
		t.Fatal("the clerk signed in before the restart is not on the case")
	}
}
