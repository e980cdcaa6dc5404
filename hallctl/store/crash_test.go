package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/servicehall/servicehall/hallctl/store"
)

// The crash test re-executes this test binary as a child that appends
// numbered records as fast as it can and prints each acknowledged one; the
// parent SIGKILLs it after a chosen number of acknowledgements, reopens the
// log and checks that nothing acknowledged is lost, duplicated or reordered.

const (
	envCrashDB      = "STORE_CRASH_CHILD_DB"
	envCrashWriters = "STORE_CRASH_CHILD_WRITERS"
)

// TestCrashChild is the child's body; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(envCrashDB)
	if path == "" {
		t.Skip("helper process for TestCrashKill9")
	}
	writers, _ := strconv.Atoi(os.Getenv(envCrashWriters))
	ctx := context.Background()
	l, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	// Resume each writer after what a previous child left.
	next := make([]int, writers)
	l.Read(ctx, "crash", 0, func(r store.Record) error {
		var w, i int
		fmt.Sscanf(string(r.Data), "%d %d", &w, &i)
		next[w] = i + 1
		return nil
	})
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := next[w]; ; i++ {
				// Each record goes with a bucket entry in one batch, so
				// atomicity across the two is checked too.
				var b store.Batch
				b.Append(store.Record{Stream: "crash", Type: "n", Key: fmt.Sprintf("%d-%d", w, i), Data: fmt.Appendf(nil, "%d %d", w, i)}).
					Put("last", strconv.Itoa(w), []byte(strconv.Itoa(i)))
				seqs, err := l.Commit(ctx, &b)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(3)
				}
				out.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %d %d\n", w, i, seqs[0])
				out.Unlock()
			}
		})
	}
	wg.Wait()
}

type ack struct{ w, i int }

// runChild starts a child, kills it with SIGKILL once it has acknowledged
// killAfter records, and returns every acknowledgement it printed.
func runChild(t *testing.T, path string, writers, killAfter int) map[ack]int64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), envCrashDB+"="+path, envCrashWriters+"="+strconv.Itoa(writers))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := map[ack]int64{}
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		var a ack
		var seq int64
		if _, err := fmt.Sscanf(sc.Text(), "ack %d %d %d", &a.w, &a.i, &seq); err != nil {
			continue // test framework chatter
		}
		if _, dup := acks[a]; dup {
			t.Errorf("record %v acknowledged twice", a)
		}
		acks[a] = seq
		if len(acks) == killAfter && !killed {
			// Lines already in the pipe are acknowledgements too: keep
			// reading to EOF.
			cmd.Process.Kill()
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited after %d acks without being killed: %v\n%s", len(acks), err, stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); ok && !ws.Signaled() {
		t.Fatalf("child was not killed by a signal: %v\n%s", err, stderr.String())
	}
	return acks
}

// verify checks the log against every acknowledgement so far and returns
func verify(t *testing.T, path string, writers, kills int, acks map[ack]int64) {
	t.Helper()
	ctx := context.Background()
	l, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer l.Close()
	count := make([]int, writers)
	lastSeq := int64(0)
	lastSeqOf := make([]int64, writers)
	found := map[ack]int64{}
	err = l.Read(ctx, "crash", 0, func(r store.Record) error {
		var a ack
		if _, err := fmt.Sscanf(string(r.Data), "%d %d", &a.w, &a.i); err != nil {
			return fmt.Errorf("record %d: bad data %q", r.Seq, r.Data)
		}
		if r.Seq <= lastSeq {
			return fmt.Errorf("seq %d after %d", r.Seq, lastSeq)
		}
		lastSeq = r.Seq
		if a.i != count[a.w] {
			return fmt.Errorf("writer %d: record %d at seq %d, want record %d (gap or duplicate)", a.w, a.i, r.Seq, count[a.w])
		}
		if r.Seq <= lastSeqOf[a.w] {
			return fmt.Errorf("writer %d: seq %d after %d", a.w, r.Seq, lastSeqOf[a.w])
		}
		lastSeqOf[a.w] = r.Seq
		count[a.w]++
		found[a] = r.Seq
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for a, seq := range acks {
		if got, ok := found[a]; !ok || got != seq {
			t.Errorf("acknowledged record %v (seq %d) missing or moved: found seq %d", a, seq, got)
		}
	}
	unacked := 0
	for a := range found {
		if _, ok := acks[a]; !ok {
			unacked++
		}
	}
	// Committed but killed before printing: at most one per writer and kill.
	if unacked > writers*kills {
		t.Errorf("%d records present that were never acknowledged, want at most %d", unacked, writers*kills)
	}
	for w := range writers {
		v, err := l.Get(ctx, "last", strconv.Itoa(w))
		if count[w] == 0 {
			continue
		}
		if err != nil || string(v) != strconv.Itoa(count[w]-1) {
			t.Errorf("writer %d: bucket says last %q (%v), log has %d records", w, v, err, count[w])
		}
	}
}

func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	for _, writers := range []int{1, 4} {
		t.Run(fmt.Sprintf("writers=%d", writers), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.db")
			all := map[ack]int64{}
			// Kill at different moments, each child resuming where the
			// last one's log ended.
			for round, killAfter := range []int{1, 7, 150, 600, 2000} {
				for a, seq := range runChild(t, path, writers, killAfter) {
					if old, dup := all[a]; dup {
						t.Fatalf("record %v acknowledged again (seq %d, before %d): the child re-appended it", a, seq, old)
					}
					all[a] = seq
				}
				verify(t, path, writers, round+1, all)
				if t.Failed() {
					return
				}
			}
			t.Logf("%d acknowledged records survived 5 SIGKILLs", len(all))
		})
	}
}
