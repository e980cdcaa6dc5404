package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/web"
	"github.com/servicehall/servicehall/wire"
)

// caseHall is the test hall with a promised item and a case_system section.
const caseHall = `hall: {id: t-hall, name: 测试大厅, hours: {open: "00:00", close: "24:00"}}
departments: [{code: HR, name: 人社}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}
  - {code: HR-002, name: 退休审批, dept: HR, prefix: B, kind: promised, promise_days: 3}
windows:
  - {number: 1, dept: HR, serves: ["*"], zone: east}
  - {number: 2, dept: HR, serves: ["*"], zone: west}
holidays:
  - {date: 2026-11-25, name: 测试假日}
server: {demo: true} # the test agents connect anonymously over loopback
agents:
  - {id: kiosk-1, kiosk: true}
  - {id: third-party, kiosk: true}
  - {id: speakers, zones: [east, west]}
  - {id: window-1, windows: [1]}
  - {id: window-2, windows: [2]}
`

const inboundSecret = "inbound-secret-0123456789"

func caseConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	c, err := config.Parse("cases.yaml", []byte(caseHall+extra))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startWith runs hallctl with cfg (and clock, if not nil) in dir.
func startWith(t *testing.T, dir string, cfg *config.Config, clock clockwork.Clock) (*App, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := Start(ctx, Options{Config: cfg, Logger: quietLogger(), Clock: clock, MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: dir})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Controller.Connected():
	case <-time.After(10 * time.Second):
		t.Fatal("controller did not connect to its broker")
	}
	var once sync.Once
	return a, func() {
		once.Do(func() {
			cancel()
			<-done
			a.Close()
		})
	}
}

// waitOpen waits until the hours scheduler has opened window n.
func waitOpen(t *testing.T, a *App, n int) {
	t.Helper()
	sub := a.Controller.Subscribe(256)
	defer sub.Close()
	deadline := time.After(10 * time.Second)
	for {
		open := false
		a.Controller.View(func(e *queue.Engine) {
			v, ok := e.Window(n)
			open = ok && v.State == "open"
		})
		if open {
			return
		}
		select {
		case <-sub.C:
		case <-deadline:
			t.Fatalf("window %d never opened", n)
		}
	}
}

