package app

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/broker"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/internal/pgtest"
)

// externalBroker is a broker of its own on a random port, as the one an
// active/standby pair shares.
func externalBroker(t *testing.T) string {
	t.Helper()
	b, err := broker.New(broker.Options{Addr: "127.0.0.1:0", Hall: testConfig(t).Hall.ID, Logger: quietLogger(), AllowAnonymousLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return "tcp://" + b.Addr()
}

func freeHTTPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// started is a Start running in the background (a standby blocks in it).
type started struct {
	a      *App
	err    error
	done   chan struct{} // Start returned
	ran    chan error    // Run returned
	cancel context.CancelFunc
	once   sync.Once
}

func startBackground(cfg *config.Config, dir, brokerURL, httpAddr string) *started {
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{done: make(chan struct{}), ran: make(chan error, 1), cancel: cancel}
	go func() {
		s.a, s.err = Start(ctx, Options{Config: cfg, Logger: quietLogger(), BrokerURL: brokerURL, HTTPAddr: httpAddr, StateDir: dir})
		close(s.done)
		if s.err != nil {
			s.ran <- s.err
			return
		}
		s.ran <- s.a.Run(ctx)
	}()
	return s
}

func (s *started) stop() {
	s.once.Do(func() {
		s.cancel()
		<-s.done
		<-s.ran
		if s.a != nil {
			s.a.Close()
		}
	})
}

func failoverConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.Server.Store = pgtest.DSN(t)
	cfg.Server.Failover = &config.Failover{LeaseS: 1, Node: "ctl"}
	return cfg
}

// Two controllers of one hall: the first leads; the second answers every
// HTTP request 503 (saying who leads) until the first stops, then leads
// at the next epoch with the log replayed, and issues the next number.
func TestStandbyAnswers503ThenTakesOver(t *testing.T) {
	ctx := context.Background()
	cfg := failoverConfig(t)
	dir := t.TempDir() // shared: the standby has the leader's keys
	url := externalBroker(t)
	first := startBackground(cfg, dir, url, "127.0.0.1:0")
	<-first.done
	if first.err != nil {
		t.Fatal(first.err)
	}
	defer first.stop()
	if epoch, holder := first.a.Leading(); epoch != 1 || !strings.HasPrefix(holder, "ctl#") {
		t.Fatalf("first controller leads at epoch %d as %q", epoch, holder)
	}
	tk, err := first.a.Controller.Issue(ctx, ctl.IssueRequest{Item: "HR-001"}, "", "")
	if err != nil {
		t.Fatal(err)
	}

	addr := freeHTTPAddr(t)
	second := startBackground(cfg, dir, url, addr)
	defer second.stop()
	var body map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/api/v1/tickets/" + tk.Number)
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("standby answered %d (Retry-After %q), want 503", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if body["leader"] != "" && body["leader"] != nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby never answered 503 naming the leader: %v %v", err, body)
		}
		time.Sleep(20 * time.Millisecond) // polling a server starting in the background
	}
	if _, holder := first.a.Leading(); body["status"] != "standby" || body["leader"] != holder {
		t.Fatalf("standby's answer %v, want the leader %s", body, holder)
	}
	select {
	case <-second.done:
		t.Fatalf("the standby started leading while the leader runs: %v", second.err)
	default:
	}

	first.stop() // a clean stop releases the lease
	select {
	case <-second.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the standby did not take over")
	}
	if second.err != nil {
		t.Fatal(second.err)
	}
	if epoch, _ := second.a.Leading(); epoch != 2 {
		t.Fatalf("the new leader's epoch %d, want 2", epoch)
	}
	var count int
	second.a.Controller.View(func(e *queue.Engine) { count = e.TicketCount() })
	if count != 1 {
		t.Fatalf("the new leader replayed %d tickets, want 1", count)
	}
	next, err := second.a.Controller.Issue(ctx, ctl.IssueRequest{Item: "HR-001"}, "", "")
	if err != nil || next.Number == tk.Number {
		t.Fatalf("the new leader issued %+v (%v) after %s", next, err, tk.Number)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the new leader's /healthz: %d", resp.StatusCode)
	}
}

// A standby with other keys than the leader's refuses to start (tokens,
// QR codes and receipt checks would break at a failover); failover with
// the embedded broker is refused too.
func TestFailoverRefusals(t *testing.T) {
	cfg := failoverConfig(t)
	url := externalBroker(t)
	first := startBackground(cfg, t.TempDir(), url, "127.0.0.1:0")
	<-first.done
	if first.err != nil {
		t.Fatal(first.err)
	}
	defer first.stop()
	other := startBackground(cfg, t.TempDir(), url, "127.0.0.1:0") // a state dir of its own: new keys
	<-other.done
	if other.err == nil || !strings.Contains(other.err.Error(), "keys") || !strings.Contains(other.err.Error(), "docs/failover.md") {
		other.stop()
		t.Fatalf("a standby with other keys: %v", other.err)
	}
	embedded := startBackground(cfg, t.TempDir(), "", "127.0.0.1:0")
	<-embedded.done
	if embedded.err == nil || !strings.Contains(embedded.err.Error(), "external broker") {
		embedded.stop()
		t.Fatalf("failover with the embedded broker: %v", embedded.err)
	}
}

// server.failover needs server.store, and a sane lease.
func TestFailoverConfigChecks(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"server: {failover: {}}", "needs server.store"},
		{"server: {store: postgres://u@h/db, failover: {lease_s: 0.1}}", "lease_s"},
	} {
		y := strings.Replace(testHall, "server: {demo: true}", c.yaml, 1)
		if y == testHall {
			t.Fatal("testHall has no server line to replace")
		}
		_, err := config.Parse("t.yaml", []byte(y))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.want)
		}
	}
}
