package web_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/web"
)

// Both outboxes refuse what the hall sends: the manager console lists the
// case system's and the supervision platform's dead letters together (the
// latter marked 电子监察), and replaying the supervision record from the
// console sends it, leaving the case event's row alone.
func TestBrowserDeadLettersBothOutboxes(t *testing.T) {
	var supOK atomic.Bool
	supGot := make(chan struct{}, 100) // a record the platform took
	refuse := func(ok *atomic.Bool, got chan<- struct{}) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ok != nil && ok.Load() {
				w.WriteHeader(http.StatusOK)
				got <- struct{}{}
				return
			}
			http.Error(w, "unknown region", http.StatusUnprocessableEntity)
		})
	}
	caseSrv := httptest.NewServer(refuse(nil, nil))
	defer caseSrv.Close()
	supSrv := httptest.NewServer(refuse(&supOK, supGot))
	defer supSrv.Close()
	cfg, err := config.Parse("test.yaml", []byte(testHall+`case_system:
  region: "440300"
  webhook: {url: "`+caseSrv.URL+`", secret: "webhook-secret-0123456789"}
  supervision: {url: "`+supSrv.URL+`", secret: "supervision-secret-0123"}
`))
	if err != nil {
		t.Fatal(err)
	}
	h := startHallWith(t, cfg)
	mgr := h.token(t, web.RoleManager, 0)
	if r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"}); r.status != 201 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	if r := h.do(t, "POST", "/api/v1/manager/actions", mgr, map[string]any{"actions": []map[string]any{{"type": "pause", "window": 2, "reason": "会议"}}}); r.status != 200 {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	count := func(outbox string) int {
		var l web.DeadLetterList
		r := h.do(t, "GET", "/api/v1/manager/dead-letters?outbox="+outbox, mgr, nil)
		if r.status != 200 {
			t.Fatalf("dead letters of %s: %d %s", outbox, r.status, r.body)
		}
		r.decode(t, &l)
		return len(l.DeadLetters)
	}
	deadline := time.Now().Add(20 * time.Second)
	for count("cases") == 0 || count("supervision") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no dead letters in both outboxes: cases %d, supervision %d", count("cases"), count("supervision"))
		}
		// The outbox records a dead letter after the platform's answer,
		// with nothing to wait on: poll the route for the condition.
		time.Sleep(50 * time.Millisecond)
	}
	if r := h.do(t, "GET", "/api/v1/manager/dead-letters?outbox=nope", mgr, nil); r.status != 400 || !strings.Contains(string(r.body), "bad_request") {
		t.Errorf("unknown outbox: %d %s", r.status, r.body)
	}
	cases, sups := count("cases"), count("supervision")

	m := signedInTab(t, h.base+"/manager/", mgr, 1920, 1080)
	step(t, m, "dead letters listed", chromedp.WaitVisible(chromedp.CSS(`#dead tbody tr[data-outbox="supervision"]`)))
	if n := eval[int](t, m, `document.querySelectorAll('#dead tbody tr[data-outbox="cases"]').length`); n != cases {
		t.Errorf("%d case rows, want %d", n, cases)
	}
	if first := text(t, m, `#dead tbody tr[data-outbox="supervision"]`); !strings.Contains(first, "电子监察") || !strings.Contains(first, "supervision.pause") {
		t.Errorf("supervision row %q", first)
	}
	axeCleanIn(t, m, "#dead-card", "dead letters")

	supOK.Store(true)
	step(t, m, "replay the supervision record", chromedp.Click(chromedp.CSS(`#dead tbody tr[data-outbox="supervision"] .replay-dl`)),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#dead tbody tr[data-outbox="supervision"]').length === `+strconv.Itoa(sups-1), chromedp.WithPollingTimeout(10*time.Second)))
	select {
	case <-supGot:
	case <-time.After(20 * time.Second):
		t.Fatal("the replayed supervision record never reached the platform")
	}
	if n := count("cases"); n != cases {
		t.Errorf("case dead letters %d after the supervision replay, want %d", n, cases)
	}
	var audit []struct {
		Detail string `json:"detail"`
	}
	h.do(t, "GET", "/api/v1/manager/audit", mgr, nil).decode(t, &audit)
	found := false
	for _, e := range audit {
		found = found || strings.Contains(e.Detail, "supervision event")
	}
	if !found {
		t.Errorf("no audited supervision replay in %+v", audit)
	}
}
