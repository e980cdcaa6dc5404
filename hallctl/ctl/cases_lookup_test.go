package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
)

// Finding "a captured case-status push can be replayed": a replay of an
// accepted push is refused also after the controller restarts (the nonce
// is in the event store's keyed table, committed with the change).
func TestCasePushReplayAfterRestart(t *testing.T) {
	t.Parallel()
	r := newRig(t, casesHall, nil)
	r.openWindows()
	tk, _ := r.c.Issue(context.Background(), IssueRequest{Item: "HR-002"}, "", "")
	serve(t, r, 3, "clerk-3")
	serial := serialOf(t, r, tk.ID)
	body := []byte(`{"status":"in_review"}`)
	send := func() (int, string) {
		req := httptest.NewRequest("POST", "/api/v1/cases/"+serial+"/status", bytes.NewReader(body))
		casesys.SignPushRequest(req, []byte(inboundSecret), rigStart, "restart-nonce-000001", body)
		rec := httptest.NewRecorder()
		r.c.CaseAPI().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if code, b := send(); code != 200 {
		t.Fatalf("push: %d %s", code, b)
	}
	if code, b := send(); code != 409 || !strings.Contains(b, "replayed_nonce") {
		t.Fatalf("replay: %d %s", code, b)
	}
	r.restart()
	if code, b := send(); code != 409 || !strings.Contains(b, "replayed_nonce") {
		t.Fatalf("replay after a restart: %d %s", code, b)
	}
}

// Finding "free-text notes from the case system (a name, a phone number)
// are shown on the public page" and "the public case lookup can be
// enumerated": the look-up needs the receipt's check code (a wrong or
// missing one answers like an unknown serial) and answers status and
// dates only; the manager still sees the note.
func TestCaseLookupNeedsCheckCode(t *testing.T) {
	t.Parallel()
	r := newRig(t, casesHall, nil)
	r.openWindows()
	ctx := context.Background()
	tk, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-002"}, "", "")
	serve(t, r, 3, "clerk-3")
	serial := serialOf(t, r, tk.ID)
	const note = "张三 13812345678 请补交材料"
	if _, err := r.c.SetCaseStatus(ctx, casesys.StatusChange{Serial: serial, Status: casesys.StatusInReview, Note: note, By: "manager:王"}); err != nil {
		t.Fatal(err)
	}
	k := r.c.CaseCheck(serial)
	if len(k) != CaseCheckDigits || strings.Trim(k, "0123456789") != "" {
		t.Fatalf("check code %q", k)
	}
	p, err := r.c.CaseLookup(ctx, serial, k[:4]+" "+k[4:], "192.0.2.1")
	if err != nil || p.Status != casesys.StatusInReview || len(p.History) != 2 {
		t.Fatalf("look-up: %+v %v", p, err)
	}
	b, _ := json.Marshal(p)
	for _, leak := range []string{"张三", "13812345678", "note", "manager"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("public answer has %q: %s", leak, b)
		}
	}
	wrong := fmt.Sprintf("%08d", (mustAtoi(t, k)+1)%100_000_000)
	other := serial[:len(serial)-1] + "9"
	for name, c := range map[string][2]string{
		"wrong code":     {serial, wrong},
		"no code":        {serial, ""},
		"unknown serial": {other, r.c.CaseCheck(other)},
		"malformed":      {"nonsense", r.c.CaseCheck("nonsense")},
	} {
		if _, err := r.c.CaseLookup(ctx, c[0], c[1], "192.0.2.1"); !errors.Is(err, ErrCaseNotFound) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if full, err := r.c.CaseProgress(ctx, serial); err != nil || full.History[1].Note != note {
		t.Fatalf("manager view: %+v %v", full, err)
	}
	// The receipt printed at acceptance carries the code and the QR link.
	if got := CaseURL("https://hall.example/", serial, k); got != "https://hall.example/c/"+serial+"?k="+k {
		t.Errorf("case URL %s", got)
	}
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Finding "the public case lookup can be enumerated (1,642 guesses in
// 1.3 s found all 280 cases)": a client guessing serials and check codes
// is refused with a retry time after limits.lookups_per_min look-ups and
// finds nothing; another client is still served; every outcome counted.
func TestCaseLookupEnumeration(t *testing.T) {
	t.Parallel()
	r := newRig(t, casesHall, nil)
	r.openWindows()
	ctx := context.Background()
	var serials []string
	for i := 0; i < 3; i++ {
		tk, _ := r.c.Issue(ctx, IssueRequest{Item: "HR-002"}, "", "")
		serve(t, r, 3, "clerk-3")
		serials = append(serials, serialOf(t, r, tk.ID))
	}
	head := serials[0][:len(serials[0])-6]
	found, limited, firstLimited := 0, 0, 0
	for i := 1; i <= 1000; i++ {
		s := fmt.Sprintf("%s%06d", head, 1+i%5)
		_, err := r.c.CaseLookup(ctx, s, fmt.Sprintf("%08d", i), "198.51.100.7")
		var re *RetryError
		switch {
		case err == nil:
			found++
		case errors.As(err, &re) && errors.Is(err, ErrLookupLimited):
			if re.After <= 0 || re.After > time.Minute {
				t.Fatalf("retry after %s", re.After)
			}
			limited++
			if firstLimited == 0 {
				firstLimited = i
			}
		case !errors.Is(err, ErrCaseNotFound):
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	per := r.cfg.Limits.LookupsPerMin
	if found != 0 || firstLimited != per+1 || limited != 1000-per {
		t.Fatalf("found %d, first 429 at guess %d (limit %d), %d limited", found, firstLimited, per, limited)
	}
	// The guesser's right code is refused too while limited: no oracle.
	if _, err := r.c.CaseLookup(ctx, serials[0], r.c.CaseCheck(serials[0]), "198.51.100.7"); !errors.Is(err, ErrLookupLimited) {
		t.Fatalf("limited client with the right code: %v", err)
	}
	if _, err := r.c.CaseLookup(ctx, serials[0], r.c.CaseCheck(serials[0]), "203.0.113.9"); err != nil {
		t.Fatalf("another client: %v", err)
	}
	r.clock.Advance(time.Minute / time.Duration(per))
	if _, err := r.c.CaseLookup(ctx, serials[0], r.c.CaseCheck(serials[0]), "198.51.100.7"); err != nil {
		t.Fatalf("after a refill: %v", err)
	}
	cv := r.c.cases.lookups.count
	if n := r.counter(cv.WithLabelValues("refused")); n != float64(per) {
		t.Errorf("refused counter %v", n)
	}
	if n := r.counter(cv.WithLabelValues("rate_limited")); n != float64(1000-per+1) {
		t.Errorf("rate_limited counter %v", n)
	}
	if n := r.counter(cv.WithLabelValues("found")); n != 2 {
		t.Errorf("found counter %v", n)
	}
}
