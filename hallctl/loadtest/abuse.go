package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/wire"
)

// The abuse runs of issue 10: each attack of the security review is
// repeated against a hallctl process with the hall's default limits, from
// its own loopback address (127.0.0.2), while the hall's own clients
// (127.0.0.1) go on. After each: ticket issue at 10 clients against the
// undisturbed rate, the controller's RSS against its baseline, and whether
// an enrolled device can still connect.
//
// In a hall the attacker, the desks and the controller are different
// machines; here they share one. So that the measure is the controller's
// defence and not the attacker's own CPU, the attacker runs in its own
// process (`hallctl loadtest --abuse-attacker NAME`, not sharing the
// measuring process's Go scheduler), and on a machine with two or more
// CPUs the controller gets CPU 0 to itself while the measuring desks and
// the attacker share the others (PinCPUs). Everything the attacker sends
// still reaches the controller and is answered by it.

// AbuseRun is one attack's outcome.
type AbuseRun struct {
	Name string `json:"name"`
	// Attack says what the attacker tried and what it got.
	Attack    string  `json:"attack"`
	Base      float64 `json:"undisturbed_tickets_per_s"`
	BaseRSSMB float64 `json:"undisturbed_rss_mb"`
	PerSec    float64 `json:"tickets_per_s"`
	Ratio     float64 `json:"ratio"` // PerSec / undisturbed
	// After is the rate once the attacker has stopped (killed), and
	// AfterRatio After / undisturbed: what the attack left behind.
	After      float64 `json:"after_tickets_per_s"`
	AfterRatio float64 `json:"after_ratio"`
	RSSMB      float64 `json:"rss_mb"`
	RSSDeltaMB float64 `json:"rss_delta_mb"`
	// HeldRSSDeltaMB is the RSS once the attacker holds what it took,
	// before the desks' measured window, less the baseline: what the
	// attacker's hold costs by itself.
	HeldRSSDeltaMB float64 `json:"held_rss_delta_mb"`
	// DriftRSSMB is the control run's RSSDeltaMB in the same set (the
	// desks' own tickets grow the controller by this much over the
	// windows, attacked or not); AttackRSSMB is the larger of
	// HeldRSSDeltaMB and RSSDeltaMB − DriftRSSMB: the attack's cost in
	// memory, which the bar holds within 50 MB.
	DriftRSSMB  float64 `json:"drift_rss_mb"`
	AttackRSSMB float64 `json:"attack_rss_mb"`
	Reconnect   bool    `json:"device_reconnects"`
	// BaseCPU and CPU are the controller's CPU use (share of one CPU)
	// while the undisturbed and the attacked rates were measured: its
	// headroom under attack.
	BaseCPU float64 `json:"undisturbed_ctl_cpu"`
	CPU     float64 `json:"ctl_cpu"`
	// Defended: the limit for this attack answered it (the attacker was
	// refused, cut, throttled or disconnected as docs/security.md says).
	Defended bool   `json:"defended"`
	Err      string `json:"error,omitempty"`
	// Repeats is how many times the attack ran; the figures above are the
	// medians (the worst run's defended/reconnect/error).
	Repeats int `json:"repeats,omitempty"`
	// Ratios are each repeat's ratio.
	Ratios []float64 `json:"ratios,omitempty"`
	// PinnedCPU says the controller had CPU 0 to itself.
	PinnedCPU bool `json:"pinned_cpu"`
}

// OK reports whether the run meets issue 10's bar: issue within 20% of
// the undisturbed rate, RSS within 50 MB of baseline, devices reconnect.
func (r AbuseRun) OK() bool {
	return r.Err == "" && r.Defended && r.Ratio >= 0.8 && r.AfterRatio >= 0.8 && r.AttackRSSMB <= 50 && r.Reconnect
}

// AbuseNames are the attacks MeasureAbuse knows, in the order it runs them.
var AbuseNames = []string{"conn-hold", "slow-body", "websockets", "ticket-flood", "snapshot", "retained", "topics", "labels", "mqtt-guess", "log-flood"}

const abuseAgent, abuseAgentPass = "kiosk-1", "abuse-agent-password-0123"

