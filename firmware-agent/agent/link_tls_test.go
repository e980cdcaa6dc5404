package agent_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	"github.com/servicehall/servicehall/firmware-agent/device/devicetest"
	hallbroker "github.com/servicehall/servicehall/hallctl/broker"
	"github.com/servicehall/servicehall/hallctl/certs"
)

// Issue 12 item 5: the agent verifies the hall's broker. These tests run
// hallctl's embedded broker (hallctl/broker) with a certificate made by
// `hallctl certs` and a real agent with mqtt.tls.

// syncBuf collects log lines from the agent's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hallPKI makes a hall CA and server certificate for hall.test (plus
// localhost and 127.0.0.1) and client certificates for the ids.
func hallPKI(t *testing.T, ids ...string) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := certs.Init(dir, []string{"hall.test"}, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := certs.Agent(dir, id, certs.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tlsBroker starts hallctl's broker, MQTT over TLS only, with agent a1
// (password "a1-pass"); with clientCerts it requires client certificates
// from the hall CA whose CN is the username.
func tlsBroker(t *testing.T, pki string, clientCerts bool) *hallbroker.Broker {
	t.Helper()
	pair, err := certs.LoadServer(filepath.Join(pki, certs.ServerCert), filepath.Join(pki, certs.ServerKey))
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if clientCerts {
		pool, err := certs.LoadPool(filepath.Join(pki, certs.CACert))
		if err != nil {
			t.Fatal(err)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	b, err := hallbroker.New(hallbroker.Options{Addr: "127.0.0.1:0", Hall: hall, TLS: tc, RequireClientCert: clientCerts,
		Users: []hallbroker.User{{Username: agentID, Password: "a1-pass"}}, Limits: hallbroker.Limits{AuthFailuresPerMin: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// tlsAgent runs an agent with no devices against url with the mqtt.tls
// lines given (YAML flow-map entries) and returns it and its log.
func tlsAgent(t *testing.T, url, tlsKeys string) (*agent.Agent, *syncBuf) {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "mqtt.pass")
	if err := os.WriteFile(pw, []byte("a1-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf("agent: {id: %s, hall: %s, state_dir: %s}\nmqtt: {url: %q, password_file: %s, tls: {%s}}\n",
		agentID, hall, filepath.Join(dir, "state"), url, pw, tlsKeys)
	cfg, err := agent.Parse([]byte(y), "agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	a, err := agent.New(context.Background(), cfg, agent.Opts{
		Log:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Lookup: devicetest.NewSet().Lookup, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		ConnectTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		t.Log(logs.String())
	})
	return a, logs
}

// until polls cond (the agent's real connection attempts) up to wait.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAgentVerifiesHallBroker(t *testing.T) {
	pki := hallPKI(t)
	b := tlsBroker(t, pki, false)
	ca := filepath.Join(pki, certs.CACert)
	url := "ssl://" + b.Addr() // 127.0.0.1: in the certificate

	t.Run("hall CA", func(t *testing.T) {
		a, _ := tlsAgent(t, url, "ca_file: "+ca)
		until(t, "connected", func() bool { return a.Stats().Connects >= 1 })
	})
	t.Run("another CA", func(t *testing.T) {
		other := hallPKI(t)
		a, logs := tlsAgent(t, url, "ca_file: "+filepath.Join(other, certs.CACert))
		until(t, "refusal logged", func() bool {
			return strings.Contains(logs.String(), "broker connect failed") && strings.Contains(logs.String(), "certificate signed by unknown authority")
		})
		if n := a.Stats().Connects; n != 0 {
			t.Fatalf("connected %d times to a broker its CA did not sign", n)
		}
	})
	t.Run("certificate for another host", func(t *testing.T) {
		// The agent expects hall-b; this broker's certificate is hall.test's.
		a, logs := tlsAgent(t, url, "ca_file: "+ca+", server_name: hall-b.test")
		until(t, "refusal logged", func() bool {
			return strings.Contains(logs.String(), "broker connect failed") && strings.Contains(logs.String(), "not hall-b.test")
		})
		if n := a.Stats().Connects; n != 0 {
			t.Fatalf("connected %d times to a broker with another host's certificate", n)
		}
	})
}

// With the hall's server.tls.client_ca_file (broker.RequireClientCert) the
// agent's own certificate, CN = its id, is needed besides its password.
func TestAgentClientCertificate(t *testing.T) {
	pki := hallPKI(t, agentID, "a2")
	b := tlsBroker(t, pki, true)
	url := "ssl://" + b.Addr()
	ca := filepath.Join(pki, certs.CACert)
	cert := func(id string) string {
		return fmt.Sprintf(", cert_file: %s, key_file: %s", filepath.Join(pki, "agents", id+".pem"), filepath.Join(pki, "agents", id+".key"))
	}

	a, _ := tlsAgent(t, url, "ca_file: "+ca+cert(agentID))
	until(t, "connected with its certificate", func() bool { return a.Stats().Connects >= 1 })

	for name, keys := range map[string]string{"no certificate": "ca_file: " + ca, "a2's certificate": "ca_file: " + ca + cert("a2")} {
		before := b.Stats().Rejected[hallbroker.ReasonAuthFailed]
		a, logs := tlsAgent(t, url, keys)
		until(t, name+": refusal", func() bool {
			return b.Stats().Rejected[hallbroker.ReasonAuthFailed] > before && strings.Contains(logs.String(), "broker connect failed")
		})
		if n := a.Stats().Connects; n != 0 {
			t.Errorf("%s: connected %d times", name, n)
		}
	}
}
