package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servicehall/servicehall/internal/tmpfs"
	"github.com/servicehall/servicehall/wire"
)

// runApp starts hallctl in dir and returns it with the channel its Run
// result arrives on.
func runApp(t *testing.T, dir string) (*App, <-chan error, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := testConfig(t)
	// A load from one address: the per-client limits are raised, as load
	// benchmarks do (docs/limits.md).
	cfg.Limits.PublicPerMin, cfg.Limits.PublicBurst, cfg.Limits.TicketsPerClientPerMin = 1<<30, 1<<20, 1<<30
	a, err := Start(ctx, Options{Config: cfg, Logger: quietLogger(), MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: dir})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Controller.Connected():
	case <-time.After(10 * time.Second):
		t.Fatal("controller did not connect to its broker")
	}
	return a, done, cancel
}

type ticketAnswer struct {
	ID        int64  `json:"id"`
	Number    string `json:"number"`
	Printed   bool   `json:"printed"`
	Print     string `json:"print"`
	PrintCode string `json:"print_code"`
}

// Paper out: the API says the ticket is not printed (printed: false, the
// printer's code), the manager sees an unprinted alert, and a reprint once
// paper is back prints it once and clears the alert.
func TestPaperOutIsNotPrinted(t *testing.T) {
	dir := t.TempDir()
	a, stop := startApp(t, dir)
	defer stop()
	k := newDevice(t, a.BrokerURL(), "t-hall", "kiosk-1", kioskDevices())
	k.mu.Lock()
	k.ackAs = "" // answered below
	k.mu.Unlock()
	waitRegistered(t, a, "kiosk-1", 2)
	base := "http://" + a.HTTPAddr() + "/api/v1"

	go func() {
		c := k.nextCmd(t)
		k.c.Publish(wire.Ack("t-hall", "kiosk-1", c.Device), 1, false,
			wire.Marshal(wire.AckMsg{ID: c.Msg.ID, Status: wire.AckFailed, Code: "paper_out"}))
	}()
	code, _, body := call(t, "POST", base+"/tickets", "", []byte(`{"item":"HR-001","agent":"kiosk-1"}`), nil)
	if code != http.StatusCreated {
		t.Fatalf("issue: %d %s", code, body)
	}
	var tk ticketAnswer
	if err := json.Unmarshal(body, &tk); err != nil {
		t.Fatal(err)
	}
	if tk.Printed || tk.Print != "failed" || tk.PrintCode != "paper_out" {
		t.Fatalf("paper out answered %s", body)
	}
	mgr := managerToken(t, dir, time.Now())
	alertFor := func() bool {
		_, _, b := call(t, "GET", base+"/manager/alerts", mgr, nil, nil)
		return strings.Contains(string(b), `"unprinted"`) && strings.Contains(string(b), tk.Number)
	}
	if !alertFor() {
		t.Fatal("no unprinted alert for the manager")
	}
	// Paper back: the reprint prints once, and the alert goes.
	k.mu.Lock()
	k.ackAs = wire.AckDone
	k.mu.Unlock()
	code, _, body = call(t, "POST", base+"/tickets/"+tk.Number+"/reprint", "", []byte(`{"agent":"kiosk-1"}`), nil)
	if code != http.StatusOK {
		t.Fatalf("reprint: %d %s", code, body)
	}
	var again ticketAnswer
	_ = json.Unmarshal(body, &again)
	if !again.Printed || again.Print != "printed" || again.Number != tk.Number {
		t.Fatalf("reprint answered %s", body)
	}
	if c := k.nextCmd(t); c.Name != wire.CmdPrint || !strings.Contains(string(c.Msg.Args), tk.Number) {
		t.Fatalf("reprint command %s %s", c.Name, c.Msg.Args)
	}
	if alertFor() {
		t.Fatal("the unprinted alert stayed after the reprint")
	}
	code, _, body = call(t, "POST", base+"/tickets/"+tk.Number+"/reprint", "", []byte(`{"agent":"kiosk-1"}`), nil)
	if code != http.StatusConflict || !strings.Contains(string(body), "not_reprintable") {
		t.Fatalf("second reprint of a printed ticket: %d %s", code, body)
	}
	select {
	case c := <-k.cmds:
		t.Fatalf("a refused reprint sent %s", c.Name)
	default:
	}
}

