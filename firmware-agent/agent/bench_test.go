package agent_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/device/devicetest"
	"github.com/servicehall/servicehall/wire"
)

// report adds p50/p99 of the samples to the benchmark output.
func report(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkPressToController: a button press through the durable outbox
// (SQLite insert with fsync) and the embedded broker to a subscriber.
func BenchmarkPressToController(b *testing.B) {
	br := startBroker(b, "127.0.0.1:0")
	ct := newController(b, br, "ctl", wire.HallFilter(hall))
	set := devicetest.NewSet()
	startAgent(b, testConfig(b, br.url(), b.TempDir()), set, clockwork.NewRealClock())
	ct.waitBirth()
	btn := set.Button("btn-1")
	evt := wire.Event(hall, agentID, "btn-1", wire.EvtPress)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := btn.Press(ctx); err != nil {
			b.Fatal(err)
		}
		ct.next(evt)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	report(b, lat)
}

// BenchmarkPrintCommandRoundTrip: controller → cmd/print → agent ledger
// (fsync'd begin and finish) → fake printer → ack → controller.
func BenchmarkPrintCommandRoundTrip(b *testing.B) {
	br := startBroker(b, "127.0.0.1:0")
	ct := newController(b, br, "ctl", wire.HallFilter(hall))
	set := devicetest.NewSet()
	startAgent(b, testConfig(b, br.url(), b.TempDir()), set, clockwork.NewRealClock())
	ct.waitBirth()
	topic := wire.Command(hall, agentID, "printer-1", wire.CmdPrint)
	ack := wire.Ack(hall, agentID, "printer-1")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c := wire.NewCommand(start, time.Minute, printArgs("A001"))
		ct.c.Publish(topic, 1, false, wire.Marshal(c))
		ct.next(ack)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	report(b, lat)
}
