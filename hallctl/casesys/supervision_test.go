package casesys

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/servicehall/servicehall/hallctl/store"
)

// supRig is a hall's store with the monitor, the alert log and the
// supervision outbox as the controller wires them, restartable.
type supRig struct {
	t    *testing.T
	fc   *clockwork.FakeClock
	path string
	url  string
	st   *store.Log
	mon  *Monitor
	al   *AlertLog
	ob   *Outbox
}

func (r *supRig) open() {
	r.t.Helper()
	ctx := context.Background()
	r.st = openStore(r.t, r.path)
	hall := testHall(r.t)
	cal, _ := NewCalendar(holidays)
	l := NewLedger(hall)
	if err := r.st.Read(ctx, "", 0, func(rec store.Record) error { l.Apply(rec); return nil }); err != nil {
		r.t.Fatal(err)
	}
	r.mon = NewMonitor(l, Config{}, cal, r.fc.Now)
	r.al = NewAlertLog(r.st, r.mon.Alerts, r.fc.Now, hall.Loc, nil)
	var err error
	r.ob, err = OpenOutbox(ctx, r.st, OutboxOpts{Hall: "test", Secret: secret, Clock: r.fc, Sends: SendSupervision,
		Webhook: Webhook{URL: r.url, TimeoutS: 0.2, MaxAttempts: 50, BackoffS: 1, MaxBackoffS: 30, Workers: 4}})
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *supRig) restart() {
	r.t.Helper()
	if err := r.st.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
}

// add appends records at the fake clock's time and feeds the monitor.
func (r *supRig) add(recs ...store.Record) {
	r.t.Helper()
	for i := range recs {
		if recs[i].At.IsZero() {
			recs[i].At = r.fc.Now()
		}
	}
	seqs, err := r.st.Append(context.Background(), recs...)
	if err != nil {
		r.t.Fatal(err)
	}
	for i, s := range seqs {
		recs[i].Seq = s
		r.mon.Apply(recs[i])
	}
}