// serve issues a ticket and takes it through call, start and finish at
// window w (the finish is skipped when finish is false).
func serve(t *testing.T, a *App, item string, w int, finish bool) ctl.Issued {
	t.Helper()
	ctx := context.Background()
	tk, err := a.Controller.Issue(ctx, ctl.IssueRequest{Item: item}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	acts := []string{wire.KeyCallNext, wire.KeyStart}
	if finish {
		acts = append(acts, wire.KeyFinish)
	}
	for _, act := range acts {
		if _, err := a.Controller.Act(ctx, ctl.ActRequest{Window: w, Action: act}); err != nil {
			t.Fatalf("%s at window %d: %v", act, w, err)
		}
	}
	return tk
}

func serialOf(t *testing.T, a *App, ticket int64) string {
	t.Helper()
	kvs, err := a.Store.List(context.Background(), casesys.CasesBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		var c casesys.Case
		if err := json.Unmarshal(kv.Val, &c); err == nil && c.Ticket == ticket {
			return c.Serial
		}
	}
	t.Fatalf("ticket %d has no case", ticket)
	return ""
}

func managerToken(t *testing.T, dir string, now time.Time) string {
	t.Helper()
	keys, err := auth.Open(dir, "t-hall", false)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := keys.Sign(auth.Claims{Role: auth.RoleManager, Subject: "m01", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func call(t *testing.T, method, url, token string, body []byte, hdr http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// A ticket whose service starts gets a case serial and a receipt printed
// on the window's own printer with the serial and its QR link; a promised
// item's due date skips the weekend and the configured holiday.
func TestStartedTicketPrintsReceipt(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	// Monday 2026-11-23 10:00: promise_days 3 skips Wed 25th (holiday).
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 10, 0, 0, 0, sh))
	a, stop := startWith(t, t.TempDir(), caseConfig(t, "case_system: {region: \"440300\"}\n"), clock)
	defer stop()
	w := newDevice(t, a.BrokerURL(), "t-hall", "window-1", []wire.DeviceInfo{
		{ID: "caller-1", Kind: wire.KindKeypad, Window: 1},
		{ID: "printer-w1", Kind: wire.KindPrinter, Window: 1},
	})
	w.now = clock.Now
	waitRegistered(t, a, "window-1", 2)
	waitOpen(t, a, 1)
	if _, err := a.Controller.Issue(context.Background(), ctl.IssueRequest{Item: "HR-002"}, "", ""); err != nil {
		t.Fatal(err)
	}
	w.emit("caller-1", wire.EvtKey, wire.Key{Action: wire.KeyCallNext})
	w.emit("caller-1", wire.EvtKey, wire.Key{Action: wire.KeyStart})
	c := w.nextCmd(t)
	if c.Device != "printer-w1" || c.Name != wire.CmdPrint {
		t.Fatalf("got %s/%s, want printer-w1/print", c.Device, c.Name)
	}
	var p wire.Print
	if err := wire.DecodeArgs(c.Msg.Args, &p); err != nil {
		t.Fatal(err)
	}
	const want = "440300HR-00220261123000001"
	if p.Template != wire.TemplateReceipt || p.Fields.Serial != want || p.Fields.Number != "B001" {
		t.Fatalf("receipt: %+v", p)
	}
	k := a.Controller.CaseCheck(want)
	if p.Fields.Check != k || len(k) != ctl.CaseCheckDigits || p.Fields.QR != a.Controller.Config().Server.PublicURL+"/c/"+want+"?k="+k {
		t.Errorf("QR %q, check %q (want %q)", p.Fields.QR, p.Fields.Check, k)
	}
	if !strings.Contains(p.Fields.WindowHint, "2026-11-27") {
		t.Errorf("due date (Mon + 3 working days, Wed off) not on the receipt: %q", p.Fields.WindowHint)
	}
	base := "http://" + a.HTTPAddr()
	code, _, body := call(t, "GET", base+"/api/v1/cases/"+want+"?k="+k, "", nil, nil)
	if code != 200 || !strings.Contains(string(body), `"status":"accepted"`) || !strings.Contains(string(body), `"due":"2026-11-27"`) {
		t.Fatalf("kiosk lookup: %d %s", code, body)
	}
	if code, _, body := call(t, "GET", base+"/c/"+want+"?k="+k, "", nil, nil); code != 200 || !strings.Contains(string(body), want) {
		t.Errorf("QR page: %d %s", code, body)
	}
	// Without the check code the page and the API answer as for an
	// unknown case.
	if code, _, body := call(t, "GET", base+"/api/v1/cases/"+want, "", nil, nil); code != 404 || !strings.Contains(string(body), "unknown_case") {
		t.Errorf("look-up without the code: %d %s", code, body)
	}
	if code, _, _ := call(t, "GET", base+"/c/"+want, "", nil, nil); code != 404 {
		t.Errorf("QR page without the code: %d", code)
	}
	if code, _, _ := call(t, "GET", base+"/c/440300HR-00220261123000099", "", nil, nil); code != 404 {
		t.Errorf("QR page of an unknown case: %d", code)
	}
}

// A status push with a valid signature changes what the kiosk lookup
// shows; a bad signature, an unknown case and a stale status change
// nothing.
func TestCaseStatusPushNeedsSignature(t *testing.T) {
	dir := t.TempDir()
	a, stop := startWith(t, dir, caseConfig(t, "case_system: {inbound_secret: "+inboundSecret+"}\n"), nil)
	defer stop()
	waitOpen(t, a, 1)
	tk := serve(t, a, "HR-001", 1, false)
	serial := serialOf(t, a, tk.ID)
	base := "http://" + a.HTTPAddr()
	status := func() string {
		code, _, b := call(t, "GET", base+"/api/v1/cases/"+serial+"?k="+a.Controller.CaseCheck(serial), "", nil, nil)
		var p casesys.PublicProgress
		if code != 200 || json.Unmarshal(b, &p) != nil {
			t.Fatalf("lookup: %d %s", code, b)
		}
		return string(p.Status)
	}
	nonce := 0
	push := func(serial string, body string, secret string) (int, []byte) {
		h := http.Header{}
		now := time.Now()
		nonce++
		h.Set(casesys.HeaderTimestamp, fmt.Sprint(now.Unix()))
		h.Set(casesys.HeaderNonce, fmt.Sprintf("app-test-nonce-%04d", nonce))
		h.Set(casesys.HeaderSignature, casesys.SignPush([]byte(secret), "POST", "/api/v1/cases/"+serial+"/status",
			fmt.Sprint(now.Unix()), h.Get(casesys.HeaderNonce), []byte(body)))
		code, _, b := call(t, "POST", base+"/api/v1/cases/"+serial+"/status", "", []byte(body), h)
		return code, b
	}
	at := time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)
	if code, b := push(serial, `{"status":"in_review","at":"`+at+`"}`, "wrong-secret-0123456789"); code != 401 || !strings.Contains(string(b), "bad_signature") {
		t.Fatalf("bad signature: %d %s", code, b)
	}
	if s := status(); s != "accepted" {
		t.Fatalf("after a bad signature the status is %s", s)
	}
	const note = "张三 13812345678 补交材料"
	if code, b := push(serial, `{"status":"in_review","at":"`+at+`","note":"`+note+`"}`, inboundSecret); code != 200 {
		t.Fatalf("signed push: %d %s", code, b)
	}
	if s := status(); s != "in_review" {
		t.Fatalf("after a signed push the status is %s", s)
	}
	if code, b := push(serial, `{"status":"accepted","at":"`+at+`"}`, inboundSecret); code != 409 || !strings.Contains(string(b), "stale_status") {
		t.Errorf("stale push: %d %s", code, b)
	}
	if code, _ := push("000000HR-00120200101000001", `{"status":"approved"}`, inboundSecret); code != 404 {
		t.Errorf("unknown case: %d", code)
	}
	if s := status(); s != "in_review" {
		t.Fatalf("refused pushes changed the status to %s", s)
	}
	// Finding "free-text notes (a name, a phone number) are shown on the
	// public page": neither the page nor the public API shows the note.
	k := a.Controller.CaseCheck(serial)
	code, _, page := call(t, "GET", base+"/c/"+serial+"?k="+k, "", nil, nil)
	if code != 200 || !strings.Contains(string(page), `data-status="in_review"`) {
		t.Errorf("QR page after push: %d %s", code, page)
	}
	_, _, apiBody := call(t, "GET", base+"/api/v1/cases/"+serial+"?k="+k, "", nil, nil)
	for _, leak := range []string{"张三", "13812345678"} {
		if strings.Contains(string(page), leak) || strings.Contains(string(apiBody), leak) {
			t.Errorf("the public answer shows %q:\n%s\n%s", leak, page, apiBody)
		}
	}
	// The case-check key is a file of its own, 0600.
	if fi, err := os.Stat(filepath.Join(dir, ctl.CaseKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("case-check key: %v %v", fi, err)
	}
}

// receiver is a fake case system that verifies signatures, honours the
// idempotency key and can be told to fail.
type receiver struct {
	mu     sync.Mutex
	secret []byte
	fail   bool
	seen   map[string]bool
	events []casesys.Event
	tries  int
	got    chan struct{}
}

func newReceiver(secret string) *receiver {
	return &receiver{secret: []byte(secret), seen: map[string]bool{}, got: make(chan struct{}, 1000)}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if err := casesys.Verify(r.Header, rc.secret, time.Now(), b); err != nil {
		http.Error(w, err.Error(), 401)
		return
	}
	rc.mu.Lock()
	defer func() {
		rc.mu.Unlock()
		select {
		case rc.got <- struct{}{}:
		default:
		}
	}()
	rc.tries++
	if rc.fail {
		http.Error(w, "down", 503)
		return
	}
	key := r.Header.Get(casesys.HeaderIdempotency)
	if rc.seen[key] {
		return
	}
	var ev casesys.Event
	if err := json.Unmarshal(b, &ev); err != nil || ev.ID != key {
		http.Error(w, "bad event", 400)
		return
	}
	rc.seen[key] = true
	rc.events = append(rc.events, ev)
}

// waitFor waits until cond holds over the receiver's state.
func (rc *receiver) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		rc.mu.Lock()
		ok := cond()
		rc.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-rc.got:
		case <-deadline:
			rc.mu.Lock()
			defer rc.mu.Unlock()
			t.Fatalf("timed out waiting for %s; got %d events, %d tries", what, len(rc.events), rc.tries)
		}
	}
}

