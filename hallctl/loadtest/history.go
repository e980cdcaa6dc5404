package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/history"
	"github.com/servicehall/servicehall/hallctl/store"
)

// GenerateHistory writes a year of history with served tickets of the
// load-test hall into dir's event log (dir must hold no log yet).
func GenerateHistory(ctx context.Context, dir string, served int, logger *slog.Logger) (history.Stats, error) {
	cfg, err := config.Parse("loadtest.yaml", []byte(hallYAML))
	if err != nil {
		return history.Stats{}, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return history.Stats{}, err
	}
	st, err := store.Open(ctx, filepath.Join(dir, "hallctl.db"), store.Options{})
	if err != nil {
		return history.Stats{}, err
	}
	s, err := history.Generate(ctx, st, history.Options{Config: cfg, Served: served, Seed: 1, Logger: logger})
	return s, errors.Join(err, st.Close())
}

// RestartRun is one start of hallctl serve as a process on a state dir.
type RestartRun struct {
	// ToHealthy is from the process's start to /healthz answering 200;
	// ToServed to the first ticket issued over HTTP after that.
	ToHealthy, ToServed time.Duration `json:"-"`
	ToHealthyS          float64       `json:"to_healthy_s"`
	ToServedS           float64       `json:"to_served_s"`
	RSSMB               float64       `json:"rss_mb"` // VmRSS once serving
	HWMMB               float64       `json:"hwm_mb"` // VmHWM: the peak over the start
}

// MeasureRestart starts bin ("hallctl") with `serve` on dir n times, each
// time until it serves one ticket, then stops it with SIGTERM (a clean
// stop, which snapshots). The first run is the first start on the
// history; the ones after it are restarts.
func MeasureRestart(ctx context.Context, bin, dir string, n int) ([]RestartRun, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(abs, "loadtest-hall.yaml")
	if err := os.WriteFile(cfgPath, []byte(hallYAML+"server: {demo: true, state_dir: "+strconv.Quote(abs)+"}\n"), 0o600); err != nil {
		return nil, err
	}
	var out []RestartRun
	for i := 0; i < n; i++ {
		r, err := startOnce(ctx, bin, cfgPath)
		if err != nil {
			return out, fmt.Errorf("start %d: %w", i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startOnce(ctx context.Context, bin, cfgPath string) (RestartRun, error) {
	httpAddr, err := freePort()
	if err != nil {
		return RestartRun{}, err
	}
	mqttAddr, err := freePort()
	if err != nil {
		return RestartRun{}, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "HTTP_ADDR="+httpAddr, "MQTT_ADDR="+mqttAddr, "LOG_LEVEL=warn")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return RestartRun{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return errors.New("hallctl did not stop within 30 s of SIGTERM")
		}
	}
	cl := &http.Client{Timeout: 2 * time.Second}
	var r RestartRun
	deadline := time.Now().Add(5 * time.Minute)
	for {
		resp, err := cl.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				r.ToHealthy = time.Since(t0)
				break
			}
		}
		select {
		case err := <-exited:
			return r, fmt.Errorf("hallctl exited before serving (%v): %s", err, lastLine(stderr.String()))
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = stop()
			return r, errors.New("hallctl not healthy within 5 minutes")
		}
	}
	resp, err := cl.Post("http://"+httpAddr+"/api/v1/tickets", "application/json", strings.NewReader(`{"item":"HR-001"}`))
	if err != nil {
		_ = stop()
		return r, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		_ = stop()
		return r, fmt.Errorf("first ticket: HTTP %d", resp.StatusCode)
	}
	r.ToServed = time.Since(t0)
	r.RSSMB, r.HWMMB = procMem(cmd.Process.Pid)
	if err := stop(); err != nil {
		return r, fmt.Errorf("stop: %w: %s", err, lastLine(stderr.String()))
	}
	r.ToHealthyS, r.ToServedS = r.ToHealthy.Seconds(), r.ToServed.Seconds()
	return r, nil
}

// procMem reads a process's VmRSS and VmHWM from /proc, in MB.
func procMem(pid int) (rss, hwm float64) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = kb / 1024
		case "VmHWM":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// LoadAvg is the machine's /proc/loadavg (1, 5 and 15 minutes).
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// RestartTable prints restart runs: the first start on the history, then
// the restarts and their medians.
func RestartTable(w io.Writer, runs []RestartRun) {
	fmt.Fprintln(w, "Restart on the history (hallctl serve as a process; the first start replays the log, later ones restore snapshots)")
	fmt.Fprintf(w, "%6s %12s %12s %8s %8s\n", "start", "healthy s", "served s", "RSS MB", "peak MB")
	for i, r := range runs {
		fmt.Fprintf(w, "%6d %12.3f %12.3f %8.1f %8.1f\n", i+1, r.ToHealthyS, r.ToServedS, r.RSSMB, r.HWMMB)
	}
	if len(runs) > 1 {
		rest := runs[1:]
		med := func(f func(RestartRun) float64) float64 {
			v := make([]float64, len(rest))
			for i, r := range rest {
				v[i] = f(r)
			}
			sort.Float64s(v)
			return v[len(v)/2]
		}
		fmt.Fprintf(w, "%6s %12.3f %12.3f %8.1f %8.1f   (median of %d restarts)\n", "median",
			med(func(r RestartRun) float64 { return r.ToHealthyS }), med(func(r RestartRun) float64 { return r.ToServedS }),
			med(func(r RestartRun) float64 { return r.RSSMB }), med(func(r RestartRun) float64 { return r.HWMMB }), len(rest))
	}
}
