package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/report"
	"github.com/servicehall/servicehall/wire"
)

const inboundSecret = "0123456789abcdef-inbound"

const casesHall = rigHall + `case_system: {region: "440300", inbound_secret: "` + inboundSecret + `", follow_up_days: 2}
holidays: [{date: 2026-11-25, name: 测试假日}]
`

// serve starts, at window w, the ticket it calls next, signed in as clerk.
func serve(t *testing.T, r *rig, w int, clerk string) Call {
	t.Helper()
	ctx := context.Background()
	res, err := r.c.Act(ctx, ActRequest{Window: w, Action: wire.KeyCallNext, Clerk: clerk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Act(ctx, ActRequest{Window: w, Action: wire.KeyStart, Clerk: clerk}); err != nil {
		t.Fatal(err)
	}
	return *res.Called
}

func serialOf(t *testing.T, r *rig, ticket int64) string {
	t.Helper()
	for _, rec := range r.records(casesys.CaseStream) {
		var c casesys.Case
		if rec.Type == "accepted" && json.Unmarshal(rec.Data, &c) == nil && c.Ticket == ticket {
			return c.Serial
		}
	}
	t.Fatalf("no case for ticket %d", ticket)
	return ""
}

// A promised case: accepted with a serial of the hall's region and a due
// date in working days (skipping the holiday), its status changed by the
// manager and by a signed push from the case system, overdue once its due
// day has passed.
func TestPromisedCaseProgress(t *testing.T) {
	t.Parallel()
	r := newRig(t, casesHall, nil)
	r.openWindows()
	ctx := context.Background()
	tk, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-002"}, "", "")
	serve(t, r, 3, "clerk-3")
	serial := serialOf(t, r, tk.ID)
	if !strings.HasPrefix(serial, "440300") {
		t.Fatalf("serial %s is not of region 440300", serial)
	}
	p, err := r.c.CaseProgress(ctx, serial)
	// Monday + 5 working days, with Wednesday a holiday: next Tuesday.
	if err != nil || p.Status != casesys.StatusAccepted || p.Due != "2026-12-01" || p.ItemName != "退休审批" {
		t.Fatalf("progress %+v %v", p, err)
	}
	if _, err := r.c.CaseProgress(ctx, "nonsense"); err == nil {
		t.Fatal("a malformed serial was looked up")
	}
	if _, err := r.c.CaseProgress(ctx, serial[:len(serial)-1]+"9"); err == nil {
		t.Fatal("an unknown serial has progress")
	}
	p, err = r.c.SetCaseStatus(ctx, casesys.StatusChange{Serial: serial, Status: casesys.StatusInReview, By: "manager:王"})
	if err != nil || p.Status != casesys.StatusInReview || len(p.History) != 2 || !p.StatusAt.Equal(r.clock.Now().UTC()) {
		t.Fatalf("manager status change: %+v %v", p, err)
	}
	if _, err := r.c.SetCaseStatus(ctx, casesys.StatusChange{Serial: serial, Status: "nope"}); err == nil {
		t.Fatal("an unknown status was accepted")
	}

	// The case system pushes through the inbound API, signed.
	api := r.c.CaseAPI()
	if api == nil {
		t.Fatal("no case API")
	}
	var rec *httptest.ResponseRecorder
	body := []byte(`{"status":"approved","note":"准予"}`)
	req := httptest.NewRequest("POST", "/api/v1/cases/"+serial+"/status", bytes.NewReader(body))
	casesys.SignPushRequest(req, []byte(inboundSecret), r.clock.Now(), "supervision-nonce-01", body)
	rec = httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("signed push: %d %s", rec.Code, rec.Body)
	}
	req = httptest.NewRequest("POST", "/api/v1/cases/"+serial+"/status", bytes.NewReader(body))
	casesys.SignPushRequest(req, []byte("another-secret-of-16"), r.clock.Now(), "supervision-nonce-02", body)
	rec = httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	if rec.Code == 200 {
		t.Fatal("a push signed with another key was taken")
	}
	if p, _ := r.c.CaseProgress(ctx, serial); p.Status != casesys.StatusApproved {
		t.Fatalf("after the push: %s", p.Status)
	}

	// A second promised case left open goes overdue after its due day.
	t2, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-002"}, "", "")
	serve(t, r, 3, "clerk-3")
	s2 := serialOf(t, r, t2.ID)
	r.clock.Advance(7 * 24 * time.Hour) // Monday 30th: due Tuesday
	if due := alertsOf(r.c.Supervision(ctx), casesys.AlertDueSoon); len(due) != 1 || due[0].Serial != s2 {
		t.Fatalf("due soon alerts %+v", due)
	}
	r.clock.Advance(2 * 24 * time.Hour) // Wednesday 2 December
	over := alertsOf(r.c.Supervision(ctx), casesys.AlertOverdue)
	if len(over) != 1 || over[0].Serial != s2 {
		t.Fatalf("overdue alerts %+v (the approved case must not be one)", over)
	}
}

// Waits and pauses beyond the hall's limits are alerts.
func TestWaitAndPauseAlerts(t *testing.T) {
	t.Parallel()
	r := newRig(t, casesHall, nil)
	r.openWindows()
	ctx := context.Background()
	tk, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if _, err := r.c.Manage(ctx, ManagerAction{Type: "pause", Window: 2, Reason: "会议"}); err != nil {
		t.Fatal(err)
	}
	if as := r.c.Supervision(ctx); len(as) != 0 {
		t.Fatalf("alerts at once: %+v", as)
	}
	r.clock.Advance(31 * time.Minute)
	long := alertsOf(r.c.Supervision(ctx), casesys.AlertLongWait)
	if len(long) != 1 || long[0].Ticket != tk.ID || long[0].Severity != "warning" {
		t.Fatalf("long wait alerts %+v", long)
	}
	paused := alertsOf(r.c.Supervision(ctx), casesys.AlertPaused)
	if len(paused) != 1 || paused[0].Window != 2 || paused[0].Severity != "critical" {
		t.Fatalf("pause alerts %+v", paused)
	}
}

// A rating of 2 or less is a follow-up with a deadline in working days;
// a manager closes it once.
func TestLowRatingFollowUp(t *testing.T) {
	t.Parallel()
	r := newRig(t, casesHall, nil)
	r.openWindows()
	ctx := context.Background()
	tk, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	serve(t, r, 1, "clerk-1")
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyFinish}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.CloseFollowUp(ctx, tk.ID, "x", "m"); !errors.Is(err, ErrUnknownFollowUp) {
		t.Fatalf("closing a follow-up that does not exist: %v", err)
	}
	if _, err := r.c.Rate(ctx, tk.ID, 1, "kiosk", ""); err != nil {
		t.Fatal(err)
	}
	fus := r.c.FollowUps(ctx)
	// Monday + 2 working days, Wednesday a holiday: Thursday.
	if len(fus) != 1 || fus[0].Clerk != "clerk-1" || fus[0].Deadline != "2026-11-26" || fus[0].Closed {
		t.Fatalf("follow-ups %+v", fus)
	}
	f, err := r.c.CloseFollowUp(ctx, tk.ID, "已致电回访", "manager:王")
	if err != nil || !f.Closed || f.Note != "已致电回访" {
		t.Fatalf("closed %+v %v", f, err)
	}
	if _, err := r.c.CloseFollowUp(ctx, tk.ID, "again", "m"); !errors.Is(err, ErrFollowUpClosed) {
		t.Fatalf("closing twice: %v", err)
	}
	// A restart keeps it closed.
	r.restart()
	if fus := r.c.FollowUps(ctx); len(fus) != 1 || !fus[0].Closed {
		t.Fatalf("follow-ups after restart %+v", fus)
	}
}

