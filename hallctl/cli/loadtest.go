package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/servicehall/servicehall/hallctl/loadtest"
)

func init() {
	register("loadtest", "measure press → print latency through hallctl (make bench)", runLoadtest)
}

func runLoadtest(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "loadtest", "[--mqtt embedded|mosquitto|both] [--multiples 10,100,1000] [--seconds S] [--json]")
	which := fs.String("mqtt", "both", "broker: embedded, mosquitto or both")
	multiples := fs.String("multiples", "10,100,1000", "comma-separated multiples of the peak rate (0.22 tickets/s)")
	seconds := fs.Float64("seconds", 60, "target duration of each run (at least 200 presses each)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if ok, code := parse(fs, args); !ok {
		return code
	}
	brokers := []string{"embedded", "mosquitto"}
	if *which != "both" {
		brokers = []string{*which}
	}
	var runs []loadtest.Run
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, b := range brokers {
		for _, m := range strings.Split(*multiples, ",") {
			var mult float64
			if _, err := fmt.Sscan(strings.TrimSpace(m), &mult); err != nil || mult <= 0 {
				fmt.Fprintf(e.stderr, "hallctl loadtest: bad multiple %q\n", m)
				return 2
			}
			n := int(loadtest.PeakRate * mult * *seconds)
			if n < 200 {
				n = 200
			}
			r, err := loadtest.Measure(ctx, b, mult, n, quiet)
			if err != nil {
				fmt.Fprintf(e.stderr, "hallctl loadtest: %s ×%v: %v\n", b, mult, err)
				return 1
			}
			runs = append(runs, r)
			if !*asJSON {
				fmt.Fprintf(e.stderr, "  %s ×%v done: %d samples\n", b, mult, r.Samples)
			}
		}
	}
	if *asJSON {
		_ = json.NewEncoder(e.stdout).Encode(runs)
		return 0
	}
	loadtest.Table(e.stdout, runs)
	return 0
}