// abuseHall is hallYAML with the production posture: MQTT credentials,
// enrolled agents, default limits except the daily cap per item (the
// measuring clients issue thousands of tickets; they are staff desks with
// a manager token, which the per-client limits of anonymous clients do
// not hold).
func abuseHall(dir string) string {
	return hallYAML[:strings.Index(hallYAML, "server: {demo: true}")] + fmt.Sprintf(`server:
  state_dir: %q
  users:
    - {username: %s, password_file: %q}
agents:
  - {id: %s, kiosk: true, windows: [1]}
limits:
  tickets_per_item_per_day: 100000000
`, dir, abuseAgent, filepath.Join(dir, "agent.hash"), abuseAgent)
}

// MeasureAbuse runs the named attacks (AbuseNames when empty), each on a
// fresh hallctl process (bin, with serve) whose state lives under
// stateDir (AbuseStateDir when empty): the undisturbed rate and RSS
// first, then the attack, then the same measures while the attacker holds
// what it took, then the rate once the attacker is gone.
func MeasureAbuse(ctx context.Context, bin string, names []string, repeats int, stateDir string, logger *slog.Logger) (runs []AbuseRun, err error) {
	if stateDir == "" {
		stateDir = AbuseStateDir()
	}
	if len(names) == 0 {
		names = AbuseNames
	}
	for _, name := range names {
		if _, ok := attacks[name]; !ok {
			return nil, fmt.Errorf("unknown abuse run %q (have %s)", name, strings.Join(AbuseNames, ", "))
		}
	}
	if !slices.Contains(names, "control") {
		// The control run (no attack) is the yardstick of the measure's
		// own drift in memory: every set has one, first.
		names = append([]string{"control"}, names...)
	}
	repeats = max(repeats, 1)
	pinned := pinSelf(logger)
	for _, name := range names {
		var rs []AbuseRun
		for i := 0; i < repeats; i++ {
			r, err := abuseOnce(ctx, bin, name, stateDir, pinned, logger)
			if err != nil {
				r.Err = err.Error()
			}
			logger.Info("abuse run", "name", name, "repeat", i+1, "attack", r.Attack, "base", r.Base, "ratio", r.Ratio, "after_ratio", r.AfterRatio, "rss_delta_mb", r.RSSDeltaMB, "reconnect", r.Reconnect, "defended", r.Defended, "err", r.Err)
			rs = append(rs, r)
		}
		runs = append(runs, medianRun(rs))
	}
	drift := 0.0
	for _, r := range runs {
		if r.Name == "control" {
			drift = r.RSSDeltaMB
		}
	}
	for i := range runs {
		runs[i].DriftRSSMB = drift
		runs[i].AttackRSSMB = max(runs[i].HeldRSSDeltaMB, runs[i].RSSDeltaMB-drift)
	}
	return runs, nil
}

