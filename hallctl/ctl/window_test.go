package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/wire"
)

// windowDevices are window 1's: a caller keypad, an LED, a receipt
// printer, a rating pad and an ID reader.
var windowDevices = []wire.DeviceInfo{
	{ID: "key-1", Kind: wire.KindKeypad, Window: 1},
	{ID: "led-1", Kind: wire.KindLED, Window: 1},
	{ID: "prn-w1", Kind: wire.KindPrinter, Window: 1},
	{ID: "pad-1", Kind: wire.KindRating, Window: 1},
	{ID: "id-w1", Kind: wire.KindIDReader, Window: 1},
}

var speakerDevices = []wire.DeviceInfo{
	{ID: "spk-east", Kind: wire.KindSpeaker, Zone: "east"},
	{ID: "spk-west", Kind: wire.KindSpeaker, Zone: "west"},
}

// A window's day from its keypad: the call shows on the window's LED and
// is spoken in its zone only; the start opens a case and prints its
// receipt at the window; the finish opens the rating pad; the rating is
// recorded once.
func TestKeypadServiceCycle(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	w := r.newAgent("win-1", windowDevices...)
	spk := r.newAgent("spk-1", speakerDevices...)
	ctx := context.Background()
	if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-002"}, "", ""); err != nil {
		t.Fatal(err)
	}
	feed := r.c.Subscribe(64)
	defer feed.Close()

	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyCallNext})
	doc := w.nextDoc()
	if doc.Device != "led-1" || strings.Join(doc.Doc.Lines, "|") != "B001|请到1号窗口" || doc.Doc.BlinkS != 5 {
		t.Fatalf("LED document %+v", doc)
	}
	say := spk.next()
	if say.Device != "spk-east" || say.Name != wire.CmdSpeak || args[wire.Speak](t, say).Text != SpeakText("B001", 1) {
		t.Fatalf("announcement %+v %s", say, say.Msg.Args)
	}
	spk.none() // not in the west zone
	if v := r.window(1); v.CurrentNo != "B001" {
		t.Fatalf("window 1 serves %q", v.CurrentNo)
	}

	// A recall shows and says it again, with a newer document.
	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyRecall})
	if d := w.nextDoc(); d.Doc.Version <= doc.Doc.Version {
		t.Fatalf("recall document version %d after %d", d.Doc.Version, doc.Doc.Version)
	}
	if say := spk.next(); say.Device != "spk-east" {
		t.Fatalf("recall announced on %s", say.Device)
	}

	// Start: a case with a serial, its receipt on the window's printer.
	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyStart})
	rc := w.next()
	receipt := args[wire.Print](t, rc)
	if rc.Device != "prn-w1" || receipt.Template != wire.TemplateReceipt || receipt.Fields.Number != "B001" ||
		receipt.Fields.Serial == "" || receipt.Fields.Check != r.c.CaseCheck(receipt.Fields.Serial) ||
		receipt.Fields.QR != "https://hall.example/c/"+receipt.Fields.Serial+"?k="+receipt.Fields.Check ||
		!strings.Contains(receipt.Fields.WindowHint, "承诺办结") {
		t.Fatalf("receipt on %s: %+v", rc.Device, receipt)
	}
	pr, err := r.c.CaseProgress(ctx, receipt.Fields.Serial)
	if err != nil || pr.Status != casesys.StatusAccepted || pr.Item != "HR-002" || pr.Due == "" {
		t.Fatalf("case progress %+v %v", pr, err)
	}

	// Finish: the window's rating pad opens a session for the ticket.
	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyFinish})
	open := w.next()
	ro := args[wire.RatingOpen](t, open)
	if open.Device != "pad-1" || open.Name != wire.CmdRatingOpen || ro.Ticket != "B001" || ro.Window != 1 || ro.Session != "1" {
		t.Fatalf("rating open %s %+v", open.Device, ro)
	}
	w.emit("pad-1", wire.EvtRating, wire.Rating{Session: ro.Session, Level: 2})
	r.waitFor("the rating recorded", func() bool { return r.c.Rated(1) })
	w.emit("pad-1", wire.EvtRating, wire.Rating{Session: ro.Session, Level: 5}) // once per ticket
	w.emit("pad-1", wire.EvtRating, wire.Rating{Session: "B001", Level: 5})     // not a ticket id
	w.emit("key-1", wire.EvtKey, wire.Key{Action: wire.KeyPause, Arg: "午休"})
	r.waitFor("window paused", func() bool { return r.window(1).State == "paused" })
	if recs := r.records(RatingStream); len(recs) != 1 {
		t.Fatalf("ratings recorded %d, want 1", len(recs))
	}
	if n := r.counter(r.c.metrics.ratings.WithLabelValues("2")); n != 1 {
		t.Fatalf("ratings counted %v", n)
	}
	// A low rating is a follow-up for the manager.
	fus := r.c.FollowUps(ctx)
	if len(fus) != 1 || fus[0].Ticket != 1 || fus[0].Level != 2 || fus[0].Serial != receipt.Fields.Serial || fus[0].Closed {
		t.Fatalf("follow-ups %+v", fus)
	}

	// The feed told the hall, in order.
	want := "queue:called queue:recalled queue:started queue:finished rating:rated queue:window_paused"
	var kinds []string
	for range strings.Fields(want) {
		select {
		case ev := <-feed.C:
			kinds = append(kinds, ev.Kind+":"+ev.Type)
		case <-time.After(guard):
			t.Fatalf("feed got only %q", kinds)
		}
	}
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("feed %q\nwant %q", got, want)
	}
	if feed.Lagged() {
		t.Fatal("a feed with room lagged")
	}
}