// A state directory that fills up while 20 clients take tickets: no ticket
// is answered 201 unless it is durable, /healthz turns unhealthy, Run
// returns the cause (hallctl serve exits non-zero) within 2 s, and after
// space returns the hall starts with exactly the acknowledged tickets.
func TestFullDiskIsFatalAndLosesNothing(t *testing.T) {
	dir := tmpfs.Mount(t, "1m")
	a, done, cancel := runApp(t, dir)
	defer cancel()
	base := "http://" + a.HTTPAddr()
	var mu sync.Mutex
	acked := map[string]bool{}
	unanswered := 0 // requests cut by the stop: committed or not, the client cannot know
	var wg sync.WaitGroup
	var firstFail time.Time
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				body := fmt.Sprintf(`{"item":"HR-001","request_id":"w%d-%d-%s"}`, w, i, strings.Repeat("x", 40))
				resp, err := http.Post(base+"/api/v1/tickets", "application/json", strings.NewReader(body))
				if err != nil {
					mu.Lock()
					unanswered++
					mu.Unlock()
					return // the server stopped
				}
				var tk ticketAnswer
				_ = json.NewDecoder(resp.Body).Decode(&tk)
				resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case http.StatusCreated:
					if acked[tk.Number] {
						t.Errorf("number %s answered twice", tk.Number)
					}
					acked[tk.Number] = true
				case http.StatusServiceUnavailable:
					if firstFail.IsZero() {
						firstFail = time.Now()
					}
				default:
					t.Errorf("answer %d", resp.StatusCode)
				}
				mu.Unlock()
				if resp.StatusCode != http.StatusCreated {
					return
				}
			}
		}(w)
	}
	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the controller kept running on a full disk")
	}
	stopped := time.Now()
	wg.Wait()
	if runErr == nil || !strings.Contains(runErr.Error(), "free") {
		t.Fatalf("Run returned %v, want the cause with the free space", runErr)
	}
	if !firstFail.IsZero() && stopped.Sub(firstFail) > 2*time.Second {
		t.Errorf("Run returned %v after the first refused request", stopped.Sub(firstFail))
	}
	if err := a.Controller.Err(); err == nil {
		t.Fatal("controller reports healthy after a failed commit")
	}
	a.Close()
	if len(acked) == 0 {
		t.Fatal("no ticket was issued before the disk filled")
	}

	tmpfs.Resize(t, dir, "64m")
	a2, stop2 := startApp(t, dir)
	defer stop2()
	snap := a2.Controller.Snapshot()
	// Every acknowledged ticket is there; beyond them, only tickets whose
	// request was cut by the stop after its commit (the applicant retries
	// with the same request_id and gets that very ticket).
	if len(snap.Waiting) < len(acked) || len(snap.Waiting) > len(acked)+unanswered {
		t.Fatalf("after restart %d tickets wait; %d were acknowledged, %d requests cut", len(snap.Waiting), len(acked), unanswered)
	}
	found := 0
	for _, w := range snap.Waiting {
		if acked[w.Number] {
			found++
		}
	}
	if found != len(acked) {
		t.Fatalf("%d of %d acknowledged tickets after restart", found, len(acked))
	}
}

// The database file deleted while running: the controller notices within
// its check interval and stops with the cause; the restart refuses to
// start an empty hall over a state directory that held a log (numbers
// would repeat).
func TestDeletedDatabaseIsFatal(t *testing.T) {
	dir := t.TempDir()
	a, done, cancel := runApp(t, dir)
	defer cancel()
	resp, err := http.Post("http://"+a.HTTPAddr()+"/api/v1/tickets", "application/json", strings.NewReader(`{"item":"HR-001"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := os.Remove(filepath.Join(dir, "hallctl.db")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "gone") {
			t.Fatalf("Run returned %v, want the deleted file named", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the controller did not stop within 2 s of its database being deleted")
	}
	a.Close()
	_, err = Start(context.Background(), Options{Config: testConfig(t), Logger: quietLogger(), MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("start over a deleted log: %v, want a refusal", err)
	}
}

// A speaker that cannot speak says so (status fault no_tts), and the
// manager sees it among the alerts: calls are not being announced.
func TestDeadSpeakerIsAnAlert(t *testing.T) {
	dir := t.TempDir()
	a, stop := startApp(t, dir)
	defer stop()
	spk := newDevice(t, a.BrokerURL(), "t-hall", "speakers", []wire.DeviceInfo{{ID: "spk-east", Kind: wire.KindSpeaker, Zone: "east"}})
	waitRegistered(t, a, "speakers", 1)
	spk.c.Publish(wire.DevStatus("t-hall", "speakers", "spk-east"), 1, true, `{"state":"fault","code":"no_tts","detail":"espeak-ng not found"}`).WaitTimeout(5 * time.Second)
	base := "http://" + a.HTTPAddr() + "/api/v1"
	mgr := managerToken(t, dir, time.Now())
	deadline := time.After(5 * time.Second)
	for {
		_, _, b := call(t, "GET", base+"/manager/alerts", mgr, nil, nil)
		if strings.Contains(string(b), "device_fault") && strings.Contains(string(b), "no_tts") && strings.Contains(string(b), "叫号不会播报") {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("no device alert for a speaker without a voice: %s", b)
		case <-a.Controller.Bus().Changed():
		case <-time.After(20 * time.Millisecond): // the status arrives on the broker's time
		}
	}
}
