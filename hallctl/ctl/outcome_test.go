package ctl

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/servicehall/servicehall/wire"
)

// A print's outcome reaches the controller twice (Issue's own wait, and
// the bus's outcome callback; or a QoS 1 duplicate ack): it is recorded,
// counted and logged once, whichever comes first. (Both used to count it
// when the second read the in-flight print before the first recorded it:
// hallctl_tickets_unprinted_total over-counted. The race needs the two
// calls to interleave, so this catches it in some runs, not every run.)
func TestPrintOutcomeCountedOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, nil)
	r.c.bus.Load(wire.InfoMsg{V: wire.Version, Agent: "kiosk-1", Devices: kioskDevices})
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	const n = 100
	for i := 0; i < n; i++ {
		if _, err := r.c.Issue(gone, IssueRequest{Item: "HR-001"}, "kiosk-1", "prn-1"); err != nil {
			t.Fatal(err)
		}
	}
	r.c.mu.Lock()
	var ids []string
	for id := range r.c.prints.inflight {
		ids = append(ids, id)
	}
	r.c.mu.Unlock()
	ack := wire.AckMsg{Status: wire.AckFailed, Code: "paper_out"}
	var wg sync.WaitGroup
	r.c.mu.Lock() // both outcomes of each print queue up for the controller
	for _, id := range ids {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.c.onCommandOutcome(context.Background(), id, wire.AckMsg{ID: id, Status: ack.Status, Code: ack.Code}, nil)
			}()
		}
	}
	r.c.mu.Unlock()
	wg.Wait()
	if got := r.counter(r.c.metrics.unprinted); got != n {
		t.Fatalf("unprinted counted %v, want %d", got, n)
	}
	if got := strings.Count(r.logs.String(), "ticket not printed"); got != n {
		t.Fatalf("logged %d times, want %d", got, n)
	}
	if recs := r.records(PrintStream); len(recs) != 2*n {
		t.Fatalf("print records %d, want %d", len(recs), 2*n)
	}
}