// A keypad on an agent that does not say its window is refused: its
// claim never enters the registry, so its events are refused by the bus.
func TestKeypadWithoutWindow(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	a := r.newAgent("odd-1", wire.DeviceInfo{ID: "key-x", Kind: wire.KindKeypad},
		wire.DeviceInfo{ID: "key-2", Kind: wire.KindKeypad, Window: 2},
		wire.DeviceInfo{ID: "scan-1", Kind: wire.KindScanner})
	if _, err := r.c.Issue(context.Background(), IssueRequest{Item: "HR-001"}, "", ""); err != nil {
		t.Fatal(err)
	}
	a.emit("key-x", wire.EvtKey, wire.Key{Action: wire.KeyCallNext})
	a.emit("scan-1", wire.EvtScan, wire.Scan{Code: "X1"})
	a.emit("key-2", wire.EvtKey, wire.Key{Action: wire.KeyPause})
	r.waitFor("window 2 paused", func() bool { return r.window(2).State == "paused" })
	if v := r.window(1); v.Current != 0 {
		t.Fatalf("a keypad without a window called %s at window 1", v.CurrentNo)
	}
	if n := r.counter(r.c.metrics.rejected.WithLabelValues("event", refusedNoPlace)); n != 1 {
		t.Fatalf("rejected %v, want 1", n)
	}
	if n := r.counter(r.c.metrics.events.WithLabelValues(wire.EvtScan)); n != 1 {
		t.Fatalf("scan events handled %v", n)
	}
}