// medianRun folds repeats of one attack: median figures, the worst
// run's defended, reconnect and error.
func medianRun(rs []AbuseRun) AbuseRun {
	out := rs[len(rs)/2]
	med := func(f func(AbuseRun) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		sort.Float64s(xs)
		if len(xs)%2 == 1 {
			return xs[len(xs)/2]
		}
		return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	out.Base = med(func(r AbuseRun) float64 { return r.Base })
	out.PerSec = med(func(r AbuseRun) float64 { return r.PerSec })
	out.Ratio = med(func(r AbuseRun) float64 { return r.Ratio })
	out.After = med(func(r AbuseRun) float64 { return r.After })
	out.AfterRatio = med(func(r AbuseRun) float64 { return r.AfterRatio })
	out.BaseRSSMB = med(func(r AbuseRun) float64 { return r.BaseRSSMB })
	out.RSSMB = med(func(r AbuseRun) float64 { return r.RSSMB })
	out.RSSDeltaMB = med(func(r AbuseRun) float64 { return r.RSSDeltaMB })
	out.HeldRSSDeltaMB = med(func(r AbuseRun) float64 { return r.HeldRSSDeltaMB })
	out.BaseCPU = med(func(r AbuseRun) float64 { return r.BaseCPU })
	out.CPU = med(func(r AbuseRun) float64 { return r.CPU })
	out.Repeats = len(rs)
	out.Ratios = nil
	for _, r := range rs {
		out.Ratios = append(out.Ratios, r.Ratio)
		out.Defended = out.Defended && r.Defended
		out.Reconnect = out.Reconnect && r.Reconnect
		if r.Err != "" && out.Err == "" {
			out.Err = r.Err
		}
	}
	return out
}

// AbuseStateDir is where the abuse runs keep the controller's state by
// default: /dev/shm when it is a writable memory file system, else the
// system's temporary directory. The attacks aim at the controller's CPU,
// memory, descriptors and broker; on a virtual machine's disk the
// fsync latency of the event log's group commit varies by tens of
// percent from one second to the next whatever the attacker does, and
// would hide what the controller's defences cost (docs/bench.md).
func AbuseStateDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "hallctl-probe-*"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

func abuseOnce(ctx context.Context, bin, name, stateDir string, pinned bool, logger *slog.Logger) (r AbuseRun, err error) {
	r.Name, r.PinnedCPU = name, pinned
	dir, err := os.MkdirTemp(stateDir, "hallctl-abuse-*")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	hash, err := bcrypt.GenerateFromPassword([]byte(abuseAgentPass), bcrypt.MinCost)
	if err != nil {
		return r, err
	}
	if err := os.WriteFile(filepath.Join(dir, "agent.hash"), hash, 0o600); err != nil {
		return r, err
	}
	cfgPath := filepath.Join(dir, "hall.yaml")
	if err := os.WriteFile(cfgPath, []byte(abuseHall(dir)), 0o600); err != nil {
		return r, err
	}
	h, err := startServe(ctx, bin, cfgPath, pinned)
	if err != nil {
		return r, err
	}
	defer h.stop()
	if h.deskTok, err = mintToken(ctx, bin, cfgPath, "manager", "abuse-desk"); err != nil {
		return r, err
	}
	if h.clerkTok, err = mintToken(ctx, bin, cfgPath, "clerk", "abuse-clerk", "--window", "1"); err != nil {
		return r, err
	}
	// Warm up, then the undisturbed rate and RSS.
	if _, err := h.issueRate(ctx, 10, time.Second); err != nil {
		return r, err
	}
	profile := h.profiler(ctx, bin, cfgPath, name, logger)
	cpu0 := procCPU(h.cmd.Process.Pid)
	stopProf := profile("base")
	base, err := h.issueRate(ctx, 10, 3*time.Second)
	stopProf()
	if err != nil {
		return r, err
	}
	r.BaseCPU = (procCPU(h.cmd.Process.Pid) - cpu0) / base.ElapsedSec
	r.Base = base.PerSec
	baseRSS, _ := procMem(h.cmd.Process.Pid)
	r.BaseRSSMB = baseRSS

	linesBefore := h.stderr.Lines()
	att, err := startAttacker(ctx, bin, name, h)
	if err != nil {
		return r, err
	}
	defer att.kill()
	attackStart := time.Now()
	heldErr := att.waitHeld(ctx) // the attack holds what it took while the hall is measured
	attackSecs := time.Since(attackStart).Seconds()
	linesDuring := h.stderr.Lines() - linesBefore
	heldRSS, _ := procMem(h.cmd.Process.Pid)
	r.HeldRSSDeltaMB = heldRSS - baseRSS
	cpu1 := procCPU(h.cmd.Process.Pid)
	stopProf = profile("during")
	m, merr := h.issueRate(ctx, 10, 3*time.Second)
	stopProf()
	if m.ElapsedSec > 0 {
		r.CPU = (procCPU(h.cmd.Process.Pid) - cpu1) / m.ElapsedSec
	}
	r.PerSec = m.PerSec
	r.Ratio = m.PerSec / base.PerSec
	r.RSSMB, _ = procMem(h.cmd.Process.Pid)
	r.RSSDeltaMB = r.RSSMB - baseRSS
	r.Reconnect = h.deviceConnects(ctx) == nil
	res, aerr := att.finish()
	r.Attack, r.Defended = res.Attack, res.Defended
	att.kill()
	// And once the attacker is gone: what it left behind.
	stopProf = profile("after")
	a, err := h.issueRate(ctx, 10, 3*time.Second)
	stopProf()
	if err == nil {
		r.After, r.AfterRatio = a.PerSec, a.PerSec/base.PerSec
	} else if merr == nil {
		merr = fmt.Errorf("after the attack: %w", err)
	}
	if aerr == nil && heldErr != nil {
		aerr = heldErr
	}
	if name == "log-flood" {
		// The log may carry the controller's budget of lines (burst, then
		// the rate) while the flood lasts, and not follow the flood.
		l := config.DefaultLimits
		budget := float64(l.LogBurst) + float64(l.LogLinesPerS)*attackSecs + 50
		r.Defended = aerr == nil && float64(linesDuring) <= budget
		r.Attack += fmt.Sprintf(": %d log lines in %.1f s (budget %.0f)", linesDuring, attackSecs, budget)
	}
	if m.Errors > 0 && merr == nil {
		merr = fmt.Errorf("%d of the hall's own requests failed", m.Errors)
	}
	select {
	case err := <-h.exited:
		return r, fmt.Errorf("hallctl exited: %v: %s", err, lastLine(h.stderr.String()))
	default:
	}
	return r, errors.Join(aerr, merr)
}

// AbuseTable prints the runs.
func AbuseTable(w io.Writer, runs []AbuseRun) {
	fmt.Fprintf(w, "%-13s %6s %9s %6s %-16s %6s %9s %7s %8s %8s %9s %6s %-8s %-4s  %s\n", "attack", "base/s", "during/s", "ratio", "each run", "after", "ctl CPU", "RSS MB", "ΔRSS MB", "held MB", "attack MB", "device", "defended", "ok", "what the attacker got")
	for _, r := range runs {
		ok := "yes"
		if !r.OK() {
			ok = "NO"
		}
		att := r.Attack
		if r.Err != "" {
			att += " — error: " + r.Err
		}
		each := make([]string, len(r.Ratios))
		for i, x := range r.Ratios {
			each[i] = fmt.Sprintf("%.2f", x)
		}
		cpu := fmt.Sprintf("%.0f→%.0f%%", 100*r.BaseCPU, 100*r.CPU)
		fmt.Fprintf(w, "%-13s %6.0f %9.0f %6.2f %-16s %6.2f %9s %7.0f %8.1f %8.1f %9.1f %6v %-8v %-4s  %s\n", r.Name, r.Base, r.PerSec, r.Ratio, strings.Join(each, " "), r.AfterRatio, cpu, r.BaseRSSMB, r.RSSDeltaMB, r.HeldRSSDeltaMB, r.AttackRSSMB, r.Reconnect, r.Defended, ok, att)
	}
	fmt.Fprintln(w, "(ΔRSS: at the end of the attacked window, less the baseline; held: once the attacker holds what it took, before the desks' window; attack: the larger of held and ΔRSS less the control run's ΔRSS, the desks' own tickets)")
	if len(runs) > 0 && !runs[0].PinnedCPU {
		fmt.Fprintln(w, "(the controller shared its CPUs with the desks and the attacker)")
	}
}

type served struct {
	cmd                *exec.Cmd
	httpAddr, mqttAddr string
	stderr             *syncBuffer
	exited             chan error
	deskTok, clerkTok  string
}

type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	lines int
}

