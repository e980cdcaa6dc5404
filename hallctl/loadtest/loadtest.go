// Package loadtest measures the controller's own speed for `make bench`:
// the press → print round trip through hallctl (event in, ticket issued and
// logged durably, print command out) with the embedded broker and with
// Mosquitto, at multiples of a big hall's peak ticket rate. A device played
// by a paho client publishes presses and timestamps the print commands it
// receives; it acks at once, so what is measured is the broker and the
// controller, not a printer.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"time"

	"github.com/servicehall/servicehall/hallctl/app"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/internal/mosquitto"
)

// PeakRate is a big hall's peak ticket rate (tickets/s): 4,000+ tickets a
// day with the morning peak ≈ 0.22/s.
const PeakRate = 0.22

// Run is one measurement.
type Run struct {
	Broker     string        `json:"broker"`
	Multiple   float64       `json:"multiple"`
	Rate       float64       `json:"rate_per_s"`
	Samples    int           `json:"samples"`
	P50, P99   time.Duration `json:"-"`
	Max        time.Duration `json:"-"`
	Lost       int           `json:"lost"`
	P50ms      float64       `json:"p50_ms"`
	P99ms      float64       `json:"p99_ms"`
	MaxMs      float64       `json:"max_ms"`
	ElapsedSec float64       `json:"elapsed_s"`
}

const hallYAML = `hall: {id: load-hall, name: 压测大厅, hours: {open: "00:00", close: "24:00"}}
departments: [{code: HR, name: 人社}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}
  - {code: HR-002, name: 失业登记, dept: HR, prefix: B, service_s: 240}
windows:
  - {number: 1, dept: HR, serves: ["*"], zone: east}
server: {demo: true}
# A load run raises the limits a hall keeps on (docs/security.md): one
# address issues thousands of tickets a second here, by design.
limits:
  tickets_per_client_per_min: 100000000
  tickets_per_item_per_day: 100000000
  public_per_min: 100000000
  public_burst: 100000
  http_conns_per_ip: 4096
  http_conns: 8192
  registry_devices: 100000
  mqtt_publishes_per_s: 1000000
  mqtt_publish_burst: 1000000
agents:
  - {id: load-kiosk, kiosk: true}
`

// Measure runs hallctl on a fresh state dir against the given broker kind
// ("embedded" or "mosquitto") and sends n presses at rate per second
// (Poisson arrivals), returning latency percentiles.
func Measure(ctx context.Context, brokerKind string, multiple float64, n int, logger *slog.Logger) (Run, error) {
	cfg, err := config.Parse("loadtest.yaml", []byte(hallYAML))
	if err != nil {
		return Run{}, err
	}
	cfg.Server.Demo = true // the simulated devices connect anonymously over loopback
	raiseLimits(cfg)
	dir, err := os.MkdirTemp("", "hallctl-load-*")
	if err != nil {
		return Run{}, err
	}
	defer os.RemoveAll(dir)
	o := app.Options{Config: cfg, Logger: logger, MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: dir}
	if brokerKind == "mosquitto" {
		url, stop, err := mosquitto.Start(ctx, dir)
		if err != nil {
			return Run{}, err
		}
		defer stop()
		o.BrokerURL = url
	}
	a, stop, err := serve(ctx, o)
	if err != nil {
		return Run{}, err
	}
	defer stop()

	hall, agent := cfg.Hall.ID, "load-kiosk"
	dev, err := startDevice(ctx, a, hall, agent, agent, n)
	if err != nil {
		return Run{}, err
	}
	defer dev.close()

	rate := PeakRate * multiple
	start := time.Now()
	if err := dev.pressPoisson(ctx, n, rate, rand.NewPCG(1, uint64(multiple*1000))); err != nil {
		return Run{}, err
	}
	dev.wait(ctx, n, time.After(30*time.Second))
	lat := dev.latencies()
	r := Run{Broker: brokerKind, Multiple: multiple, Rate: rate, Samples: len(lat), Lost: n - len(lat), ElapsedSec: time.Since(start).Seconds()}
	r.setPercentiles(lat)
	return r, nil
}

// setPercentiles fills p50, p99 and max from the round trips lat (sorted
// in place).
func (r *Run) setPercentiles(lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		r.P50 = lat[rank(0.50, len(lat))]
		r.P99 = lat[rank(0.99, len(lat))]
		r.Max = lat[len(lat)-1]
		r.P50ms, r.P99ms, r.MaxMs = ms(r.P50), ms(r.P99), ms(r.Max)
	}
}

// rank is the nearest-rank index of percentile p among n sorted values.
func rank(p float64, n int) int {
	k := int(math.Ceil(p*float64(n))) - 1
	if k < 0 {
		k = 0
	}
	return k
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

// Table prints runs as the bench table.
func Table(w io.Writer, runs []Run) {
	fmt.Fprintln(w, "press → print round trip through hallctl (event log durable)")
	fmt.Fprintf(w, "%-10s %8s %9s %8s %9s %9s %9s %5s\n", "broker", "× peak", "rate/s", "samples", "p50 ms", "p99 ms", "max ms", "lost")
	for _, r := range runs {
		fmt.Fprintf(w, "%-10s %8.0f %9.2f %8d %9.2f %9.2f %9.2f %5d\n", r.Broker, r.Multiple, r.Rate, r.Samples, r.P50ms, r.P99ms, r.MaxMs, r.Lost)
	}
}

// serve starts hallctl with o and runs it until stop is called.
func serve(ctx context.Context, o app.Options) (*app.App, func(), error) {
	rctx, cancel := context.WithCancel(ctx)
	a, err := app.Start(rctx, o)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	stop := func() { cancel(); <-done; a.Close() }
	select {
	case <-a.Controller.Connected():
		return a, stop, nil
	case <-time.After(10 * time.Second):
		stop()
		return nil, nil, errors.New("controller did not connect")
	}
}