func (rc *receiver) types(ticket string) []string {
	var out []string
	for _, ev := range rc.events {
		if ev.Case == ticket {
			out = append(out, ev.Type)
		}
	}
	return out
}

// With a webhook configured, case events reach the case system signed,
// once each and in order per case, and the ones pending when hallctl
// stops are delivered after it restarts.
func TestWebhookDeliversInOrderAcrossRestart(t *testing.T) {
	const secret = "webhook-secret-0123456789"
	rc := newReceiver(secret)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	extra := fmt.Sprintf("case_system:\n  webhook: {url: %q, secret: %q, backoff_s: 0.05, max_backoff_s: 0.2}\n", srv.URL, secret)
	dir := t.TempDir()
	a, stop := startWith(t, dir, caseConfig(t, extra), nil)
	waitOpen(t, a, 1)
	tk := serve(t, a, "HR-001", 1, true)
	if _, err := a.Controller.Rate(context.Background(), tk.ID, 5, "api", ""); err != nil {
		t.Fatal(err)
	}
	want1 := []string{casesys.EvTicketIssued, casesys.EvTicketCalled, casesys.EvTicketStarted, casesys.EvCaseAccepted,
		casesys.EvTicketFinished, casesys.EvRatingGiven}
	rc.waitFor(t, "ticket 1's events", func() bool { return len(rc.types("ticket-1")) >= len(want1) })
	rc.mu.Lock()
	if got := rc.types("ticket-1"); strings.Join(got, ",") != strings.Join(want1, ",") {
		t.Errorf("ticket 1 events %v, want %v", got, want1)
	}
	for _, ev := range rc.events {
		if ev.Type == casesys.EvCaseAccepted && !regexp.MustCompile(`^000000HR-001\d{8}000001$`).MatchString(ev.Serial) {
			t.Errorf("case.accepted serial %q", ev.Serial)
		}
	}
	rc.fail = true
	tries := rc.tries
	rc.mu.Unlock()

	// The case system is down: ticket 2's events wait in the outbox.
	serve(t, a, "HR-001", 2, false)
	rc.waitFor(t, "a failed attempt", func() bool { return rc.tries > tries })
	stop()
	if n := len(rc.types("ticket-2")); n != 0 {
		t.Fatalf("ticket 2 delivered while the case system was down: %d", n)
	}
	rc.mu.Lock()
	rc.fail = false
	rc.mu.Unlock()

	a2, stop2 := startWith(t, dir, caseConfig(t, extra), nil)
	defer stop2()
	want2 := []string{casesys.EvTicketIssued, casesys.EvTicketCalled, casesys.EvTicketStarted, casesys.EvCaseAccepted}
	rc.waitFor(t, "ticket 2's events after the restart", func() bool { return len(rc.types("ticket-2")) >= len(want2) })
	rc.mu.Lock()
	if got := rc.types("ticket-2"); strings.Join(got, ",") != strings.Join(want2, ",") {
		t.Errorf("ticket 2 events %v, want %v", got, want2)
	}
	last := map[string]int64{}
	for _, ev := range rc.events {
		if ev.Seq <= last[ev.Case] {
			t.Errorf("case %s: event seq %d after %d", ev.Case, ev.Seq, last[ev.Case])
		}
		last[ev.Case] = ev.Seq
	}
	rc.mu.Unlock()
	if s := a2.Controller.Outbox().Stats(); s.Dead != 0 {
		t.Errorf("dead letters: %+v", s)
	}
}

