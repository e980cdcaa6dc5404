package broker_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"runtime"
	"testing"

	"github.com/servicehall/servicehall/hallctl/broker"
	"github.com/servicehall/servicehall/wire"
)

// The abuse runs of issue 10 against the embedded broker, with the default
// limits and with the limits raised out of the way (the old behaviour):
//
//	go test -run '^$' -bench Abuse -benchtime 1x ./hallctl/broker
//
// heap-MB is the broker process's HeapInuse growth (after a GC) from the
// attack, held-MB and topics what the attacking agent holds in the broker
// afterwards, conns how often it was disconnected and came back.

// BenchmarkAbuseRetained: one agent publishes 1,500 × 200 KB retained
// messages (device statuses), reconnecting whenever it is dropped.
func BenchmarkAbuseRetained(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 200<<10)
	abuse(b, 1500, 100, func(i int) (string, bool, []byte) {
		return wire.DevStatus(hall, "kiosk-1", fmt.Sprintf("d%d", i)), true, payload
	})
}

// BenchmarkAbuseTopics: one agent publishes to 50,000 distinct event
// topics, reconnecting whenever it is dropped.
func BenchmarkAbuseTopics(b *testing.B) {
	abuse(b, 50000, 1000, func(i int) (string, bool, []byte) {
		return wire.Event(hall, "kiosk-1", fmt.Sprintf("d%d", i), "press"), false, []byte(`{}`)
	})
}

// abuse runs n publishes by agent kiosk-1, pipelined batch at a time on a
// raw connection (QoS 0, fire and forget), each batch on a new connection
// when the broker dropped the previous one.
func abuse(b *testing.B, n, batch int, msg func(i int) (topic string, retain bool, payload []byte)) {
	for _, lim := range []struct {
		name string
		l    broker.Limits
	}{
		{"limits", broker.Limits{}},
		{"unlimited", broker.Limits{TopicsPerAgent: 1 << 30, RetainedBytesPerAgent: 1 << 40}},
	} {
		b.Run(lim.name, func(b *testing.B) {
			for range b.N {
				br := startBroker(b, func(o *broker.Options) {
					o.Limits = lim.l
					o.Logger = slog.New(slog.DiscardHandler)
				})
				before := heapInuse()
				conns := 0
				var c *rawClient
				for i := 0; i < n; i += batch {
					if c == nil {
						c = rawDial(b, br.Addr(), "kiosk-1", "kiosk-1", "k1-secret")
						conns++
					}
					var buf bytes.Buffer
					for j := i; j < min(i+batch, n); j++ {
						topic, retain, payload := msg(j)
						buf.Write(publishBytes(b, topic, retain, payload))
					}
					buf.Write(pingreq)
					c.Write(buf.Bytes()) // fails once the broker has dropped it
					if c.drain(b) {
						c.Close()
						c = nil
					}
				}
				after := heapInuse()
				topics, held := broker.Usage(br, "kiosk-1")
				b.ReportMetric(float64(int64(after)-int64(before))/(1<<20), "heap-MB")
				b.ReportMetric(float64(held)/(1<<20), "held-MB")
				b.ReportMetric(float64(topics), "topics")
				b.ReportMetric(float64(conns), "conns")
				br.Close()
			}
		})
	}
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