// Clerk actions through Act (the clerk console): each with its effect and
// error code, and the clerk signed in once per change.
func TestClerkActions(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, nil)
	r.openWindows()
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	act := func(win int, action, arg string) (ActResult, error) {
		return r.c.Act(ctx, ActRequest{Window: win, Action: action, Arg: arg, Clerk: "clerk-7"})
	}
	res, err := act(1, wire.KeyCallNext, "")
	if err != nil || res.Called == nil || res.Called.Number != "A001" || res.Called.Window != 1 || res.Called.Zone != "east" || res.Called.Recall {
		t.Fatalf("call next: %+v %v", res.Called, err)
	}
	if _, err := act(1, wire.KeyCallNext, ""); Code(err) != "window_busy" {
		t.Fatalf("call next while a ticket is called: %v", err)
	}
	res, err = act(1, wire.KeyRecall, "")
	if err != nil || res.Called == nil || !res.Called.Recall || res.Called.Number != "A001" {
		t.Fatalf("recall: %+v %v", res.Called, err)
	}
	// No-show: A001 goes back behind three waiting tickets.
	if _, err := act(1, wire.KeyNoShow, ""); err != nil {
		t.Fatal(err)
	}
	if tv := r.ticket("A001"); tv.State != queue.Waiting || tv.NoShows != 1 {
		t.Fatalf("after a no-show A001 is %s with %d no-shows", tv.State, tv.NoShows)
	}
	if _, err := act(1, wire.KeyNoShow, ""); Code(err) != "window_idle" {
		t.Fatalf("no-show at an idle window: %v", err)
	}
	res, _ = act(1, wire.KeyCallNext, "")
	if res.Called.Number != "A002" {
		t.Fatalf("after the no-show, called %s", res.Called.Number)
	}
	if _, err := act(1, wire.KeyStart, ""); err != nil {
		t.Fatal(err)
	}
	// "Next" while serving finishes the current applicant first.
	res, err = act(1, wire.KeyCallNext, "")
	if err != nil || res.Called.Number != "A003" || len(res.Events) != 2 || res.Events[0].Type != queue.EvFinished {
		t.Fatalf("next while serving: %+v %v", res, err)
	}
	if tv := r.ticket("A002"); tv.State != queue.Finished {
		t.Fatalf("A002 is %s", tv.State)
	}
	// Transfers: to an item, to a window (two spellings), and refused ones.
	if _, err := act(1, wire.KeyTransfer, "item:HR-002"); err != nil {
		t.Fatal(err)
	}
	if tv := r.ticket("A003"); tv.State != queue.Waiting || tv.Item != "HR-002" {
		t.Fatalf("A003 after transfer to HR-002: %+v", tv)
	}
	res, _ = act(1, wire.KeyCallNext, "")
	if _, err := act(1, wire.KeyTransfer, "window:2"); err != nil {
		t.Fatal(err)
	}
	if tv := r.ticket(res.Called.Number); tv.Window != 2 || tv.State != queue.Waiting {
		t.Fatalf("%s after transfer to window 2: %+v", res.Called.Number, tv)
	}
	res, _ = act(1, wire.KeyCallNext, "")
	if _, err := act(1, wire.KeyTransfer, "3"); err != nil {
		t.Fatalf("transfer to window 3: %v", err)
	}
	for _, bad := range []string{"", "x", "window:0", "window:-2"} {
		if _, err := act(1, wire.KeyTransfer, bad); Code(err) != "bad_transfer" {
			t.Errorf("transfer %q: %v", bad, err)
		}
	}
	if _, err := act(1, "dance", ""); Code(err) != "unknown_action" || !errors.Is(err, ErrUnknownAction) {
		t.Fatalf("unknown action: %v", err)
	}
	if _, err := act(9, wire.KeyCallNext, ""); Code(err) != "unknown_window" {
		t.Fatalf("unknown window: %v", err)
	}
	// Pause and resume.
	if _, err := act(2, wire.KeyPause, "培训"); err != nil {
		t.Fatal(err)
	}
	if v := r.window(2); v.State != "paused" || v.Note != "培训" {
		t.Fatalf("paused window 2: %+v", v)
	}
	if _, err := act(2, wire.KeyCallNext, ""); Code(err) != "window_paused" {
		t.Fatalf("call at a paused window: %v", err)
	}
	if _, err := act(2, wire.KeyResume, ""); err != nil || r.window(2).State != "open" {
		t.Fatalf("resume: %v %s", err, r.window(2).State)
	}
	// A request id acts once.
	if _, err := r.c.Act(ctx, ActRequest{Window: 2, Action: wire.KeyPause, Source: "req-p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Act(ctx, ActRequest{Window: 2, Action: wire.KeyPause, Source: "req-p"}); Code(err) != "duplicate" {
		t.Fatalf("repeated request: %v", err)
	}
	// The clerk was signed in at windows 1 and 2, once each.
	recs := r.records(casesys.ClerkStream)
	if len(recs) != 2 {
		t.Fatalf("clerk records %d, want 2", len(recs))
	}
	var s casesys.ClerkShift
	_ = json.Unmarshal(recs[0].Data, &s)
	if s.Window != 1 || s.Clerk != "clerk-7" {
		t.Fatalf("sign-in %+v", s)
	}
	if n := r.counter(r.c.metrics.actions.WithLabelValues(wire.KeyTransfer, "bad_transfer")); n != 4 {
		t.Fatalf("bad transfers counted %v", n)
	}
}