func (s *syncBuffer) Lines() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines += bytes.Count(p, []byte("\n"))
	if s.b.Len() > 1<<20 { // keep the tail only
		s.b.Reset()
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startServe(ctx context.Context, bin, cfgPath string, pinned bool) (*served, error) {
	httpAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	mqttAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	h := &served{httpAddr: httpAddr, mqttAddr: mqttAddr, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	h.cmd = exec.CommandContext(ctx, bin, "serve", "--config", cfgPath)
	if pinned { // CPU 0 to itself (the measuring process left it)
		h.cmd = exec.CommandContext(ctx, "taskset", "-c", "0", bin, "serve", "--config", cfgPath)
	}
	h.cmd.Env = append(os.Environ(), "HTTP_ADDR="+httpAddr, "MQTT_ADDR="+mqttAddr, "LOG_LEVEL=warn")
	h.cmd.Stderr, h.cmd.Stdout = h.stderr, io.Discard
	if err := h.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { h.exited <- h.cmd.Wait() }()
	cl := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := cl.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return h, nil
			}
		}
		select {
		case err := <-h.exited:
			return nil, fmt.Errorf("hallctl exited before serving (%v): %s", err, lastLine(h.stderr.String()))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.stop()
			return nil, errors.New("hallctl not healthy within a minute")
		}
	}
}