func (r *supRig) step(wantRaised, wantCleared int) {
	r.t.Helper()
	up, down, err := r.al.Step(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	if up != wantRaised || down != wantCleared {
		r.t.Fatalf("at %s: raised %d cleared %d, want %d and %d", r.fc.Now().Format(time.TimeOnly), up, down, wantRaised, wantCleared)
	}
}

// A driven day through the fake case system: a ticket waits too long and
// a window pauses too long (two alerts raised), the ticket is called and
// the window resumes (both cleared), a low rating's follow-up closes.
// Every supervision fact reaches the endpoint exactly once, in log order,
// also across a restart in the middle (an alert raised before it is not
// raised again) and with an endpoint that fails every third request; the
// day's export file holds the same records and verifies against its
// signature.
func TestSupervisionDrivenDayExactlyOnce(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC)) // Fri 09:00 local
	recv, srv := newReceiver(t, fc)
	recv.behave = func(n int, ev Event) string {
		if n%3 == 0 {
			return "fail"
		}
		return "ok"
	}
	r := &supRig{t: t, fc: fc, path: filepath.Join(t.TempDir(), "hallctl.db"), url: srv.URL}
	r.open()
	defer func() { _ = r.st.Close() }()
	at := func(m int) time.Time { return time.Date(2026, 11, 20, 1, m, 0, 0, time.UTC) }
	to := func(m int) { fc.Advance(at(m).Sub(fc.Now())) }

	r.add(qrec(0, "issued", at(0), map[string]any{"ticket": 1, "number": "B001", "item": "TAX-01", "day": "2026-11-20"}))
	// Case events are not this outbox's: none of them go to the endpoint.
	r.add(qrec(0, "issued", at(0), map[string]any{"ticket": 2, "number": "B002", "item": "TAX-01", "day": "2026-11-20"}))
	to(5)
	r.add(qrec(0, "window_paused", at(5), map[string]any{"window": 2, "note": "系统故障"}))
	to(10)
	r.step(0, 0)
	r.add(qrec(0, "called", at(10), map[string]any{"ticket": 2, "window": 1}))
	r.add(qrec(0, "finished", at(12), map[string]any{"ticket": 2, "window": 1}))
	to(31)
	r.step(2, 0) // long_wait (ticket 1, 31 min) and window_paused (26 min)
	to(32)
	r.step(0, 0) // raised twice is one event
	drain(t, r.ob, fc, 100)

	r.restart()
	to(33)
	r.step(0, 0) // the restart does not raise them again
	open, err := r.al.Open(context.Background())
	if err != nil || len(open) != 2 {
		t.Fatalf("open alerts after restart: %v %+v", err, open)
	}
	to(40)
	r.add(qrec(0, "called", at(40), map[string]any{"ticket": 1, "window": 1}))
	r.step(0, 1) // and the pause, 35 minutes now, past 2× pause_min: escalated
	to(45)
	r.add(qrec(0, "window_resumed", at(45), map[string]any{"window": 2}))
	r.step(0, 1)
	to(50)
	b, _ := json.Marshal(map[string]any{"ticket": 1, "level": 1, "window": 1, "item": "TAX-01", "at": at(50)})
	r.add(store.Record{Stream: RatingStream, Type: "rated", Data: b})
	to(58)
	r.add(FollowUpRecord(FollowUpClosed{Ticket: 1, Note: "已回访", By: "manager:王*", At: at(58)}))
	r.step(0, 0)
	drain(t, r.ob, fc, 100)

	want := []string{
		"pause/started/window-2/",
		"alert/raised/long_wait/ticket-1/0/",
		"alert/raised/window_paused/window-2/",
		"alert/cleared/long_wait/ticket-1/0/",
		"alert/escalated/window_paused/window-2/",
		"pause/ended/window-2/",
		"alert/cleared/window_paused/window-2/",
		"followup/closed/ticket-1",
	}
	recv.mu.Lock()
	got := append([]Event(nil), recv.got...)
	posts := recv.posts
	recv.mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("endpoint has %d events, want %d: %+v", len(got), len(want), got)
	}
	var keys []string
	for i, ev := range got {
		if ev.Supervision == nil || !strings.HasPrefix(ev.Supervision.Key, want[i]) {
			t.Fatalf("event %d: %+v, want key %s…", i, ev.Supervision, want[i])
		}
		if ev.Case != SupervisionCase || !strings.HasPrefix(ev.Type, "supervision.") {
			t.Errorf("event %d: case %q type %q", i, ev.Case, ev.Type)
		}
		if i > 0 && ev.Seq <= got[i-1].Seq {
			t.Errorf("event %d out of log order: seq %d after %d", i, ev.Seq, got[i-1].Seq)
		}
		keys = append(keys, ev.Supervision.Key)
	}
	if got[0].Supervision.Reason != "系统故障" || got[5].Supervision.Reason != "系统故障" || !got[5].Supervision.PausedAt.Equal(at(5)) {
		t.Errorf("pause events: %+v / %+v", got[0].Supervision, got[5].Supervision)
	}
	if a := got[4].Supervision.Alert; a == nil || a.Severity != "critical" || a.Value != 35 || got[2].Supervision.Alert.Severity != "warning" {
		t.Errorf("escalation: raised %+v, escalated %+v", got[2].Supervision.Alert, a)
	}
	if a := got[1].Supervision.Alert; a == nil || a.Ticket != 1 || a.Number != "B001" || !a.Since.Equal(at(0)) {
		t.Errorf("long-wait alert event: %+v", a)
	}
	if got[7].Type != EvSupervisionFollowUp || got[7].Ticket != 1 {
		t.Errorf("follow-up event: %+v", got[7])
	}
	if posts <= len(want) {
		t.Errorf("%d posts for %d events: the failing endpoint should have caused retries", posts, len(want))
	}
	// The case outbox of the same log carries none of them (SendCase).
	cob, err := OpenOutbox(context.Background(), r.st, OutboxOpts{Hall: "test", Secret: secret, Clock: fc, Sends: SendCase,
		Webhook: Webhook{URL: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cob.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	cob.mu.Lock()
	for _, e := range cob.pending {
		if strings.HasPrefix(e.Event.Type, "supervision.") {
			t.Errorf("case outbox holds %s", e.Event.Type)
		}
	}
	cob.mu.Unlock()

	// The daily file: the same records, and it verifies.
	day, err := NewSupervisionDay("test", "2026-11-20", testHall(t).Loc)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.st.Read(context.Background(), "", 0, func(rec store.Record) error { day.Add(rec); return nil }); err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := day.WriteJSON(&file); err != nil {
		t.Fatal(err)
	}
	var doc SupervisionFile
	if err := json.Unmarshal(file.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Hall != "test" || doc.Date != "2026-11-20" || doc.Zone != "Asia/Shanghai" || len(doc.Records) != len(want) {
		t.Fatalf("export: %s", file.String())
	}
	for i, rec := range doc.Records {
		if rec.Key != keys[i] {
			t.Errorf("export record %d key %s, delivered %s", i, rec.Key, keys[i])
		}
	}
	key := []byte("supervision-secret-0123456789")
	sig := SignExport(key, file.Bytes())
	if err := VerifyExport(key, file.Bytes(), sig+"\n"); err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(file.Bytes(), []byte("系统故障"), []byte("午休"), 1)
	if err := VerifyExport(key, tampered, sig); !errors.Is(err, ErrExportSignature) {
		t.Fatalf("tampered file verified: %v", err)
	}
	var c bytes.Buffer
	if err := day.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&c).ReadAll()
	if err != nil || len(rows) != len(want)+1 || rows[0][4] != "key" || rows[2][7] != AlertLongWait || rows[1][16] != "系统故障" {
		t.Fatalf("csv: %v %q", err, rows)
	}
	// Another day has none of them.
	other, _ := NewSupervisionDay("test", "2026-11-21", testHall(t).Loc)
	_ = r.st.Read(context.Background(), "", 0, func(rec store.Record) error { other.Add(rec); return nil })
	if len(other.Records) != 0 {
		t.Errorf("2026-11-21 export has %d records", len(other.Records))
	}
	if _, err := NewSupervisionDay("test", "20261120", nil); err == nil {
		t.Error("a malformed date was accepted")
	}
}

// The detached signature's test vector (docs/casesys.md quotes it; openssl
// dgst -sha256 -hmac agrees).
func TestSupervisionExportSignatureVector(t *testing.T) {
	key := []byte("supervision-shared-secret-01")
	file := []byte(`{"hall":"sz-civic","date":"2026-11-20","zone":"Asia/Shanghai","records":[]}` + "\n")
	const want = "05bf072e25756f623b9658c9a3d9872a71bdcf28d1eddff4f1b80f41cb62f799"
	if got := SignExport(key, file); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

// case_system.supervision.url needs a secret (its own, or the webhook's).
func TestSupervisionEndpointConfig(t *testing.T) {
	err := Config{Supervision: Supervision{URL: "ftp://x"}}.Validate(nil, nil)
	if err == nil || !strings.Contains(err.Error(), "case_system.supervision.url") || !strings.Contains(err.Error(), "case_system.supervision.secret") {
		t.Fatalf("want url and secret problems, got %v", err)
	}
	c := Config{Webhook: &Webhook{URL: "https://cases.example/h", Secret: "0123456789abcdef0", TimeoutS: 3},
		Supervision: Supervision{URL: "https://jiancha.example/h"}}
	if err := c.Validate(nil, nil); err != nil {
		t.Fatal(err)
	}
	w := c.SupervisionWebhook()
	if w == nil || w.URL != "https://jiancha.example/h" || w.TimeoutS != 3 || w.Secret != "" || w.MaxAttempts != 10 {
		t.Fatalf("supervision webhook %+v", w)
	}
	if k, err := c.SupervisionSecret(); err != nil || string(k) != "0123456789abcdef0" {
		t.Fatalf("falls back to the webhook secret: %q %v", k, err)
	}
	if (Config{}).SupervisionWebhook() != nil {
		t.Fatal("no url, no endpoint")
	}
}
