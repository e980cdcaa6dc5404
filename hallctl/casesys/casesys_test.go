package casesys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/store"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

func testHall(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("hall.yaml", []byte(`
hall: {id: t, name: 测试大厅, timezone: Asia/Shanghai}
departments: [{code: HR, name: 人社}, {code: TAX, name: 税务}]
items:
  - {code: HR-001, name: 人才引进, dept: HR, prefix: A, kind: promised, promise_days: 3}
  - {code: TAX-01, name: 发票, dept: TAX, prefix: B}
windows:
  - {number: 1, dept: HR, serves: ["*"]}
  - {number: 2, dept: TAX, serves: ["*"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// 2026: Oct 1–7 National Day off, Sat Oct 10 a make-up working day.
var holidays = []Holiday{
	{Date: "2026-10-01", Name: "国庆节"}, {Date: "2026-10-02"}, {Date: "2026-10-05"}, {Date: "2026-10-06"}, {Date: "2026-10-07"},
	{Date: "2026-10-10", Work: true},
}

func TestCalendar(t *testing.T) {
	cal, err := NewCalendar(holidays)
	if err != nil {
		t.Fatal(err)
	}
	d := func(s string) time.Time { x, _ := time.Parse(DateLayout, s); return x }
	for _, c := range []struct {
		from string
		n    int
		want string
	}{
		{"2026-11-20", 1, "2026-11-23"}, // Friday + 1 → Monday
		{"2026-11-21", 1, "2026-11-23"}, // Saturday + 1 → Monday
		{"2026-09-30", 1, "2026-10-08"}, // over the holiday
		{"2026-09-30", 2, "2026-10-09"},
		{"2026-09-30", 3, "2026-10-10"}, // the make-up Saturday works
		{"2026-11-18", 0, "2026-11-18"},
	} {
		if got := cal.AddWorkdays(d(c.from), c.n).Format(DateLayout); got != c.want {
			t.Errorf("%s + %d working days = %s, want %s", c.from, c.n, got, c.want)
		}
	}
	if got := cal.WorkdaysBetween(d("2026-09-30"), d("2026-10-10")); got != 3 {
		t.Errorf("workdays between = %d, want 3", got)
	}
	if _, err := NewCalendar([]Holiday{{Date: "2026-13-01"}, {Date: "2026-10-01"}, {Date: "2026-10-01", Work: true}}); err == nil ||
		!strings.Contains(err.Error(), "holidays[0].date") || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("bad holidays: %v", err)
	}
}

func TestSerials(t *testing.T) {
	s, err := NewSerials("440300", shanghai)
	if err != nil {
		t.Fatal(err)
	}
	// 23:30 UTC on the 20th is 07:30 on the 21st in Shanghai.
	t1 := time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC)
	a, _ := s.Next(t1, "HR-001")
	b, _ := s.Next(t1.Add(time.Minute), "TAX-01")
	if a != "440300HR-00120261121000001" || b != "440300TAX-0120261121000002" {
		t.Fatalf("serials %s %s", a, b)
	}
	c, _ := s.Next(time.Date(2026, 11, 21, 16, 1, 0, 0, time.UTC), "HR-001") // 00:01 on the 22nd
	if !strings.HasSuffix(c, "20261122000001") {
		t.Fatalf("new day: %s", c)
	}
	// Rebuild from the issued serials: the next one follows.
	r, _ := NewSerials("440300", shanghai)
	for _, x := range []string{a, c, b} {
		if err := r.Observe(x); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := r.Next(time.Date(2026, 11, 21, 16, 5, 0, 0, time.UTC), "HR-001")
	if !strings.HasSuffix(d, "20261122000002") {
		t.Fatalf("after replay: %s", d)
	}
	p, err := ParseSerial(d)
	if err != nil || p.Region != "440300" || p.Item != "HR-001" || p.Date != "20261122" || p.Seq != 2 || p.String() != d {
		t.Fatalf("parse %s: %+v %v", d, p, err)
	}
	for _, bad := range []string{"", "440300HR20261121", "44030XHR-00120261121000001", "440300HR-00120261321000001", "440300HR 00120261121000001", "440300HR-00120261121000000"} {
		if _, err := ParseSerial(bad); !errors.Is(err, ErrBadSerial) {
			t.Errorf("ParseSerial(%q) = %v", bad, err)
		}
	}
	if _, err := s.Next(t1, "bad code"); !errors.Is(err, ErrBadItemCode) {
		t.Errorf("bad item code: %v", err)
	}
}

func TestAcceptAndReceipt(t *testing.T) {
	hall := testHall(t)
	cal, _ := NewCalendar(holidays)
	a, err := NewAcceptor(hall, Config{Region: "440300"}, cal)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 9, 30, 2, 0, 0, 0, time.UTC) // Wed 10:00 local
	c, w, err := a.Accept(Acceptance{Ticket: 7, Number: "A007", Item: "HR-001", Window: 1, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if c.Due != "2026-10-10" || c.Status != StatusAccepted || c.Serial != "440300HR-00120260930000001" {
		t.Fatalf("case %+v", c)
	}
	if len(w.Records) != 1 || w.Records[0].Key != c.Serial || len(w.Puts) != 1 {
		t.Fatalf("writes %+v", w)
	}
	p := a.Receipt(c, "https://hall.example", "12345678")
	if p.Check() != nil || p.Fields.Serial != c.Serial || p.Fields.QR != "https://hall.example/c/"+c.Serial+"?k=12345678" || p.Fields.Check != "12345678" || !strings.Contains(p.Fields.WindowHint, "2026-10-10") {
		t.Fatalf("receipt %+v", p)
	}
	im, _, _ := a.Accept(Acceptance{Ticket: 8, Item: "TAX-01", At: at})
	if im.Due != "" || !strings.HasSuffix(im.Serial, "000002") {
		t.Fatalf("immediate case %+v", im)
	}
	if _, _, err := a.Accept(Acceptance{Item: "NOPE", At: at}); !errors.Is(err, ErrUnknownItem) {
		t.Fatal(err)
	}
	// Replay rebuilds the counter.
	b, _ := NewAcceptor(hall, Config{Region: "440300"}, cal)
	if err := b.Replay(store.Record{Stream: CaseStream, Type: "accepted", Data: mustJSON(im)}); err != nil {
		t.Fatal(err)
	}
	n, _, _ := b.Accept(Acceptance{Item: "TAX-01", At: at})
	if !strings.HasSuffix(n.Serial, "000003") {
		t.Fatalf("after replay %s", n.Serial)
	}
}

func TestConfigValidate(t *testing.T) {
	known := func(s string) bool { return s == "HR-001" }
	if err := (Config{}).Validate(nil, known); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	good := Config{Region: "440300", Webhook: &Webhook{URL: "https://cases.example/hook", Secret: strings.Repeat("k", 16)}}
	if err := good.Validate(holidays, known); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, c := range map[string]struct {
		cfg  Config
		want string
	}{
		"no url":       {Config{Webhook: &Webhook{Secret: strings.Repeat("k", 16)}}, "webhook.url: is empty"},
		"bad scheme":   {Config{Webhook: &Webhook{URL: "ftp://x/y", Secret: strings.Repeat("k", 16)}}, "must be http"},
		"no host":      {Config{Webhook: &Webhook{URL: "http:///hook", Secret: strings.Repeat("k", 16)}}, "has no host"},
		"not a url":    {Config{Webhook: &Webhook{URL: "http://a b\x7f", Secret: strings.Repeat("k", 16)}}, "is not a URL"},
		"credentials":  {Config{Webhook: &Webhook{URL: "https://u:p@x/h", Secret: strings.Repeat("k", 16)}}, "credentials"},
		"no secret":    {Config{Webhook: &Webhook{URL: "https://x/h"}}, "needs secret or secret_file"},
		"short secret": {Config{Webhook: &Webhook{URL: "https://x/h", Secret: "short"}}, "shorter than 16"},
		"both secrets": {Config{Webhook: &Webhook{URL: "https://x/h", Secret: strings.Repeat("k", 16), SecretFile: "/x"}}, "not both"},
		"missing file": {Config{Webhook: &Webhook{URL: "https://x/h", SecretFile: "/nonexistent/secret"}}, "secret_file"},
		"backoff":      {Config{Webhook: &Webhook{URL: "https://x/h", Secret: strings.Repeat("k", 16), BackoffS: 10, MaxBackoffS: 5}}, "above max_backoff_s"},
		"region":       {Config{Region: "44"}, "6 digits"},
		"unknown item": {Config{Supervision: Supervision{ItemWaitMin: map[string]float64{"X": 3}}}, "item_wait_min.X: unknown item"},
		"no-show rate": {Config{Supervision: Supervision{NoShowRate: 2}}, "between 0 and 1"},
	} {
		err := c.cfg.Validate(nil, known)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	if err := (Config{}).Validate([]Holiday{{Date: "x"}}, known); err == nil || !strings.Contains(err.Error(), "holidays[0]") {
		t.Errorf("bad holiday: %v", err)
	}
}

func TestInboundAPI(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC))
	st := openStore(t, filepath.Join(t.TempDir(), "hallctl.db"))
	defer st.Close()
	reg := NewRegistry(st)
	ctx := context.Background()
	serial := "440300HR-00120261121000001"
	c := Case{Serial: serial, Ticket: 1, Item: "HR-001", ItemName: "人才引进", AcceptedAt: fc.Now(), Status: StatusAccepted, StatusAt: fc.Now(),
		History: []StatusChange{{Serial: serial, Status: StatusAccepted, At: fc.Now()}}}
	if err := reg.Accept(ctx, c); err != nil {
		t.Fatal(err)
	}
	h := NewAPI(reg, APIOpts{Key: secret, Clock: fc})
	n := 0
	push := func(serial string, body string, key []byte, ts time.Time) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/cases/"+serial+"/status", strings.NewReader(body))
		if key != nil {
			n++
			SignPushRequest(req, key, ts, fmt.Sprintf("test-nonce-%08d", n), []byte(body))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	at := func(d time.Duration) string { return fc.Now().Add(d).UTC().Format(time.RFC3339) }
	snapshot := func() string {
		b, _ := st.Get(ctx, CasesBucket, serial)
		n, _ := st.LastSeq(ctx, "")
		return string(b) + string(rune(n))
	}

	ok := push(serial, `{"status":"in_review","at":"`+at(time.Minute)+`"}`, secret, fc.Now())
	if ok.Code != 200 {
		t.Fatalf("push: %d %s", ok.Code, ok.Body)
	}
	before := snapshot()
	for name, c := range map[string]struct {
		rec  *httptest.ResponseRecorder
		code int
		pc   string
	}{
		"wrong signature": {push(serial, `{"status":"approved","at":"`+at(2*time.Hour)+`"}`, []byte("another-secret-0123456"), fc.Now()), 401, "bad_signature"},
		"unsigned":        {push(serial, `{"status":"approved"}`, nil, fc.Now()), 401, "unsigned"},
		"old timestamp":   {push(serial, `{"status":"approved"}`, secret, fc.Now().Add(-time.Hour)), 401, "signature_skew"},
		"unknown case":    {push("440300HR-00120261121000099", `{"status":"approved"}`, secret, fc.Now()), 404, "unknown_case"},
		"stale order":     {push(serial, `{"status":"accepted","at":"`+at(2*time.Minute)+`"}`, secret, fc.Now()), 409, "stale_status"},
		"stale time":      {push(serial, `{"status":"approved","at":"`+at(30*time.Second)+`"}`, secret, fc.Now()), 409, "stale_status"},
		"future time":     {push(serial, `{"status":"approved","at":"`+at(time.Hour)+`"}`, secret, fc.Now()), 400, "status_in_future"},
		"bad status":      {push(serial, `{"status":"done"}`, secret, fc.Now()), 400, "bad_status"},
		"unknown field":   {push(serial, `{"status":"approved","x":1}`, secret, fc.Now()), 400, "bad_request"},
		"bad serial":      {push("nope", `{"status":"approved"}`, secret, fc.Now()), 400, "bad_request"},
	} {
		var p map[string]any
		_ = json.Unmarshal(c.rec.Body.Bytes(), &p)
		if c.rec.Code != c.code || p["code"] != c.pc || c.rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", name, c.rec.Code, c.rec.Body)
		}
	}
	if snapshot() != before {
		t.Fatal("a refused push changed the data")
	}
	// A repeat of the last push is accepted and changes nothing.
	if rec := push(serial, `{"status":"in_review","at":"`+at(time.Minute)+`"}`, secret, fc.Now()); rec.Code != 200 || rec.Header().Get("X-Servicehall-Changed") != "false" {
		t.Fatalf("repeat: %d %v", rec.Code, rec.Header())
	}
	if pr, err := reg.Get(ctx, serial); err != nil || pr.Status != StatusInReview || len(pr.History) != 2 {
		t.Fatalf("progress: %+v %v", pr, err)
	}
	// Without a key, pushes are refused.
	h2 := NewAPI(reg, APIOpts{Clock: fc})
	rec := httptest.NewRecorder()
	h2.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/cases/"+serial+"/status", bytes.NewReader([]byte(`{}`))))
	if rec.Code != 403 {
		t.Fatalf("no key: %d", rec.Code)
	}
}