func (h *served) stop() {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(30 * time.Second):
		_ = h.cmd.Process.Kill()
	}
}

func mintToken(ctx context.Context, bin, cfgPath, role, subject string, extra ...string) (string, error) {
	args := append([]string{"token", "--config", cfgPath, "--role", role, "--subject", subject, "--ttl", "1h"}, extra...)
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("hallctl token: %w: %s", err, ee.Stderr)
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// EnvAbuseProfile, when set to a directory, makes every abuse run take a
// CPU profile of the controller (through /debug/pprof with an admin
// token) over each measured window, NAME-N-base.pprof, -during, -after,
// and its heap as each window ends (NAME-N-base.heap, …).
const EnvAbuseProfile = "SH_ABUSE_PROFILE"

var profileRuns atomic.Int64 // numbers the runs' profiles

// profiler returns a function that starts a 3 s CPU profile of the
// controller for the window named and returns its wait; a no-op unless
// EnvAbuseProfile is set.
func (h *served) profiler(ctx context.Context, bin, cfgPath, name string, logger *slog.Logger) func(window string) (wait func()) {
	dir := os.Getenv(EnvAbuseProfile)
	if dir == "" {
		return func(string) func() { return func() {} }
	}
	tok, err := mintToken(ctx, bin, cfgPath, "admin", "abuse-profiler")
	if err != nil {
		logger.Warn("no profiles: cannot mint an admin token", "err", err)
		return func(string) func() { return func() {} }
	}
	run := profileRuns.Add(1)
	return func(window string) func() {
		path := filepath.Join(dir, fmt.Sprintf("%s-%d-%s.pprof", name, run, window))
		done := make(chan struct{})
		go func() {
			defer close(done)
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+h.httpAddr+"/debug/pprof/profile?seconds=3", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				logger.Warn("profile", "window", window, "err", err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				logger.Warn("profile", "window", window, "status", resp.StatusCode)
				return
			}
			_ = os.WriteFile(path, b, 0o644)
		}()
		return func() {
			<-done
			// And the heap as the window ends (what its RSS is made of).
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+h.httpAddr+"/debug/pprof/heap", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			if b, err := io.ReadAll(resp.Body); err == nil && resp.StatusCode == http.StatusOK {
				_ = os.WriteFile(strings.TrimSuffix(path, ".pprof")+".heap", b, 0o644)
			}
		}
	}
}

// issueRate is MeasureHTTP's closed loop against the process: clients
// desks (with the staff token) take tickets for dur.
func (h *served) issueRate(ctx context.Context, clients int, dur time.Duration) (HTTPRun, error) {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + h.httpAddr + "/api/v1/tickets"
	var ok, bad atomic.Int64
	var lastErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(dur)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(fmt.Sprintf(`{"item":"HR-00%d"}`, 1+(c+i)%2)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+h.deskTok)
				resp, err := cl.Do(req)
				if err != nil {
					bad.Add(1)
					lastErr.Store(err.Error())
					continue
				}
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					bad.Add(1)
					lastErr.Store(fmt.Sprintf("HTTP %d %s", resp.StatusCode, b))
					continue
				}
				ok.Add(1)
			}
		}(c)
	}
	wg.Wait()
	el := time.Since(start)
	r := HTTPRun{Clients: clients, Tickets: int(ok.Load()), Errors: int(bad.Load()), ElapsedSec: el.Seconds(), PerSec: float64(ok.Load()) / el.Seconds()}
	if r.Tickets == 0 {
		e, _ := lastErr.Load().(string)
		return r, fmt.Errorf("no ticket issued (%s)", e)
	}
	return r, nil
}

