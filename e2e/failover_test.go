package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/mosquitto"
	"github.com/servicehall/servicehall/internal/pgtest"
	"github.com/servicehall/servicehall/wire"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// failoverHall is killHall with two controllers sharing a PostgreSQL log
// (server.failover); both share the state dir, as an installer copies its
// keys to the standby (docs/failover.md).
const failoverHall = `hall: {id: ha-hall, name: 双机大厅, hours: {open: "00:00", close: "24:00"}}
departments: [{code: HR, name: 人社}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}
windows:
  - {number: 1, dept: HR, serves: ["*"], zone: east}
server: {demo: true, state_dir: %s, store: %q, failover: {lease_s: %g}}
# 20 issuers from one address, on purpose (docs/security.md's limits).
limits: {tickets_per_client_per_min: 1000000, tickets_per_item_per_day: 1000000, public_per_min: 1000000, public_burst: 100000, http_conns_per_ip: 4096}
agents:
  - {id: hall-devices, kiosk: true, windows: [1]}
`

// haRig is two hallctl processes of one hall, a Mosquitto and PostgreSQL.
type haRig struct {
	t              *testing.T
	bin, cfg, url  string
	dsn            string
	addrs          [2]string
	procs          [2]*exec.Cmd
	logs           [2]*syncBuf
	exited         [2]chan error
	agent          *fakeAgent
	hall           string
	mu             sync.Mutex
	acked          map[string]bool
	ackTimes       []time.Time // when each acknowledged ticket was answered
	ackBy          []int       // and by which controller
	lead           int         // which one the "virtual IP" sends to
	refused, other int
	lastOther      string
	healthy        [2]time.Time // when each first answered /healthz 200 under load
}

func newHARig(t *testing.T, lease float64) *haRig {
	t.Helper()
	dsn := pgtest.DSN(t)
	url, stopMosq, err := mosquitto.Start(context.Background(), t.TempDir())
	needBroker(t, err)
	t.Cleanup(stopMosq)
	dir := t.TempDir()
	r := &haRig{t: t, bin: buildHallctl(t), url: url, dsn: dsn, hall: "ha-hall", acked: map[string]bool{},
		cfg: filepath.Join(dir, "hall.yaml"), addrs: [2]string{freeAddr(t), freeAddr(t)}}
	if err := os.WriteFile(r.cfg, []byte(fmt.Sprintf(failoverHall, filepath.Join(dir, "state"), dsn, lease)), 0o600); err != nil {
		t.Fatal(err)
	}
	r.agent = newFakeAgent(t, url, r.hall)
	t.Cleanup(func() {
		for i, p := range r.procs {
			if p != nil && p.ProcessState == nil {
				_ = p.Process.Signal(syscall.SIGCONT)
				_ = p.Process.Signal(syscall.SIGTERM)
				<-r.exited[i]
			}
			if t.Failed() && r.logs[i] != nil {
				t.Logf("hallctl %d log:\n%s", i, tail(r.logs[i].String(), 3000))
			}
		}
	})
	return r
}

