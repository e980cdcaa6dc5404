package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/web"
	"github.com/servicehall/servicehall/wire"
)

func pct(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	k := int(float64(len(xs))*p+0.999999) - 1
	return xs[min(max(k, 0), len(xs)-1)]
}

// BenchmarkKioskIssueHTTP: 100 concurrent kiosk clients take tickets over
// HTTP (POST /api/v1/tickets, durable in the event log before answering).
// Reports p50/p99 latency and throughput.
func BenchmarkKioskIssueHTTP(b *testing.B) {
	const clients, perClient = 100, 15
	cfg := testConfig(b)
	cfg.Limits.HTTPConnsPerIP = 4 * clients // every client is 127.0.0.1
	h := startHallWith(b, cfg)
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	items := []string{"HR-001", "HR-002", "MKT-001"}
	var all []time.Duration
	var wall time.Duration
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for i := 0; i < perClient; i++ {
					body, _ := json.Marshal(web.TicketRequest{Item: items[(c+i)%3]})
					t0 := time.Now()
					resp, err := cl.Post(h.base+"/api/v1/tickets", "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					d := time.Since(t0)
					if resp.StatusCode != 201 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					mu.Lock()
					all = append(all, d)
					mu.Unlock()
				}
			}(c)
		}
		wg.Wait()
		wall += time.Since(start)
		b.StopTimer()
		// A fresh day of numbers for the next iteration.
		h = startHall(b)
		b.StartTimer()
	}
	b.ReportMetric(float64(pct(all, .5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(all, .99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(all))/wall.Seconds(), "tickets/s")
}

// BenchmarkStreamFanout: 200 hall screens on the websocket; a clerk's
// call (recall) goes through Controller.Act; the latency is from just
// before Act to each screen having read the call. Reports p50/p99.
func BenchmarkStreamFanout(b *testing.B) {
	const screens = 200
	cfg := testConfig(b)
	// A load benchmark raises the per-address caps (every screen is 127.0.0.1).
	cfg.Limits.Websockets, cfg.Limits.WebsocketsPerIP, cfg.Limits.HTTPConnsPerIP = 2*screens, 2*screens, 4*screens
	h := startHallWith(b, cfg)
	h.do(b, "POST", "/api/v1/tickets", "", map[string]any{"item": "MKT-001"})
	if _, err := h.Controller.Act(context.Background(), ctl.ActRequest{Window: 2, Action: wire.KeyCallNext}); err != nil {
		b.Fatal(err)
	}
	url := strings.Replace(h.base, "http", "ws", 1) + "/api/v1/stream"
	got := make(chan time.Time, screens*4)
	var conns []*websocket.Conn
	for i := 0; i < screens; i++ {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		var hello web.StreamMsg
		if err := c.ReadJSON(&hello); err != nil {
			b.Fatal(err)
		}
		go func(c *websocket.Conn) {
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if bytes.Contains(msg, []byte(`"call":`)) {
					got <- time.Now()
				}
			}
		}(c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := h.Controller.Act(context.Background(), ctl.ActRequest{Window: 2, Action: wire.KeyRecall}); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < screens; j++ {
			select {
			case at := <-got:
				lat = append(lat, at.Sub(t0))
			case <-time.After(10 * time.Second):
				b.Fatalf("round %d: only %d of %d screens got the call", i, j, screens)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(pct(lat, .5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(lat, .99).Microseconds())/1000, "p99-ms")
}