// deviceConnects connects as the enrolled agent with its credentials and
// publishes its status, as a rebooted board would.
func (h *served) deviceConnects(ctx context.Context) error {
	o := mqtt.NewClientOptions().AddBroker("tcp://" + h.mqttAddr).SetClientID(abuseAgent).
		SetUsername(abuseAgent).SetPassword(abuseAgentPass).SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
	c := mqtt.NewClient(o)
	t := c.Connect()
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return fmt.Errorf("device connect: %v", t.Error())
	}
	defer c.Disconnect(10)
	p := c.Publish(wire.AgentStatus("load-hall", abuseAgent), 1, true, wire.Online)
	if !p.WaitTimeout(5*time.Second) || p.Error() != nil {
		return fmt.Errorf("device publish: %v", p.Error())
	}
	return nil
}

// attacker dials from 127.0.0.2, its own address.
var attackerAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}

func attackerDialer() *net.Dialer {
	return &net.Dialer{LocalAddr: attackerAddr, Timeout: 5 * time.Second}
}

func attackerClient(n int) *http.Client {
	d := attackerDialer()
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: n, MaxIdleConns: n}}
}

type attackFunc func(ctx context.Context, h *served, held chan<- struct{}) (summary string, defended bool, err error)

var attacks = map[string]attackFunc{
	"control":      control,
	"conn-hold":    connHold,
	"slow-body":    slowBody,
	"websockets":   websockets,
	"ticket-flood": ticketFlood,
	"snapshot":     snapshotFlood,
	"retained":     retainedFlood,
	"topics":       topicFlood,
	"labels":       labelJunk,
	"mqtt-guess":   mqttGuess,
	"log-flood":    logFlood,
}

// control attacks nothing: its ratio is the measure's own drift
// between the undisturbed and the "during" run (not in AbuseNames).
func control(ctx context.Context, h *served, held chan<- struct{}) (string, bool, error) {
	close(held)
	<-ctx.Done()
	return "nothing (the measure's own drift)", true, nil
}

// connHold opens 3,000 idle TCP connections to HTTP (more than the
// process's file descriptors allow without a cap) and holds them; an MQTT
// connect follows while they are held.
func connHold(ctx context.Context, h *served, held chan<- struct{}) (string, bool, error) {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	d := attackerDialer()
	failed := 0
	for i := 0; i < 3000 && ctx.Err() == nil; i++ {
		c, err := d.DialContext(ctx, "tcp", h.httpAddr)
		if err != nil {
			failed++
			continue
		}
		conns = append(conns, c)
	}
	// Count how many the server has closed by now (a read returns EOF).
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			closed++
		}
	}
	close(held)
	<-ctx.Done()
	return fmt.Sprintf("opened %d of 3000 idle connections (%d refused at dial); %d closed by the server at once", len(conns), failed, closed), failed+closed > 0, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// slowBody sends 200 POSTs whose bodies trickle in a byte every 500 ms.
func slowBody(ctx context.Context, h *served, held chan<- struct{}) (string, bool, error) {
	var wg sync.WaitGroup
	var cut atomic.Int64
	d := attackerDialer()
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.DialContext(ctx, "tcp", h.httpAddr)
			if err != nil {
				cut.Add(1)
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /api/v1/tickets HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", h.httpAddr)
			for ctx.Err() == nil {
				if _, err := c.Write([]byte(" ")); err != nil {
					cut.Add(1)
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
			}
		}()
	}
	close(held)
	wg.Wait()
	return fmt.Sprintf("200 trickling bodies; %d cut by the server", cut.Load()), cut.Load() > 0, nil
}

