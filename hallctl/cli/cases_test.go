package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
)

// caseSink is a case system that refuses (422) ticket 2's issued event
// while reject is set, and records what it took.
type caseSink struct {
	mu     sync.Mutex
	reject bool
	got    []casesys.Event
	seen   map[string]bool
	wake   chan struct{}
}

func (c *caseSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev casesys.Event
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &ev); err != nil {
		http.Error(w, "bad body", 400)
		return
	}
	c.mu.Lock()
	defer func() {
		c.mu.Unlock()
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}()
	if c.reject && ev.Case == "ticket-2" && ev.Type == casesys.EvTicketIssued {
		http.Error(w, "unknown item code", http.StatusUnprocessableEntity)
		return
	}
	if !c.seen[ev.ID] {
		c.seen[ev.ID] = true
		c.got = append(c.got, ev)
	}
	w.WriteHeader(200)
}

func (c *caseSink) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		c.mu.Lock()
		done := ok()
		c.mu.Unlock()
		if done {
			return
		}
		select {
		case <-c.wake:
		case <-time.After(100 * time.Millisecond): // the outbox's own retries
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Issue 14, dead letters: a driven day against a case system that refuses
// one event with a 4xx. The event is a dead letter, its case's later
// events wait, `hallctl cases dead-letters list` shows it, and once the
// case system is fixed `replay` from the CLI sends it: every event then
// arrives once, each case's in order.
func TestDeadLetterReplayedFromCLI(t *testing.T) {
	sink := &caseSink{reject: true, seen: map[string]bool{}, wake: make(chan struct{}, 100)}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	path, _ := hallFile(t)
	b, _ := os.ReadFile(path)
	b = append(b, fmt.Sprintf("case_system:\n  webhook: {url: %q, secret: %q, backoff_s: 0.05, max_backoff_s: 0.2}\n", srv.URL, "webhook-secret-0123456789")...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	hall := serveHall(t, path, "error")
	base := hall.base
	_, tok, _ := runCLI(t, "token", "--config", path, "--role", "manager")
	post := func(p, body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+p, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %s (stderr %s)", p, res.StatusCode, msg, hall.stderr.String())
		}
	}
	for i := 0; i < 3; i++ {
		post("/api/v1/tickets", `{"item":"HR-001"}`)
	}
	clerk := func(action string) { post("/api/v1/windows/1/actions", `{"action":"`+action+`"}`) }
	_, ctok, _ := runCLI(t, "token", "--config", path, "--role", "clerk", "--window", "1")
	tok = ctok
	for _, a := range []string{"call-next", "start", "finish", "call-next", "start", "finish", "call-next"} {
		clerk(a)
	}
	count := func(c string) (n int) {
		for _, ev := range sink.got {
			if ev.Case == c {
				n++
			}
		}
		return n
	}
	sink.waitFor(t, "tickets 1 and 3's events", func() bool { return count("ticket-1") >= 4 && count("ticket-3") >= 2 })
	code, out, errs := runCLI(t, "cases", "dead-letters", "list", "--config", path, "--url", base)
	if code != 0 || !strings.Contains(out, "ticket.issued") || !strings.Contains(out, "ticket-2") || !strings.Contains(out, "1 dead letter") {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	// The supervision outbox is named with --outbox; this hall has none.
	if code, out, errs := runCLI(t, "cases", "dead-letters", "list", "--config", path, "--url", base, "--outbox", "supervision"); code != 1 || !strings.Contains(errs, "409") || !strings.Contains(errs, "no_case_system") {
		t.Errorf("list --outbox supervision without a platform: %d %q %q", code, out, errs)
	}
	if code, out, errs := runCLI(t, "cases", "dead-letters", "list", "--config", path, "--url", base, "--outbox", "nope"); code != 2 || !strings.Contains(errs, "cases or supervision") {
		t.Errorf("list --outbox nope: %d %q %q", code, out, errs)
	}
	sink.mu.Lock()
	if n := count("ticket-2"); n != 0 {
		t.Fatalf("ticket 2 had %d events delivered past its dead letter", n)
	}
	sink.reject = false
	sink.mu.Unlock()
	code, out, errs = runCLI(t, "cases", "dead-letters", "discard", "--config", path, "--url", base, "no-such-key")
	if code != 2 || !strings.Contains(errs, "--reason") {
		t.Errorf("discard without a reason: %d %q %q", code, out, errs)
	}
	var l struct {
		DeadLetters []casesys.Entry `json:"dead_letters"`
	}
	_, js, _ := runCLI(t, "cases", "dead-letters", "list", "--config", path, "--url", base, "--json")
	if err := json.Unmarshal([]byte(js), &l); err != nil || len(l.DeadLetters) != 1 {
		t.Fatalf("list --json: %v %s", err, js)
	}
	code, out, errs = runCLI(t, "cases", "dead-letters", "replay", "--config", path, "--url", base, l.DeadLetters[0].Key)
	if code != 0 || !strings.Contains(out, "1 dead letter(s) back") {
		t.Fatalf("replay: %d %q %q", code, out, errs)
	}
	want := []string{casesys.EvTicketIssued, casesys.EvTicketCalled, casesys.EvTicketStarted, casesys.EvCaseAccepted, casesys.EvTicketFinished}
	sink.waitFor(t, "ticket 2's events after the replay", func() bool { return count("ticket-2") >= len(want) })
	sink.mu.Lock()
	var got []string
	last := map[string]int64{}
	for _, ev := range sink.got {
		if ev.Case == "ticket-2" {
			got = append(got, ev.Type)
		}
		if ev.Seq <= last[ev.Case] {
			t.Errorf("case %s: event seq %d after %d", ev.Case, ev.Seq, last[ev.Case])
		}
		last[ev.Case] = ev.Seq
	}
	sink.mu.Unlock()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ticket 2 after the replay: %v, want %v", got, want)
	}
	if code, out, _ := runCLI(t, "cases", "dead-letters", "list", "--config", path, "--url", base); code != 0 || !strings.Contains(out, "no dead letters") {
		t.Errorf("list after the replay: %d %q", code, out)
	}
}
