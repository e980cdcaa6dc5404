package casesys

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var pushNonce atomic.Int64

// pushBody sends one signed push of body to serial with a fresh nonce.
func (r *pushRig) pushBody(h http.Handler, serial, body string) (int, string, string) {
	r.t.Helper()
	req := r.signed(serial, body, fmt.Sprintf("nonce-%016d", pushNonce.Add(1)), r.fc.Now())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	code, problem := rec.Code, ""
	if code != http.StatusOK {
		var p struct{ Code string }
		_ = json.Unmarshal(rec.Body.Bytes(), &p)
		problem = p.Code
	}
	return code, problem, rec.Header().Get("X-Servicehall-Changed")
}

// Finding "a status time in the future is accepted; later real pushes are
// then refused as stale, and reports count completion on the future
// date": a push whose `at` is more than MaxSkew ahead is refused with
// status_in_future (counted) and changes nothing; the real push after it
// goes through. On the old code the first push answered 200 and the real
// one 409 stale_status.
func TestPushStatusInFutureRefused(t *testing.T) {
	r := newPushRig(t)
	reg := prometheus.NewPedanticRegistry()
	h := NewAPI(r.reg, APIOpts{Key: secret, Clock: r.fc, Metrics: reg})
	s := r.serials[0]
	now := r.fc.Now()
	future := now.Add(time.Hour).UTC().Format(time.RFC3339)
	code, problem, _ := r.pushBody(h, s, `{"status":"ready_for_pickup","at":"`+future+`"}`)
	if code != http.StatusBadRequest || problem != "status_in_future" {
		t.Fatalf("a status an hour ahead: %d %q, want 400 status_in_future", code, problem)
	}
	if got := r.status(s); got != StatusAccepted {
		t.Fatalf("refused push changed the case to %s", got)
	}
	// Within the allowed skew (a case system's clock slightly ahead) is fine.
	near := now.Add(4 * time.Minute).UTC().Format(time.RFC3339)
	if code, problem, _ := r.pushBody(h, s, `{"status":"in_review","at":"`+now.UTC().Format(time.RFC3339)+`"}`); code != http.StatusOK {
		t.Fatalf("the real push after a refused future one: %d %q", code, problem)
	}
	if code, problem, _ := r.pushBody(h, s, `{"status":"approved","at":"`+near+`"}`); code != http.StatusOK {
		t.Fatalf("a push 4 minutes ahead: %d %q", code, problem)
	}
	if got := pushCount(t, reg, "status_in_future"); got != 1 {
		t.Errorf("status_in_future counted %v times, want 1", got)
	}
	if got := pushCount(t, reg, "changed"); got != 2 {
		t.Errorf("changed counted %v times, want 2", got)
	}
	if err := CheckStatusTime(now.Add(MaxSkew+time.Second), now); Code(err) != "status_in_future" {
		t.Errorf("CheckStatusTime past the skew: %v", err)
	}
}

func pushCount(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "servicehall_case_status_pushes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// Pushes are ordered by the case system's own sequence, not by arrival:
// a lower or equal seq is stale_status; a higher one may even move the
// status back in rank (a rejected case sent back to review); an exact
// repeat is idempotent; the order survives a restart. On the old code
// the seq field was refused as unknown (400 bad_request).
func TestPushOrderedByCaseSystemSeq(t *testing.T) {
	r := newPushRig(t)
	s := r.serials[1]
	t0 := r.fc.Now().Add(-time.Hour)
	at := func(m int) string { return t0.Add(time.Duration(m) * time.Minute).UTC().Format(time.RFC3339) }
	send := func(body string) (int, string, string) { return r.pushBody(r.h, s, body) }

	if code, problem, _ := send(`{"status":"in_review","at":"` + at(1) + `","seq":1}`); code != 200 {
		t.Fatalf("seq 1: %d %q", code, problem)
	}
	if code, problem, _ := send(`{"status":"rejected","at":"` + at(3) + `","seq":3}`); code != 200 {
		t.Fatalf("seq 3: %d %q", code, problem)
	}
	// seq 2 arrives late: the case system had already moved on.
	if code, problem, _ := send(`{"status":"approved","at":"` + at(2) + `","seq":2}`); code != http.StatusConflict || problem != "stale_status" {
		t.Fatalf("late seq 2: %d %q, want 409 stale_status", code, problem)
	}
	// seq 4 sends the rejected case back to review: lower rank, later seq.
	body4 := `{"status":"in_review","at":"` + at(4) + `","seq":4,"note":"申诉复核"}`
	if code, problem, _ := send(body4); code != 200 {
		t.Fatalf("seq 4 back to review: %d %q", code, problem)
	}
	if code, problem, changed := send(body4); code != 200 || changed != "false" {
		t.Fatalf("exact repeat of seq 4: %d %q changed=%s, want 200 false", code, problem, changed)
	}
	if code, problem, _ := send(`{"status":"approved","at":"` + at(5) + `","seq":4}`); code != http.StatusConflict || problem != "stale_status" {
		t.Fatalf("equal seq, other status: %d %q, want 409 stale_status", code, problem)
	}
	if code, problem, _ := send(`{"status":"approved","at":"` + at(5) + `","seq":-1}`); code != http.StatusBadRequest {
		t.Fatalf("negative seq: %d %q, want 400", code, problem)
	}
	r.restart()
	if code, problem, _ := r.pushBody(r.h, s, `{"status":"approved","at":"`+at(6)+`","seq":4}`); code != http.StatusConflict || problem != "stale_status" {
		t.Fatalf("after restart, equal seq: %d %q", code, problem)
	}
	if code, problem, _ := r.pushBody(r.h, s, `{"status":"approved","at":"`+at(6)+`","seq":5}`); code != 200 {
		t.Fatalf("after restart, seq 5: %d %q", code, problem)
	}
	c, err := r.reg.Get(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range c.History {
		got = append(got, fmt.Sprintf("%s@%d", h.Status, h.Seq))
	}
	want := "[accepted@0 in_review@1 rejected@3 in_review@4 approved@5]"
	if fmt.Sprint(got) != want || c.StatusSeq != 5 || c.Status != StatusApproved {
		t.Fatalf("history %v (seq %d, %s), want %s", got, c.StatusSeq, c.Status, want)
	}
	// Without a seq the order is the status time and rank: an older time
	// is stale whatever order the pushes arrive in.
	s0 := r.serials[0]
	now := r.fc.Now()
	if code, problem, _ := r.pushBody(r.h, s0, `{"status":"approved","at":"`+now.Add(time.Minute).UTC().Format(time.RFC3339)+`"}`); code != 200 {
		t.Fatalf("no seq, approved: %d %q", code, problem)
	}
	if code, problem, _ := r.pushBody(r.h, s0, `{"status":"ready_for_pickup","at":"`+now.Add(30*time.Second).UTC().Format(time.RFC3339)+`"}`); code != http.StatusConflict || problem != "stale_status" {
		t.Fatalf("no seq, older time: %d %q", code, problem)
	}
}