// Manager actions change the hall and are audited with who did them;
// a refused action changes and audits nothing.
func TestManagerActionsAudited(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, nil)
	ctx := context.Background()
	feed := r.c.Subscribe(0)
	defer feed.Close()
	do := func(a ManagerAction) []queue.Event {
		t.Helper()
		evs, err := r.c.ManageAudited(ctx, a, "mgr-1", "manager")
		if err != nil {
			t.Fatalf("%s: %v", a.Type, err)
		}
		return evs
	}
	do(ManagerAction{Type: "open", Window: 1})
	do(ManagerAction{Type: "open", Window: 2})
	if r.window(1).State != "open" {
		t.Fatal("window 1 not opened")
	}
	do(ManagerAction{Type: "pause", Window: 1, Reason: "会议"})
	if v := r.window(1); v.State != "paused" || v.Note != "会议" {
		t.Fatalf("paused: %+v", v)
	}
	do(ManagerAction{Type: "resume", Window: 1})
	do(ManagerAction{Type: "set_serves", Window: 2, Refs: []string{"HR-002"}})
	if v := r.window(2); strings.Join(v.Serves, ",") != "HR-002" {
		t.Fatalf("serves %v", v.Serves)
	}
	do(ManagerAction{Type: "set_backup", Window: 2, Refs: []string{"HR-001"}})
	if v := r.window(2); strings.Join(v.Backup, ",") != "HR-001" {
		t.Fatalf("backup %v", v.Backup)
	}
	a1, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	a2, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if evs := do(ManagerAction{Type: "move", Tickets: []int64{a1.ID, a2.ID}, ToItem: "HR-002"}); len(evs) != 2 {
		t.Fatalf("move events %d", len(evs))
	}
	if tv := r.ticket(a2.Number); tv.Item != "HR-002" {
		t.Fatalf("moved ticket %+v", tv)
	}
	do(ManagerAction{Type: "close", Window: 1})
	if r.window(1).State != "closed" {
		t.Fatal("window 1 not closed")
	}
	if _, err := r.c.ManageAudited(ctx, ManagerAction{Type: "explode", Window: 1}, "mgr-1", "manager"); Code(err) != "bad_action" {
		t.Fatalf("bad action: %v", err)
	}
	if _, err := r.c.ManageAudited(ctx, ManagerAction{Type: "open", Window: 42}, "mgr-1", "manager"); Code(err) != "unknown_window" {
		t.Fatalf("unknown window: %v", err)
	}
	if _, err := r.c.Manage(ctx, ManagerAction{Type: "pause", Window: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Manage(ctx, ManagerAction{Type: "wat"}); Code(err) != "bad_action" {
		t.Fatalf("bad action: %v", err)
	}
	audit, err := r.c.Audit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range audit {
		if e.Actor != "mgr-1" || e.Role != "manager" || e.At.IsZero() {
			t.Fatalf("audit entry %+v", e)
		}
		types = append(types, e.Action.Type)
	}
	if got := strings.Join(types, " "); got != "close move set_backup set_serves resume pause open open" {
		t.Fatalf("audit newest first: %q", got)
	}
	if audit[1].Events != 2 {
		t.Fatalf("move audited with %d events", audit[1].Events)
	}
	if top, _ := r.c.Audit(ctx, 2); len(top) != 2 || top[0].Action.Type != "close" {
		t.Fatalf("audit limit 2: %+v", top)
	}
	// Every queue change reached the feed once durable.
	n := 0
	for len(feed.C) > 0 {
		<-feed.C
		n++
	}
	if n != 12 { // 9 audited events (move is 2), 2 issues, 1 pause
		t.Fatalf("feed got %d events", n)
	}
}

// The rating API: 1..5, once, only for a served ticket; it survives a
// restart.
func TestRateOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, nil)
	r.openWindows()
	ctx := context.Background()
	tk, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if _, err := r.c.Rate(ctx, tk.ID, 5, "kiosk", ""); Code(err) != "not_rateable" {
		t.Fatalf("rating a waiting ticket: %v", err)
	}
	for _, a := range []string{wire.KeyCallNext, wire.KeyStart, wire.KeyFinish} {
		if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: a}); err != nil {
			t.Fatal(err)
		}
	}
	for _, lv := range []int{0, 6} {
		if _, err := r.c.Rate(ctx, tk.ID, lv, "kiosk", ""); Code(err) != "bad_level" {
			t.Fatalf("level %d: %v", lv, err)
		}
	}
	if _, err := r.c.Rate(ctx, 99, 5, "kiosk", ""); Code(err) != "unknown_ticket" {
		t.Fatalf("unknown ticket: %v", err)
	}
	rt, err := r.c.Rate(ctx, tk.ID, 4, "kiosk", "")
	if err != nil || rt.Level != 4 || rt.Number != "A001" || rt.Window != 1 || rt.Channel != "kiosk" {
		t.Fatalf("rated %+v %v", rt, err)
	}
	if _, err := r.c.Rate(ctx, tk.ID, 1, "api", ""); Code(err) != "already_rated" {
		t.Fatalf("second rating: %v", err)
	}
	// A finished ticket is still found by its number today.
	if tv, ok := r.c.FindTicket(" a001 "); !ok || tv.State != queue.Finished {
		t.Fatalf("find finished ticket: %+v %v", tv, ok)
	}
	if _, ok := r.c.FindTicket("A404"); ok {
		t.Fatal("found a ticket never issued")
	}
	r.restart()
	if !r.c.Rated(tk.ID) {
		t.Fatal("rating forgotten after a restart")
	}
	if _, err := r.c.Rate(ctx, tk.ID, 1, "api", ""); Code(err) != "already_rated" {
		t.Fatalf("rating after restart: %v", err)
	}
}

