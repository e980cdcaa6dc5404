package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
)

// oracleHall is c no-difference windows open all day serving one item,
// with no walk and no no-shows: an M/M/c queue when fed Poisson arrivals
// with exponential service.
func oracleHall(t testing.TB, c int, queueYAML string) *config.Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("scenario: {name: oracle, arrivals: none.csv, walk_s: 0, no_show_hold_s: 0}\n")
	b.WriteString("hall: {id: oracle, name: o, hours: {open: \"00:00\", close: \"24:00\"}}\n")
	b.WriteString("departments: [{code: X, name: x}]\n")
	b.WriteString("items: [{code: X-1, name: x, dept: X, prefix: A, service_s: 10}]\n")
	b.WriteString(queueYAML)
	b.WriteString("windows:\n")
	for w := 1; w <= c; w++ {
		fmt.Fprintf(&b, "  - {number: %d, dept: X, serves: [\"*\"]}\n", w)
	}
	cfg, err := config.Parse("oracle.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// poisson makes Poisson arrivals of rate lambda (per second) per class
// over horizon seconds, exponential service of mean meanS.
func poisson(rng *rand.Rand, horizon, meanS float64, rates map[queue.Class]float64) []Arrival {
	total := 0.0
	for _, r := range rates {
		total += r
	}
	classes := []queue.Class{queue.Walkin, queue.Appointment, queue.Green, queue.Elderly}
	var out []Arrival
	for t := rng.ExpFloat64() / total; t < horizon; t += rng.ExpFloat64() / total {
		u := rng.Float64() * total
		cls := queue.Walkin
		for _, c := range classes {
			if u < rates[c] {
				cls = c
				break
			}
			u -= rates[c]
		}
		out = append(out, Arrival{T: t, Item: "X-1", Class: cls, ServiceS: rng.ExpFloat64() * meanS})
	}
	return out
}

// batchMeans is the mean of xs after a warm-up and the half-width of its
// 99% confidence interval from 20 batch means.
func batchMeans(xs []float64) (mean, half float64) {
	xs = xs[len(xs)/10:]
	const k = 20
	n := len(xs) / k
	var ms []float64
	for b := 0; b < k; b++ {
		s := 0.0
		for _, x := range xs[b*n : (b+1)*n] {
			s += x
		}
		ms = append(ms, s/float64(n))
	}
	for _, m := range ms {
		mean += m
	}
	mean /= k
	v := 0.0
	for _, m := range ms {
		v += (m - mean) * (m - mean)
	}
	sd := math.Sqrt(v / (k - 1))
	return mean, 2.861 * sd / math.Sqrt(k) // t(0.995, 19)
}

// erlangC is the probability of waiting in M/M/c with offered load a = λ/μ.
func erlangC(c int, a float64) float64 {
	term, sum := 1.0, 1.0
	for k := 1; k < c; k++ {
		term *= a / float64(k)
		sum += term
	}
	term *= a / float64(c)
	last := term * float64(c) / (float64(c) - a)
	return last / (sum + last)
}

func waitsByClass(t *testing.T, r *runner, cls queue.Class, unit float64) []float64 {
	t.Helper()
	var out []float64
	for _, rec := range r.tickets {
		if !rec.isCalled {
			t.Fatal("ticket never called")
		}
		if cls == 255 || r.arrivals[rec.arr].Class == cls {
			out = append(out, float64(rec.called-rec.issued)/1e6/unit)
		}
	}
	return out
}

// horizon is the simulated day in seconds (at most 24 h); c = 36 at full
// length is the slow case, so -short halves it.
func horizon(c int) float64 {
	if testing.Short() && c > 10 {
		return 40000
	}
	return 80000
}

func TestPooledMatchesErlangC(t *testing.T) {
	const meanS = 10.0
	for _, tc := range []struct {
		c    int
		want float64 // E[Wq] in mean service times at ρ = 0.85
	}{{10, 0.3532}, {36, 0.0476}} {
		t.Run(fmt.Sprintf("c=%d", tc.c), func(t *testing.T) {
			lambda := 0.85 * float64(tc.c) / meanS
			// The closed form agrees with the figure.
			a := lambda * meanS
			if got := erlangC(tc.c, a) / (float64(tc.c) - a); math.Abs(got-tc.want) > 5e-4 {
				t.Fatalf("Erlang C formula %v, want %v", got, tc.want)
			}
			rng := rand.New(rand.NewPCG(uint64(tc.c), 7))
			arr := poisson(rng, horizon(tc.c), meanS, map[queue.Class]float64{queue.Walkin: lambda})
			res, r, err := run(oracleHall(t, tc.c, ""), arr, queue.Opts{Policy: queue.PolicyPooled})
			if err != nil {
				t.Fatal(err)
			}
			mean, half := batchMeans(waitsByClass(t, r, 255, meanS))
			t.Logf("c=%d: %d tickets, E[Wq] %.4f ± %.4f (Erlang C %.4f), little rel err %.1e",
				tc.c, len(arr), mean, half, tc.want, res.Little.RelErr)
			if math.Abs(mean-tc.want) > half {
				t.Errorf("E[Wq] %.4f ± %.4f does not cover Erlang C %.4f", mean, half, tc.want)
			}
			if res.Little.RelErr > 1e-9 {
				t.Errorf("Little's law: %+v", res.Little)
			}
		})
	}
}

// TestPriorityMatchesCobham: with head starts far beyond any wait, the
// default policy is non-preemptive priority; M/M/c per-class waits are
// W_k = C/(cμ) / ((1-σ_{k-1})(1-σ_k)) (Cobham), and the λ-weighted mean
// obeys the conservation law (it equals the FCFS Erlang C wait).
func TestPriorityMatchesCobham(t *testing.T) {
	const meanS = 10.0
	cfg := oracleHall(t, 10, "queue: {max_overtake: 1000000000, head_start_min: {green: 2000000, elderly: 1000000, appointment: 0, walkin: 0}}\n")
	rates := map[queue.Class]float64{queue.Green: 0.5 / meanS, queue.Elderly: 1.5 / meanS, queue.Walkin: 6.5 / meanS}
	rng := rand.New(rand.NewPCG(3, 11))
	arr := poisson(rng, horizon(10), meanS, rates)
	_, r, err := run(cfg, arr, queue.Opts{Policy: queue.PolicyDefault})
	if err != nil {
		t.Fatal(err)
	}
	// The closed forms, checked against the figures.
	c, lam := 10, 8.5
	base := erlangC(c, lam) / float64(c)
	sig := []float64{0, 0.5 / 10, 2.0 / 10, 8.5 / 10}
	want := []float64{0.0558, 0.0697, 0.4416}
	for k := 0; k < 3; k++ {
		if got := base / ((1 - sig[k]) * (1 - sig[k+1])); math.Abs(got-want[k]) > 5e-4 {
			t.Fatalf("Cobham class %d: %v want %v", k, got, want[k])
		}
	}
	for k, cls := range []queue.Class{queue.Green, queue.Elderly, queue.Walkin} {
		mean, half := batchMeans(waitsByClass(t, r, cls, meanS))
		t.Logf("%s: W %.4f ± %.4f (Cobham %.4f)", cls, mean, half, want[k])
		if math.Abs(mean-want[k]) > half {
			t.Errorf("%s: W %.4f ± %.4f does not cover %.4f", cls, mean, half, want[k])
		}
	}
	// Conservation: Σ λ_k W_k / λ is the FCFS wait 0.3532.
	mean, half := batchMeans(waitsByClass(t, r, 255, meanS))
	t.Logf("all: %.4f ± %.4f (conservation 0.3532)", mean, half)
	if math.Abs(mean-0.3532) > half {
		t.Errorf("conservation: %.4f ± %.4f does not cover 0.3532", mean, half)
	}
	if lw := 0.5*want[0] + 1.5*want[1] + 6.5*want[2]; math.Abs(lw/8.5-0.3532) > 1e-3 {
		t.Errorf("closed-form conservation %v", lw/8.5)
	}
}