// A rating of 1 is a manager alert and a follow-up with a deadline that
// the manager closes.
func TestLowRatingAlertAndFollowUp(t *testing.T) {
	dir := t.TempDir()
	a, stop := startWith(t, dir, caseConfig(t, ""), nil)
	defer stop()
	waitOpen(t, a, 1)
	serve(t, a, "HR-001", 1, true)
	base := "http://" + a.HTTPAddr()
	tk, _ := a.Controller.FindTicket("A001")
	check := a.Controller.TicketCode(tk.ID, tk.Number, tk.IssuedAt)
	if code, _, b := call(t, "POST", base+"/api/v1/tickets/A001/rating", "", []byte(`{"level":1,"check":"`+check+`"}`), nil); code != 201 {
		t.Fatalf("rating: %d %s", code, b)
	}
	tok := managerToken(t, dir, time.Now())
	code, _, b := call(t, "GET", base+"/api/v1/manager/alerts", tok, nil, nil)
	var al struct{ Alerts []web.Alert }
	if code != 200 || json.Unmarshal(b, &al) != nil {
		t.Fatalf("alerts: %d %s", code, b)
	}
	found := false
	for _, x := range al.Alerts {
		found = found || x.Kind == "rating" && x.Subject == "A001"
	}
	if !found {
		t.Errorf("no rating alert: %s", b)
	}
	code, _, b = call(t, "GET", base+"/api/v1/manager/followups", tok, nil, nil)
	var fs []casesys.FollowUp
	if code != 200 || json.Unmarshal(b, &fs) != nil || len(fs) != 1 {
		t.Fatalf("follow-ups: %d %s", code, b)
	}
	f := fs[0]
	if f.Number != "A001" || f.Level != 1 || f.Window != 1 || f.Serial == "" || f.Deadline == "" || f.Closed || f.Overdue {
		t.Errorf("follow-up: %+v", f)
	}
	path := fmt.Sprintf("%s/api/v1/manager/followups/%d/close", base, f.Ticket)
	if code, _, b := call(t, "POST", path, tok, []byte(`{"note":"已回访"}`), nil); code != 200 || !strings.Contains(string(b), `"closed":true`) {
		t.Fatalf("close: %d %s", code, b)
	}
	if code, _, b := call(t, "POST", path, tok, []byte(`{"note":"again"}`), nil); code != 409 || !strings.Contains(string(b), "followup_closed") {
		t.Errorf("second close: %d %s", code, b)
	}
	code, _, b = call(t, "GET", base+"/api/v1/manager/alerts", tok, nil, nil)
	if code != 200 || strings.Contains(string(b), `"kind":"rating"`) {
		t.Errorf("closed follow-up still alerts: %s", b)
	}
}