// A subscriber that does not keep up loses events and is told so; the
// hall is never slowed by it.
func TestFeedLagsAndCloses(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, nil)
	ctx := context.Background()
	slow := r.c.Subscribe(1)
	gone := r.c.Subscribe(4)
	gone.Close()
	for i := 0; i < 3; i++ {
		if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	if ev := <-slow.C; ev.Kind != "queue" || ev.Type != "issued" || ev.Queue.Number != "A001" {
		t.Fatalf("first event %+v", ev)
	}
	if !slow.Lagged() {
		t.Fatal("events were dropped without telling the subscriber")
	}
	if slow.Lagged() {
		t.Fatal("Lagged did not clear")
	}
	if len(gone.C) != 0 {
		t.Fatal("a closed subscription got events")
	}
}

// ID-card reads: a kiosk reader's goes to its card session (masked,
// never raw: a raw record from a kiosk reader is refused); a window
// reader's binds the card to the ticket the window serves.
func TestCardReads(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	w := r.newAgent("win-1", windowDevices...)
	cs, err := r.c.OpenCardSession("kiosk-1")
	if err != nil {
		t.Fatal(err)
	}
	cards, stop, err := r.c.CardReads(cs.ID, cs.Secret, 4)
	if err != nil {
		t.Fatal(err)
	}
	recv := func() CardEvent {
		t.Helper()
		select {
		case ce := <-cards:
			return ce
		case <-time.After(guard):
			t.Fatal("no card event")
		}
		return CardEvent{}
	}
	raw := &wire.CardRaw{Name: "王小明", ID: "440301199001011234"}
	k.emit("id-1", wire.EvtCard, wire.Card{IDHash: hashOf("h0"), MaskedID: "440301********1234", MaskedName: "王**", BirthYear: 1950, Raw: raw})
	k.emit("id-1", wire.EvtCard, wire.Card{IDHash: hashOf("h1"), MaskedID: "440301********1234", MaskedName: "王**", BirthYear: 1950})
	ce := recv()
	if ce.Agent != "kiosk-1" || ce.Device != "id-1" || ce.IDHash != hashOf("h1") || ce.MaskedName != "王**" || !ce.Elderly {
		t.Fatalf("card event %+v", ce)
	}
	if b, _ := json.Marshal(ce); strings.Contains(string(b), "1950") || strings.Contains(string(b), ce.IDHash) {
		t.Fatalf("card event carries the birth year or hash: %s", b)
	}
	tk, _ := r.c.Issue(context.Background(), IssueRequest{Item: "HR-001"}, "", "")
	if _, err := r.c.Act(context.Background(), ActRequest{Window: 1, Action: wire.KeyCallNext}); err != nil {
		t.Fatal(err)
	}
	w.emit("id-w1", wire.EvtCard, wire.Card{IDHash: hashOf("h2"), MaskedID: "110105********0000", MaskedName: "钱*"})
	r.waitFor("the identity bound to the ticket", func() bool { return len(r.records(casesys.IdentityStream)) == 1 })
	recs := r.records(casesys.IdentityStream)
	var id casesys.Identity
	_ = json.Unmarshal(recs[0].Data, &id)
	if id.Ticket != tk.ID || id.Window != 1 || id.IDHash != hashOf("h2") || recs[0].Key != "ticket-"+strconv.FormatInt(tk.ID, 10)+"-w1" {
		t.Fatalf("identity %+v key %s", id, recs[0].Key)
	}
	if strings.Contains(string(recs[0].Data), "440301199001011234") {
		t.Fatal("the raw ID number was stored")
	}
	if len(cards) != 0 {
		t.Fatal("a window reader's read went to the kiosk's card session")
	}
	stop()
	k.emit("id-1", wire.EvtCard, wire.Card{IDHash: hashOf("h3")})
	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	k.next() // the press after the card was handled: so was the card
	if _, ok := <-cards; ok {
		t.Fatal("card events after the listener stopped")
	}
}