// websockets opens up to 2,000 anonymous websocket streams from 50
// dialers at once (for at most 15 s: refusals are held by the server)
// and holds what it got.
func websockets(ctx context.Context, h *served, held chan<- struct{}) (string, bool, error) {
	d := attackerDialer()
	wd := websocket.Dialer{NetDialContext: d.DialContext, HandshakeTimeout: 5 * time.Second}
	var mu sync.Mutex
	var conns []*websocket.Conn
	refused := map[int]int{}
	var tries atomic.Int64
	end := time.Now().Add(15 * time.Second)
	var wg sync.WaitGroup
	for w := 0; w < 50; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tries.Add(1) <= 2000 && ctx.Err() == nil && time.Now().Before(end) {
				c, resp, err := wd.DialContext(ctx, "ws://"+h.httpAddr+"/api/v1/stream", nil)
				if err != nil {
					code := 0
					if resp != nil {
						code = resp.StatusCode
					}
					mu.Lock()
					refused[code]++
					mu.Unlock()
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				go func() { // read (and drop) what the hall sends, as a browser would
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
	close(held)
	<-ctx.Done()
	mu.Lock()
	defer mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	n := min(tries.Load(), 2000)
	return fmt.Sprintf("%d websocket dials: %d open, refused %v", n, len(conns), refused), len(conns) < 2000, nil
}

// ticketFlood takes anonymous tickets as fast as one client can for 5 s.
func ticketFlood(ctx context.Context, h *served, held chan<- struct{}) (string, bool, error) {
	cl := attackerClient(20)
	var ok, refused, other atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(5 * time.Second)
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				resp, err := cl.Post("http://"+h.httpAddr+"/api/v1/tickets", "application/json", strings.NewReader(`{"item":"HR-001"}`))
				if err != nil {
					other.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusCreated:
					ok.Add(1)
				case http.StatusTooManyRequests:
					refused.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(held)
	return fmt.Sprintf("5 s of anonymous issue: %d tickets, %d refused 429, %d other", ok.Load(), refused.Load(), other.Load()), refused.Load() > 0 && ok.Load() <= 100, nil
}

// snapshotFlood has 100 clients read /api/v1/snapshot in a loop.
func snapshotFlood(ctx context.Context, h *served, held chan<- struct{}) (string, bool, error) {
	cl := attackerClient(100)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 100; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+h.httpAddr+"/api/v1/snapshot", nil)
				resp, err := cl.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					refused.Add(1)
				}
			}
		}()
	}
	close(held)
	wg.Wait()
	return fmt.Sprintf("100 parallel /snapshot readers: %d answered, %d refused", ok.Load(), refused.Load()), true, nil
}

// agentClient connects as the enrolled agent. A publish the broker has
// not taken within a second is given up (paho's default waits 30 s): a
// throttled client's socket stops being read, and a flood meant to last
// 5 s would otherwise sit out the rest of paho's wait.
func agentClient(h *served, id string) (mqtt.Client, error) {
	o := mqtt.NewClientOptions().AddBroker("tcp://" + h.mqttAddr).SetClientID(id).
		SetUsername(abuseAgent).SetPassword(abuseAgentPass).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetWriteTimeout(time.Second)
	c := mqtt.NewClient(o)
	t := c.Connect()
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("attacker agent connect: %v", t.Error())
	}
	return c, nil
}

// retainedFlood: the enrolled agent publishes 1,500 × 200 KB retained
// messages under its own subtree.
func retainedFlood(ctx context.Context, h *served, held chan<- struct{}) (string, bool, error) {
	defer close(held)
	c, err := agentClient(h, abuseAgent)
	if err != nil {
		return "", false, err
	}
	defer c.Disconnect(10)
	payload := bytes.Repeat([]byte("x"), 200<<10)
	sent, failed := 0, 0
	for i := 0; i < 1500 && ctx.Err() == nil && c.IsConnectionOpen(); i++ {
		t := c.Publish(wire.DevStatus("load-hall", abuseAgent, "d"+strconv.Itoa(i)), 1, true, payload)
		if !t.WaitTimeout(5*time.Second) || t.Error() != nil {
			failed++
			continue
		}
		sent++
	}
	return fmt.Sprintf("1500 × 200 KB retained: %d acknowledged, %d failed, disconnected=%v", sent, failed, !c.IsConnectionOpen()), sent < 1500, nil
}

// topicFlood: the enrolled agent publishes to 50,000 distinct device
// topics.
func topicFlood(ctx context.Context, h *served, held chan<- struct{}) (string, bool, error) {
	defer close(held)
	c, err := agentClient(h, abuseAgent)
	if err != nil {
		return "", false, err
	}
	defer c.Disconnect(10)
	st := wire.Marshal(wire.DevStatusMsg{State: "online"})
	sent := 0
	var last mqtt.Token
	for i := 0; i < 50000 && ctx.Err() == nil && c.IsConnectionOpen(); i++ {
		last = c.Publish(wire.DevStatus("load-hall", abuseAgent, "junk-"+strconv.Itoa(i)), 0, false, st)
		sent++
	}
	if last != nil {
		last.WaitTimeout(5 * time.Second)
	}
	return fmt.Sprintf("50,000 device topics: %d sent before disconnect=%v", sent, !c.IsConnectionOpen()), !c.IsConnectionOpen(), nil
}

