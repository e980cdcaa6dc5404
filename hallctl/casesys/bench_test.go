package casesys

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/servicehall/servicehall/hallctl/store"
)

// countingReceiver answers 204 to every event and closes done after n.
type countingReceiver struct {
	n    int64
	got  atomic.Int64
	done chan struct{}
	mu   sync.Mutex
	lag  []time.Duration
}

func (c *countingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev Event
	_ = json.NewDecoder(r.Body).Decode(&ev)
	c.mu.Lock()
	c.lag = append(c.lag, time.Since(ev.At))
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	if c.got.Add(1) == c.n {
		close(c.done)
	}
}

func ticketRecords(i int, at time.Time) []store.Record {
	id := int64(i)
	num := fmt.Sprintf("A%04d", i)
	q := func(typ string) store.Record {
		b, _ := json.Marshal(map[string]any{"type": typ, "at": at, "ticket": id, "number": num, "item": "HR-001", "window": 1 + i%20})
		return store.Record{Stream: QueueStream, Type: typ, At: at, Data: b}
	}
	c := Case{Serial: fmt.Sprintf("000000HR-00120261121%06d", i), Ticket: id, Number: num, Item: "HR-001", AcceptedAt: at}
	return []store.Record{q("issued"), q("called"), q("started"),
		{Stream: CaseStream, Type: "accepted", Key: c.Serial, At: at, Data: mustJSON(c)}, q("finished")}
}

// BenchmarkOutboxDelivery measures delivery to a local receiver: events
// already in the log, delivered by Run (8 workers, one fsync per outcome).
func BenchmarkOutboxDelivery(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "hallctl.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	tickets := (b.N + 4) / 5
	now := time.Now()
	for i := 1; i <= tickets; i++ {
		if _, err := st.Append(ctx, ticketRecords(i, now)...); err != nil {
			b.Fatal(err)
		}
	}
	rcv := &countingReceiver{n: int64(tickets * 5), done: make(chan struct{})}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	ob, err := OpenOutbox(ctx, st, OutboxOpts{Hall: "bench", Secret: secret, Clock: clockwork.NewRealClock(),
		Webhook: Webhook{URL: srv.URL, Workers: 8}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	rctx, cancel := context.WithCancel(ctx)
	go ob.Run(rctx)
	<-rcv.done
	el := time.Since(start)
	cancel()
	b.ReportMetric(float64(rcv.n)/el.Seconds(), "events/s")
}

// TestOutboxLoad100x runs the connector for 20 s at 100× a big hall's
// peak (0.22 tickets/s × 100 = 22 tickets/s, 5 case events each, every
// event its own commit as in the controller) and reports how far delivery
// falls behind. Set CASESYS_LOAD=100 to run it (another multiple of the
// peak to find where it falls behind).
func TestOutboxLoad100x(t *testing.T) {
	mult, _ := strconv.ParseFloat(os.Getenv("CASESYS_LOAD"), 64)
	if mult <= 0 {
		t.Skip("set CASESYS_LOAD=100 (the multiple of the peak) to run the 20 s load run")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "hallctl.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rate, seconds := 0.22*mult, 20.0
	n := int(rate * seconds)
	rcv := &countingReceiver{n: int64(n * 5), done: make(chan struct{})}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	ob, err := OpenOutbox(ctx, st, OutboxOpts{Hall: "load", Secret: secret, Webhook: Webhook{URL: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go ob.Run(rctx)
	maxPending := 0
	interval := time.Second / time.Duration(rate*5)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	start := time.Now()
	for i := 1; i <= n; i++ {
		for _, r := range ticketRecords(i, time.Time{}) {
			<-tick.C
			r.At = time.Now()
			r.Data = []byte(fmt.Sprintf(`{"type":%q,"at":%q,"ticket":%d,"window":1}`, r.Type, r.At.Format(time.RFC3339Nano), i))
			if r.Stream == CaseStream {
				c := Case{Serial: fmt.Sprintf("000000HR-00120261121%06d", i), Ticket: int64(i), Item: "HR-001", AcceptedAt: r.At}
				r.Data = mustJSON(c)
			}
			if _, err := st.Append(ctx, r); err != nil {
				t.Fatal(err)
			}
			ob.Notify()
			maxPending = max(maxPending, ob.Stats().Pending)
		}
	}
	offered := time.Since(start)
	<-rcv.done
	drainAfter := time.Since(start) - offered
	rcv.mu.Lock()
	lags := slices.Clone(rcv.lag)
	rcv.mu.Unlock()
	slices.Sort(lags)
	p := func(q float64) time.Duration { return lags[int(q*float64(len(lags)-1))].Round(time.Microsecond) }
	t.Logf("%v× peak: %d events in %v (%.0f events/s offered); max pending %d; lag p50 %v p99 %v max %v; drained %v after the last append", mult,
		len(lags), offered.Round(time.Millisecond), float64(len(lags))/offered.Seconds(), maxPending, p(0.5), p(0.99), p(1), drainAfter.Round(time.Millisecond))
}