// start runs controller i and waits until its /healthz answers want.
func (r *haRig) start(i int, want int) {
	r.t.Helper()
	cmd := exec.Command(r.bin, "serve", "--config", r.cfg, "--broker-url", r.url)
	cmd.Env = append(os.Environ(), "HTTP_ADDR="+r.addrs[i])
	r.logs[i] = &syncBuf{}
	cmd.Stdout, cmd.Stderr = nil, r.logs[i]
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.procs[i], r.exited[i] = cmd, make(chan error, 1)
	go func() { r.exited[i] <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for r.health(i) != want {
		if time.Now().After(deadline) {
			r.t.Fatalf("hallctl %d: /healthz never answered %d", i, want)
		}
		time.Sleep(20 * time.Millisecond) // polling a child process's port
	}
}

func (r *haRig) health(i int) int {
	resp, err := http.Get("http://" + r.addrs[i] + "/healthz")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// issue posts one ticket to the controller the "virtual IP" points at; a
// refused connection or a 503 moves it to the other one, as a load
// balancer's health check would.
func (r *haRig) issue(cl *http.Client, id string) {
	r.mu.Lock()
	i := r.lead
	r.mu.Unlock()
	body := fmt.Sprintf(`{"item":"HR-001","agent":"hall-devices","request_id":%q}`, id)
	resp, err := cl.Post("http://"+r.addrs[i]+"/api/v1/tickets", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode == http.StatusServiceUnavailable {
		if resp != nil {
			resp.Body.Close()
		}
		r.mu.Lock()
		r.refused++
		if r.lead == i {
			r.lead = 1 - i
		}
		r.mu.Unlock()
		time.Sleep(20 * time.Millisecond) // a client's pause before it retries
		return
	}
	defer resp.Body.Close()
	var tk struct {
		Number string `json:"number"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tk)
	r.mu.Lock()
	defer r.mu.Unlock()
	if resp.StatusCode != http.StatusCreated {
		r.other++
		r.lastOther = fmt.Sprintf("%d %s", resp.StatusCode, tk.Number)
		return
	}
	if r.acked[tk.Number] {
		r.t.Errorf("number %s acknowledged twice", tk.Number)
	}
	r.acked[tk.Number] = true
	r.ackTimes = append(r.ackTimes, time.Now())
	r.ackBy = append(r.ackBy, i)
}

// load runs 20 issuers and a window calling and starting service until
// stop is closed, and a health check that points the "virtual IP" at the
// controller whose /healthz answers 200 (as keepalived or a load balancer
// would).
func (r *haRig) load(stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		hc := &http.Client{Timeout: 300 * time.Millisecond}
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond): // the health check's period
			}
			for i := range r.addrs {
				resp, err := hc.Get("http://" + r.addrs[i] + "/healthz")
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					r.mu.Lock()
					r.lead = i
					if r.healthy[i].IsZero() {
						r.healthy[i] = time.Now()
					}
					r.mu.Unlock()
				}
			}
		}
	}()
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cl := &http.Client{Timeout: 5 * time.Second} // a kiosk gives up on a frozen server
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r.issue(cl, fmt.Sprintf("w%d-%d", w, i))
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r.agent.key(r.hall, wire.KeyCallNext)
			r.agent.key(r.hall, wire.KeyStart)
			time.Sleep(10 * time.Millisecond) // a clerk's pace, not a flood
		}
	}()
	return &wg
}

// leadsAfter waits until controller i has acknowledged a ticket after t0
// and returns how long that took.
func (r *haRig) leadsAfter(i int, t0 time.Time) time.Duration {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		var first time.Time
		for k, at := range r.ackTimes {
			if r.ackBy[k] == i && at.After(t0) {
				first = at
				break
			}
		}
		r.mu.Unlock()
		if !first.IsZero() {
			return first.Sub(t0)
		}
		if time.Now().After(deadline) {
			r.mu.Lock()
			r.t.Fatalf("hallctl %d never acknowledged a ticket within 30 s (acknowledged %d in all; %d tries refused, %d other answers, last %q; sending to %d)", i, len(r.acked), r.refused, r.other, r.lastOther, r.lead)
		}
		time.Sleep(20 * time.Millisecond) // polling the issuers' records
	}
}

// check reads the hall's log from PostgreSQL: every acknowledged ticket
// once, no number twice, every print under exactly one command.
func (r *haRig) check() (issued int) {
	r.t.Helper()
	ctx := context.Background()
	// Every acknowledged ticket's print reaches the devices.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.agent.mu.Lock()
		missing := 0
		r.mu.Lock()
		for n := range r.acked {
			if len(r.agent.tickets[n]) == 0 {
				missing++
			}
		}
		r.mu.Unlock()
		r.agent.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d acknowledged tickets never printed", missing)
		}
		time.Sleep(50 * time.Millisecond) // waiting on a child process
	}
	st, err := store.OpenPostgresReadOnly(ctx, r.dsn, r.hall)
	if err != nil {
		r.t.Fatal(err)
	}
	defer st.Close()
	count := map[string]int{}
	err = st.Read(ctx, "queue", 0, func(rec store.Record) error {
		if rec.Type == "issued" {
			var ev struct {
				Number string `json:"number"`
			}
			_ = json.Unmarshal(rec.Data, &ev)
			count[ev.Number]++
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	for n, c := range count {
		if c != 1 {
			r.t.Errorf("number %s issued %d times in the log", n, c)
		}
	}
	r.mu.Lock()
	for n := range r.acked {
		if count[n] != 1 {
			r.t.Errorf("acknowledged ticket %s is in the log %d times", n, count[n])
		}
	}
	r.mu.Unlock()
	r.agent.mu.Lock()
	for n, ids := range r.agent.tickets {
		if len(ids) != 1 {
			r.t.Errorf("ticket %s printed by %d commands", n, len(ids))
		}
	}
	r.agent.mu.Unlock()
	return len(count)
}

// longestGap is the longest time between two acknowledged tickets.
func (r *haRig) longestGap() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := append([]time.Time(nil), r.ackTimes...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	var g time.Duration
	for i := 1; i < len(ts); i++ {
		g = max(g, ts[i].Sub(ts[i-1]))
	}
	return g
}

// TestFailoverKill9: kill -9 of the leading controller during 20
// concurrent issuers and a window's stream of key presses; the standby
// leads, no acknowledged ticket is lost, no number repeats, no print is
// sent under two commands.
func TestFailoverKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("long: two hallctl processes, Mosquitto and PostgreSQL")
	}
	r := newHARig(t, 3)
	r.start(0, http.StatusOK)
	r.start(1, http.StatusServiceUnavailable) // the standby answers 503
	stop := make(chan struct{})
	wg := r.load(stop)
	time.Sleep(1500 * time.Millisecond) // let the load run, then kill mid-flight
	killed := time.Now()
	_ = r.procs[0].Process.Signal(syscall.SIGKILL)
	<-r.exited[0]
	took := r.leadsAfter(1, killed)
	time.Sleep(1500 * time.Millisecond) // and run on the new leader a while
	close(stop)
	wg.Wait()
	if r.health(1) != http.StatusOK {
		t.Errorf("the new leader's /healthz: %d", r.health(1))
	}
	n := r.check()
	t.Logf("kill -9 of the leader: the standby's /healthz said 200 %v and it acknowledged its first ticket %v after the kill (lease 3 s); %d tickets acknowledged, %d issued in the log; longest gap between two acknowledged tickets %v; %d refused tries",
		r.healthy[1].Sub(killed).Round(time.Millisecond), took.Round(time.Millisecond), len(r.acked), n, r.longestGap().Round(time.Millisecond), r.refused)
}

// TestFailoverSplitBrain: the leader frozen (SIGSTOP) while it has
// requests in hand; the standby takes over; the old leader resumed is
// fenced: it exits, and nothing it does reaches the log (any append of
// its stale queue would repeat a number).
func TestFailoverSplitBrain(t *testing.T) {
	if testing.Short() {
		t.Skip("long: two hallctl processes, Mosquitto and PostgreSQL")
	}
	r := newHARig(t, 2)
	r.start(0, http.StatusOK)
	r.start(1, http.StatusServiceUnavailable)
	stop := make(chan struct{})
	wg := r.load(stop)
	time.Sleep(time.Second)
	frozen := time.Now()
	_ = r.procs[0].Process.Signal(syscall.SIGSTOP)
	// Issuers caught by the freeze wait on it (their client timeout is
	// 5 s); the health check moves the others to the standby once it leads.
	took := r.leadsAfter(1, frozen)
	time.Sleep(time.Second)
	_ = r.procs[0].Process.Signal(syscall.SIGCONT)
	var exitErr error
	select {
	case exitErr = <-r.exited[0]:
	case <-time.After(30 * time.Second):
		t.Fatal("the resumed old leader did not stop")
	}
	var ee *exec.ExitError
	if !errors.As(exitErr, &ee) || ee.ExitCode() == 0 {
		t.Errorf("the old leader exited with %v, want a non-zero exit", exitErr)
	}
	if l := r.logs[0].String(); !strings.Contains(l, "fenced") {
		t.Errorf("the old leader's log does not say it was fenced:\n%s", tail(l, 2000))
	}
	time.Sleep(time.Second) // the new leader goes on
	close(stop)
	wg.Wait()
	if r.health(1) != http.StatusOK {
		t.Errorf("the new leader's /healthz: %d", r.health(1))
	}
	n := r.check()
	t.Logf("SIGSTOP of the leader: the standby's /healthz said 200 %v and it acknowledged its first ticket %v after the freeze (lease 2 s); the old leader, resumed, exited (%v); %d tickets acknowledged, %d issued in the log",
		r.healthy[1].Sub(frozen).Round(time.Millisecond), took.Round(time.Millisecond), exitErr, len(r.acked), n)
}
