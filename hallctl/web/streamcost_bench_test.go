package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/servicehall/servicehall/hallctl/web"
)

// BenchmarkIssueUnderWebsocketStorm: issue 10's websockets attack in one
// process: ticket issue by 50 HTTP clients for 2 s undisturbed, then
// after 2,000 anonymous stream dials from 50 goroutines (4 get a stream
// and read every event, the rest are refused), then with the attacker
// gone. Reports the three rates.
func BenchmarkIssueUnderWebsocketStorm(b *testing.B) {
	const clients = 50
	var base, during, after float64
	for it := 0; it < b.N; it++ {
		cfg := testConfig(b)
		cfg.Limits.HTTPConnsPerIP, cfg.Limits.TicketsPerClientPerMin, cfg.Limits.TicketsPerItemPerDay = 4*clients, 1e8, 1e8
		cfg.Limits.PublicPerMin, cfg.Limits.PublicBurst = 1e8, 1e6
		h := startHallWith(b, cfg)
		rate := func() float64 {
			tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr}
			var n atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			end := start.Add(2 * time.Second)
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(end) {
						body, _ := json.Marshal(web.TicketRequest{Item: "HR-001"})
						resp, err := cl.Post(h.base+"/api/v1/tickets", "application/json", bytes.NewReader(body))
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == 201 {
							n.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			return float64(n.Load()) / time.Since(start).Seconds()
		}
		rate() // warm up
		base += rate()
		url := strings.Replace(h.base, "http", "ws", 1) + "/api/v1/stream"
		var mu sync.Mutex
		var conns []*websocket.Conn
		var tries atomic.Int64
		var wg sync.WaitGroup
		stormEnd := time.Now().Add(15 * time.Second)
		for w := 0; w < 50; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for tries.Add(1) <= 2000 && time.Now().Before(stormEnd) {
					c, _, err := websocket.DefaultDialer.Dial(url, nil)
					if err != nil {
						continue
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
					go func() {
						for {
							if _, _, err := c.ReadMessage(); err != nil {
								return
							}
						}
					}()
				}
			}()
		}
		wg.Wait()
		during += rate()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		b.Logf("%d streams held", len(conns))
		mu.Unlock()
		after += rate()
	}
	n := float64(b.N)
	b.ReportMetric(base/n, "base-tickets/s")
	b.ReportMetric(during/n, "during-tickets/s")
	b.ReportMetric(after/n, "after-tickets/s")
}
