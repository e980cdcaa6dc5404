package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// A commit that fails stops the controller: the request gets
// ErrUnavailable (never a success), later requests are refused without
// acting, Run returns the cause and logs it, /healthz says "failed", and a
// restart serves exactly what the log holds.
func TestFailedCommitIsFatal(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	ctx := context.Background()
	if _, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", ""); err != nil {
		t.Fatal(err)
	}
	r.st.Log.Close() // the log can no longer write
	_, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, store.ErrClosed) || Code(err) != "unavailable" {
		t.Fatalf("issue on a failed log: %v", err)
	}
	runErr := r.runEnded()
	if !errors.Is(runErr, store.ErrClosed) {
		t.Fatalf("Run returned %v, want the commit's cause", runErr)
	}
	if err := r.c.Err(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Err() = %v", err)
	}
	if _, err := r.c.Act(ctx, ActRequest{Window: 1, Action: wire.KeyCallNext}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("act after the failure: %v", err)
	}
	if _, err := r.c.Manage(ctx, ManagerAction{Type: "close", Window: 1}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("manage after the failure: %v", err)
	}
	if _, err := r.c.Rate(ctx, 1, 5, "api", ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("rate after the failure: %v", err)
	}
	if _, err := r.c.ManageAudited(ctx, ManagerAction{Type: "close", Window: 1}, "m", "manager"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("audited manage after the failure: %v", err)
	}
	if _, err := r.c.Reprint(ctx, "A001", "k", "p"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("reprint after the failure: %v", err)
	}
	if r.window(1).State != "open" {
		t.Fatal("a refused manager action changed the hall")
	}
	if r.counter(r.c.metrics.healthy) != 0 {
		t.Fatal("hallctl_healthy still 1")
	}
	logs := r.logs.String()
	if !strings.Contains(logs, "fatal: the controller stops") || !strings.Contains(logs, "hallctl stopping on a fatal error") {
		t.Fatalf("the fatal error was not logged:\n%s", logs)
	}
	code, body := healthz(t, r.c)
	if code != http.StatusServiceUnavailable || body["status"] != "failed" || !strings.Contains(body["error"].(string), "cannot record") {
		t.Fatalf("healthz %d %v", code, body)
	}
	// The restart serves the log: one ticket, and the next is A002.
	r.restart()
	if n := len(r.c.Snapshot().Waiting); n != 1 {
		t.Fatalf("after restart %d waiting, want the 1 durable ticket", n)
	}
	tk, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "", "")
	if err != nil || tk.Number != "A002" {
		t.Fatalf("after restart: %+v %v", tk, err)
	}
}

func healthz(t *testing.T, c *Controller) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	c.httpHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("healthz body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, body
}

// The database file deleted while running is noticed by the periodic
// check: the controller stops with the path in the error.
func TestDeletedDatabaseStopsTheController(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	if err := os.Remove(r.path); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(500 * time.Millisecond) // the store check's period
	err := r.runEnded()
	if err == nil || !strings.Contains(err.Error(), "database file is gone") || !strings.Contains(err.Error(), r.path) {
		t.Fatalf("Run returned %v", err)
	}
	if _, err := r.c.Issue(context.Background(), IssueRequest{Item: "HR-001"}, "", ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("issue after the file was deleted: %v", err)
	}
}

// /healthz checks the log too: a deleted file is found by the probe and
// is fatal at once; a Run started afterwards returns the error at once.
func TestHealthzFindsDeletedDatabase(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, nil)
	if code, body := healthz(t, r.c); code != http.StatusServiceUnavailable || body["status"] != "degraded" || body["broker_connected"] != false {
		t.Fatalf("healthz before connecting: %d %v", code, body)
	}
	if err := os.Remove(r.path); err != nil {
		t.Fatal(err)
	}
	code, body := healthz(t, r.c)
	if code != http.StatusServiceUnavailable || body["status"] != "failed" || !strings.Contains(body["error"].(string), "gone") {
		t.Fatalf("healthz with the file deleted: %d %v", code, body)
	}
	if r.c.Err() == nil {
		t.Fatal("the probe's finding was not fatal")
	}
	err := r.c.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "database file is gone") {
		t.Fatalf("Run after a fatal error: %v", err)
	}
}

// /healthz and /metrics on the controller's own listener.
func TestHealthzAndMetrics(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, func(o *Options) { o.HTTPAddr = "127.0.0.1:0" })
	r.start()
	r.newAgent("kiosk-1", kioskDevices...)
	if _, err := r.c.Issue(context.Background(), IssueRequest{Item: "HR-001"}, "", ""); err != nil {
		t.Fatal(err)
	}
	code, body := r.get("/healthz")
	var h map[string]any
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	if code != 200 || h["status"] != "ok" || h["hall"] != "rig" || h["agents"] != 1.0 || h["agents_online"] != 1.0 || h["broker_connected"] != true {
		t.Fatalf("healthz %d %s", code, body)
	}
	code, body = r.get("/metrics")
	for _, want := range []string{
		`hallctl_tickets_issued_total{item="HR-001"} 1`,
		"hallctl_healthy 1",
		"hallctl_broker_connected 1",
		"hallctl_units_committed_total",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if r.c.HTTPAddr() == "" {
		t.Fatal("no HTTP address")
	}
	// A clean stop is no error.
	if err := r.stop(); err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
}

// New refuses what it cannot run with, and names the setting to change
// for a taken HTTP address.
func TestNewRefuses(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall, nil)
	if _, err := New(context.Background(), Options{Store: r.st}); err == nil {
		t.Fatal("no config accepted")
	}
	if _, err := New(context.Background(), Options{Config: r.cfg}); err == nil {
		t.Fatal("no store accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = New(context.Background(), Options{Config: r.cfg, Store: r.st, Clock: r.clock, HTTPAddr: ln.Addr().String(), Logger: r.c.log})
	if !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), "HTTP_ADDR") {
		t.Fatalf("taken HTTP address: %v", err)
	}
	_, err = New(context.Background(), Options{Config: r.cfg, Store: r.st, Clock: r.clock, HTTPAddr: "256.0.0.1:x", Logger: r.c.log})
	if err == nil || !strings.Contains(err.Error(), "HTTP_ADDR") {
		t.Fatalf("bad HTTP address: %v", err)
	}
}
