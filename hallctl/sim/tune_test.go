package sim

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/queue"
)

// TestTune is a tuning harness, skipped unless TUNE is set:
//
//	TUNE="60 15,20,30" go test ./hallctl/sim -run Tune -v
//
// runs default with ProtectAfter = 60 min and head starts appointment 15,
// elderly 20, green 30 minutes on every scenario, beside fifo.
func TestTune(t *testing.T) {
	spec := os.Getenv("TUNE")
	if spec == "" {
		t.Skip("set TUNE to run")
	}
	var prot float64
	var hs string
	fmt.Sscanf(spec, "%f %s", &prot, &hs)
	for _, f := range scenarios(t) {
		cfg, arr, err := LoadScenario(f)
		if err != nil {
			t.Fatal(err)
		}
		if hs != "" {
			var a, e, g float64
			fmt.Sscanf(strings.ReplaceAll(hs, ",", " "), "%g %g %g", &a, &e, &g)
			cfg.Queue.HeadStartMin = map[string]float64{"walkin": 0, "appointment": a, "elderly": e, "green": g}
		}
		res, _, _ := run(cfg, arr, queue.Opts{ProtectAfter: time.Duration(prot * float64(time.Minute))})
		fres, _, _ := run(cfg, arr, queue.Opts{Policy: queue.PolicyFIFO})
		t.Logf("%-16s mean %4.0f p99 %4.0f (fifo %4.0f/%4.0f) walkin %4.0f (fifo %4.0f) green %4.0f elderly %4.0f appt %4.0f jain %.3f b50 %.2f b90 %.2f",
			cfg.Scenario.Name, res.Wait.Mean, res.Wait.P99, fres.Wait.Mean, fres.Wait.P99,
			res.Classes["walkin"].MeanWaitS, fres.Classes["walkin"].MeanWaitS, res.Classes["green"].MeanWaitS,
			res.Classes["elderly"].MeanWaitS, res.Classes["appointment"].MeanWaitS, res.JainItems, res.ETA.BelowP50, res.ETA.BelowP90)
	}
}