// labelJunk: a clerk posts 10,000 actions with made-up names; /metrics
// must not grow with them.
func labelJunk(ctx context.Context, h *served, held chan<- struct{}) (string, bool, error) {
	defer close(held)
	cl := attackerClient(8)
	for i := 0; i < 10000 && ctx.Err() == nil; i++ {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+h.httpAddr+"/api/v1/windows/1/actions", strings.NewReader(fmt.Sprintf(`{"action":"junk-%s"}`, randHex(6))))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+h.clerkTok)
		resp, err := cl.Do(req)
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + h.httpAddr + "/metrics")
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	n, series := 0, 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n += len(sc.Bytes()) + 1
		if !strings.HasPrefix(sc.Text(), "#") {
			series++
		}
	}
	return fmt.Sprintf("10,000 junk clerk actions: /metrics is %d KB, %d series", n>>10, series), series < 3000, nil
}

// metric reads one sample of the process's /metrics, by its exact name
// and labels as exposed.
func (h *served) metric(ctx context.Context, series string) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+h.httpAddr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /metrics", series)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// mqttGuess tries 2,000 wrong passwords for the agent's account.
func mqttGuess(ctx context.Context, h *served, held chan<- struct{}) (string, bool, error) {
	defer close(held)
	refused, accepted := 0, 0
	d := attackerDialer()
	start := time.Now()
	for i := 0; i < 2000 && ctx.Err() == nil; i++ {
		o := mqtt.NewClientOptions().AddBroker("tcp://" + h.mqttAddr).SetClientID("guess-" + strconv.Itoa(i)).
			SetUsername(abuseAgent).SetPassword("guess-" + strconv.Itoa(i)).SetAutoReconnect(false).SetConnectTimeout(2 * time.Second).
			SetConnectRetry(false).SetDialer(d)
		c := mqtt.NewClient(o)
		t := c.Connect()
		t.WaitTimeout(3 * time.Second)
		if err := t.Error(); err != nil {
			refused++
		} else {
			accepted++
			c.Disconnect(0)
		}
	}
	// A throttled connect gets the same answer as a wrong password (no
	// oracle); the broker's counter tells them apart.
	throttled, err := h.metric(ctx, `servicehall_mqtt_rejected_total{reason="auth_throttled"}`)
	if err != nil {
		return "", false, err
	}
	return fmt.Sprintf("2000 wrong passwords in %.1f s: %d refused (%.0f unchecked, throttled), %d accepted", time.Since(start).Seconds(), refused, throttled, accepted), accepted == 0 && throttled > 0, nil
}

// logFlood sends malformed events as fast as one agent can for 5 s: each
// is refused with a reason, and the log must not follow at that rate.
func logFlood(ctx context.Context, h *served, held chan<- struct{}) (string, bool, error) {
	defer close(held)
	c, err := agentClient(h, abuseAgent)
	if err != nil {
		return "", false, err
	}
	defer c.Disconnect(10)
	start := time.Now()
	end := start.Add(5 * time.Second)
	sent, stalled := 0, 0
	for time.Now().Before(end) && ctx.Err() == nil && c.IsConnectionOpen() {
		t := c.Publish(wire.Event("load-hall", abuseAgent, "btn-1", "press"), 0, false, []byte(`{"v":1,"junk":`+strconv.Itoa(sent)+`}`))
		if t.Error() != nil { // set before Publish returns when paho gave the publish up
			stalled++ // the broker stopped reading
		}
		sent++
	}
	// The measuring process counts the controller's log lines (abuseOnce).
	return fmt.Sprintf("%d malformed events in %.1f s (%d given up: the broker stopped reading)", sent, time.Since(start).Seconds(), stalled), true, nil
}
