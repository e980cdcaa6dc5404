package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The attacker's process (see the package's abuse comment): the measuring
// process starts `hallctl loadtest --abuse-attacker NAME` with the
// controller's addresses; the attacker writes "held" on stdout once it
// holds what it took, runs until its stdin closes, then writes its result
// as one JSON line and exits.

// AttackResult is what the attacker's process reports.
type AttackResult struct {
	Attack   string `json:"attack"`
	Defended bool   `json:"defended"`
	Err      string `json:"error,omitempty"`
}

// Environment of the attacker's process (tokens stay out of argv).
const (
	envAbuseDesk  = "SH_ABUSE_DESK_TOKEN"
	envAbuseClerk = "SH_ABUSE_CLERK_TOKEN"
)

// RunAttacker is the attacker's process: it runs attack name against the
// controller at httpAddr and mqttAddr until stdin closes.
func RunAttacker(ctx context.Context, name, httpAddr, mqttAddr string, stdin io.Reader, stdout io.Writer) error {
	attack, ok := attacks[name]
	if !ok {
		return fmt.Errorf("unknown abuse run %q (have %s)", name, strings.Join(AbuseNames, ", "))
	}
	h := &served{httpAddr: httpAddr, mqttAddr: mqttAddr, deskTok: os.Getenv(envAbuseDesk), clerkTok: os.Getenv(envAbuseClerk)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // stdin closing is the measuring process saying "stop"
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	var mu sync.Mutex // stdout's one writer at a time
	held := make(chan struct{})
	done := make(chan AttackResult, 1)
	go func() {
		summary, defended, err := attack(ctx, h, held)
		res := AttackResult{Attack: summary, Defended: defended}
		if err != nil {
			res.Err = err.Error()
		}
		done <- res
	}()
	var res AttackResult
	select {
	case <-held:
		mu.Lock()
		fmt.Fprintln(stdout, "held")
		mu.Unlock()
		res = <-done
	case res = <-done:
	}
	b, _ := json.Marshal(res)
	mu.Lock()
	defer mu.Unlock()
	_, err := fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// attacker is the measuring side's handle on the attacker's process.
type attacker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	held   chan struct{}
	result chan AttackResult
	exited chan error
	stderr *syncBuffer
}

func startAttacker(ctx context.Context, bin, name string, h *served) (*attacker, error) {
	a := &attacker{held: make(chan struct{}), result: make(chan AttackResult, 1), exited: make(chan error, 1), stderr: &syncBuffer{}}
	args := []string{"loadtest", "--abuse-attacker", name, "--abuse-http", h.httpAddr, "--abuse-mqtt", h.mqttAddr}
	if _, err := exec.LookPath("nice"); err == nil {
		// The attacker's own work is its machine's, not the hall's: at
		// nice 19 it runs on what the desks' CPU leaves idle (which is
		// plenty: the desks mostly wait for answers).
		a.cmd = exec.CommandContext(ctx, "nice", append([]string{"-n", "19", bin}, args...)...)
	} else {
		a.cmd = exec.CommandContext(ctx, bin, args...)
	}
	a.cmd.Env = append(os.Environ(), envAbuseDesk+"="+h.deskTok, envAbuseClerk+"="+h.clerkTok)
	a.cmd.Stderr = a.stderr
	var err error
	if a.stdin, err = a.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := a.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the attacker: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		heldOnce := sync.OnceFunc(func() { close(a.held) })
		for sc.Scan() {
			line := sc.Text()
			if line == "held" {
				heldOnce()
				continue
			}
			var res AttackResult
			if json.Unmarshal([]byte(line), &res) == nil {
				heldOnce() // an attack that ended holds nothing more
				a.result <- res
			}
		}
		a.exited <- a.cmd.Wait()
	}()
	return a, nil
}

// waitHeld waits until the attacker holds what it took (or has ended).
func (a *attacker) waitHeld(ctx context.Context) error {
	select {
	case <-a.held:
		return nil
	case err := <-a.exited:
		a.exited <- err
		return fmt.Errorf("attacker exited before holding (%v): %s", err, lastLine(a.stderr.String()))
	case <-time.After(3 * time.Minute):
		return errors.New("attacker not holding after 3 minutes")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish tells the attacker to stop and returns its result.
func (a *attacker) finish() (AttackResult, error) {
	_ = a.stdin.Close()
	select {
	case res := <-a.result:
		var err error
		if res.Err != "" {
			err = errors.New(res.Err)
		}
		return res, err
	case err := <-a.exited:
		a.exited <- err
		select { // the result is sent before the exit: take it if it came
		case res := <-a.result:
			var err error
			if res.Err != "" {
				err = errors.New(res.Err)
			}
			return res, err
		default:
		}
		return AttackResult{}, fmt.Errorf("attacker exited without a result (%v): %s", err, lastLine(a.stderr.String()))
	case <-time.After(time.Minute):
		return AttackResult{}, errors.New("attacker gave no result within a minute of stop")
	}
}

func (a *attacker) kill() {
	_ = a.stdin.Close()
	select {
	case err := <-a.exited:
		a.exited <- err
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
	}
}

// pinSelf moves this process's threads (and so the processes it starts
// later) off CPU 0, which startServe gives the controller with taskset.
// It reports whether the partition is in place: it needs two CPUs and
// taskset.
func pinSelf(logger *slog.Logger) bool {
	n := runtime.NumCPU()
	if n < 2 {
		logger.Warn("abuse runs share one CPU between the controller, the desks and the attacker")
		return false
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		logger.Warn("no taskset: the controller does not get a CPU of its own", "err", err)
		return false
	}
	var set unix.CPUSet
	for c := 1; c < n; c++ {
		set.Set(c)
	}
	// Threads made later inherit from the thread that makes them: set
	// every thread there is, twice in case one was being made meanwhile.
	for range 2 {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			logger.Warn("cannot list threads to pin", "err", err)
			return false
		}
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil {
				logger.Warn("cannot pin thread", "tid", tid, "err", err)
				return false
			}
		}
	}
	logger.Info("abuse runs: the controller has CPU 0, the desks and the attacker CPUs 1.."+strconv.Itoa(n-1), "cpus", n)
	return true
}

// procCPU is a process's user+system CPU time so far, in seconds.
func procCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces) in ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}