// Reports are computed from the whole log.
func TestReportFromTheLog(t *testing.T) {
	t.Parallel()
	r := newRig(t, casesHall, nil)
	r.openWindows()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	serve(t, r, 1, "clerk-1")
	r.clock.Advance(4 * time.Minute)
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyFinish}); err != nil {
		t.Fatal(err)
	}
	rows, err := r.c.Report(ctx, report.Opts{From: "2026-11-23", To: "2026-11-23", Period: "day", By: "item"})
	if err != nil {
		t.Fatal(err)
	}
	var got *report.Row
	for i := range rows {
		if rows[i].Group == "HR-001" {
			got = &rows[i]
		}
	}
	if got == nil || got.Tickets != 3 || got.Served != 1 || got.Period != "2026-11-23" {
		t.Fatalf("report rows %+v", rows)
	}
	if _, err := r.c.Report(ctx, report.Opts{From: "x"}); !errors.Is(err, report.ErrBadOpts) {
		t.Fatalf("bad report options: %v", err)
	}
}

// With a webhook the case events leave the hall, signed, once durable;
// the raw card record (raw_identity) goes with the identity event, even
// when an earlier event of the ticket is delivered after the card was
// read, and is never stored.
func TestWebhookDeliversCaseEvents(t *testing.T) {
	t.Parallel()
	const secret = "webhook-secret-0123456789"
	got := make(chan casesys.Event, 100)
	gate := make(chan struct{}) // holds the delivery of ticket.called
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		if err := casesys.Verify(req.Header, []byte(secret), rigStart, b); err != nil {
			t.Errorf("webhook signature: %v", err)
		}
		var ev casesys.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Errorf("webhook body %s: %v", b, err)
		}
		if ev.Type == casesys.EvTicketCalled {
			select {
			case <-gate:
			case <-time.After(guard):
			}
		}
		got <- ev
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	hall := rigHall + `case_system: {webhook: {url: "` + srv.URL + `", secret: "` + secret + `"}, raw_identity: true}` + "\n"
	r := newRig(t, hall, nil)
	r.start()
	r.waitFor("windows open", func() bool { return r.window(1).State == "open" })
	if r.c.Outbox() == nil {
		t.Fatal("no outbox with a webhook")
	}
	w := r.newAgent("win-1", windowDevices...)
	ctx := context.Background()
	tk, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyCallNext}); err != nil {
		t.Fatal(err)
	}
	w.nextDoc()
	raw := &wire.CardRaw{Name: "王小明", ID: "440301199001011234"}
	w.emit("id-w1", wire.EvtCard, wire.Card{IDHash: hashOf("h1"), MaskedID: "4403**********1234", MaskedName: "王**", Raw: raw})
	r.waitFor("the card bound", func() bool { return len(r.records(casesys.IdentityStream)) == 1 })
	close(gate)
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyStart}); err != nil {
		t.Fatal(err)
	}
	var accepted, identity *casesys.Event
	for accepted == nil || identity == nil {
		select {
		case ev := <-got:
			switch ev.Type {
			case casesys.EvCaseAccepted:
				accepted = &ev
			case casesys.EvIdentityRead:
				identity = &ev
			}
		case <-time.After(guard):
			t.Fatalf("webhook did not get the acceptance and the identity (accepted %v, identity %v)", accepted, identity)
		}
	}
	if accepted.Ticket != tk.ID || accepted.Serial != serialOf(t, r, tk.ID) || accepted.Hall != "rig" {
		t.Fatalf("accepted event %+v", accepted)
	}
	if identity.Raw == nil || identity.Raw.ID != raw.ID {
		t.Fatalf("identity event without the raw record: %+v", identity)
	}
	for _, rec := range r.records("") {
		if bytes.Contains(rec.Data, []byte(raw.ID)) {
			t.Fatalf("the raw ID number is in the log: %s %s", rec.Stream, rec.Data)
		}
	}
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), "servicehall_outbox_delivered") {
		t.Fatalf("outbox metrics missing: %v", names)
	}
}