// The reports route's CSV matches a small day computed by hand.
func TestReportCSVMatchesHandComputedDay(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 9, 0, 0, 0, sh))
	dir := t.TempDir()
	a, stop := startWith(t, dir, caseConfig(t, ""), clock)
	defer stop()
	waitOpen(t, a, 1)
	waitOpen(t, a, 2)
	ctx := context.Background()
	c := a.Controller
	at := func(hh, mm int) { clock.Advance(time.Date(2026, 11, 23, hh, mm, 0, 0, sh).Sub(clock.Now())) }
	act := func(w int, action string) {
		t.Helper()
		if _, err := c.Act(ctx, ctl.ActRequest{Window: w, Action: action}); err != nil {
			t.Fatalf("%s at %d: %v", action, w, err)
		}
	}
	issue := func() ctl.Issued {
		t.Helper()
		tk, err := c.Issue(ctx, ctl.IssueRequest{Item: "HR-001"}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	a1 := issue() // 09:00
	issue()       // 09:00 A002
	at(9, 5)
	act(1, wire.KeyCallNext) // A001 waited 300 s
	at(9, 6)
	act(1, wire.KeyStart)
	at(9, 10)
	act(2, wire.KeyCallNext) // A002 waited 600 s
	at(9, 12)
	act(2, wire.KeyNoShow)
	at(9, 16)
	act(1, wire.KeyFinish) // A001 served in 600 s
	at(9, 20)
	issue() // A003, never called
	if _, err := c.Rate(ctx, a1.ID, 4, "api", ""); err != nil {
		t.Fatal(err)
	}
	tok := managerToken(t, dir, clock.Now())
	base := "http://" + a.HTTPAddr()
	code, h, b := call(t, "GET", base+"/api/v1/manager/reports?from=2026-11-23&by=item&format=csv&headers=keys", tok, nil, nil)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
		t.Fatalf("report: %d %s", code, b)
	}
	want := "period,group,name,tickets,served,no_shows,mean_wait_s,p90_wait_s,mean_service_s,completed,on_time_rate,early_rate,rating_1,rating_2,rating_3,rating_4,rating_5,satisfaction," +
		"good_rate,bad_rate,rectify_rate,named_rectify_rate,due,due_on_time_rate,mean_rating,appeals_accepted\n" +
		"2026-11-23,HR-001,社保卡,3,1,1,450,600,600,0,,,0,0,0,1,0,1,1,0,,,0,,4,0\n"
	if string(b) != want {
		t.Errorf("by item:\n%s\nwant\n%s", b, want)
	}
	_, _, b = call(t, "GET", base+"/api/v1/manager/reports?from=2026-11-23&by=window&format=csv&headers=keys", tok, nil, nil)
	wantRows := []string{
		"2026-11-23,1,1号窗口,1,1,0,300,300,600,0,,,0,0,0,1,0,1,1,0,,,0,,4,0",
		"2026-11-23,2,2号窗口,1,0,1,600,600,,0,,,0,0,0,0,0,,,,,,0,,,0",
		"2026-11-23,-,,1,0,0,,,,0,,,0,0,0,0,0,,,,,,0,,,0",
	}
	if got := strings.Split(strings.TrimSpace(string(b)), "\n")[1:]; strings.Join(got, "\n") != strings.Join(wantRows, "\n") {
		t.Errorf("by window:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantRows, "\n"))
	}
	if code, _, b := call(t, "GET", base+"/api/v1/manager/reports?from=2026-11-23&by=nope", tok, nil, nil); code != 400 || !strings.Contains(string(b), "bad_report") {
		t.Errorf("bad report options: %d %s", code, b)
	}
	if code, h, _ := call(t, "GET", base+"/api/v1/manager/reports?from=2026-11-23&format=xlsx", tok, nil, nil); code != 200 || !strings.Contains(h.Get("Content-Type"), "spreadsheet") {
		t.Errorf("xlsx: %d %s", code, h.Get("Content-Type"))
	}
}

// A window paused past supervision.pause_min is a supervision alert in the
// manager's alerts and in the metrics.
func TestPausedWindowIsSupervisionAlert(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 9, 0, 0, 0, sh))
	dir := t.TempDir()
	a, stop := startWith(t, dir, caseConfig(t, "case_system: {supervision: {pause_min: 10}}\n"), clock)
	defer stop()
	waitOpen(t, a, 2)
	if _, err := a.Controller.Act(context.Background(), ctl.ActRequest{Window: 2, Action: wire.KeyPause, Arg: "午休"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(12 * time.Minute)
	base := "http://" + a.HTTPAddr()
	_, _, b := call(t, "GET", base+"/api/v1/manager/alerts", managerToken(t, dir, clock.Now()), nil, nil)
	var al struct {
		Alerts      []web.Alert
		Supervision []casesys.Alert
	}
	if err := json.Unmarshal(b, &al); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range al.Alerts {
		found = found || x.Kind == casesys.AlertPaused && x.Subject == "2" && x.Level == "warn"
	}
	if !found || len(al.Supervision) != 1 || al.Supervision[0].Value != 12 {
		t.Errorf("alerts: %s", b)
	}
	if m := get(t, base+"/metrics"); !strings.Contains(m, `servicehall_supervision_alerts{kind="window_paused",severity="warning"} 1`) ||
		!strings.Contains(m, `servicehall_supervision_window_paused_seconds{window="2"} 720`) {
		t.Errorf("metrics lack the supervision alert")
	}
}

// Finding "the public case lookup can be enumerated": over real HTTP, a
// client guessing check codes gets 404 (as for an unknown case) until
// limits.lookups_per_min, then 429 with Retry-After, finds nothing, and
// /metrics counts the refusals and the rate-limited requests.
func TestCaseLookupEnumerationHTTP(t *testing.T) {
	a, stop := startWith(t, t.TempDir(), caseConfig(t, ""), nil)
	defer stop()
	waitOpen(t, a, 1)
	tk := serve(t, a, "HR-001", 1, false)
	serial := serialOf(t, a, tk.ID)
	base := "http://" + a.HTTPAddr()
	per := a.Controller.Config().Limits.LookupsPerMin
	first429 := 0
	for i := 1; i <= 3*per && first429 == 0; i++ {
		code, h, b := call(t, "GET", fmt.Sprintf("%s/api/v1/cases/%s?k=%08d", base, serial, i), "", nil, nil)
		switch code {
		case 404:
			if !strings.Contains(string(b), "unknown_case") {
				t.Fatalf("guess %d: %s", i, b)
			}
		case 429:
			if h.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			first429 = i
		default:
			t.Fatalf("guess %d: %d %s", i, code, b)
		}
	}
	if first429 != per+1 {
		t.Fatalf("first 429 at guess %d, limit %d", first429, per)
	}
	if code, _, _ := call(t, "GET", base+"/c/"+serial+"?k="+a.Controller.CaseCheck(serial), "", nil, nil); code != 429 {
		t.Errorf("the page for a limited client: %d", code)
	}
	m := get(t, base+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`servicehall_case_lookups_total{outcome="refused"} %d`, per),
		`servicehall_case_lookups_total{outcome="rate_limited"} 2`,
		`servicehall_case_lookups_total{outcome="found"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
