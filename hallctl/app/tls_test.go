package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/servicehall/servicehall/hallctl/certs"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/web"
	"github.com/servicehall/servicehall/wire"
)

// tlsHall starts hallctl with server.tls from `hallctl certs` (and with
// clientCA, server.tls.client_ca_file); kiosk-1's password is "k1-secret".
func tlsHall(t *testing.T, clientCA bool) (*App, string, *x509.CertPool) {
	t.Helper()
	pki := t.TempDir()
	if _, err := certs.Init(pki, []string{"hall.test"}, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.Agent(pki, "kiosk-1", certs.Options{}); err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("k1-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(pki, name) }
	server := fmt.Sprintf("server:\n  users: [{username: kiosk-1, password_hash: '%s'}]\n  tls:\n    cert_file: %s\n    key_file: %s\n    ca_file: %s\n",
		hash, p(certs.ServerCert), p(certs.ServerKey), p(certs.CACert))
	if clientCA {
		server += "    client_ca_file: " + p(certs.CACert) + "\n"
	}
	cfg, err := config.Parse("test.yaml", []byte(strings.Replace(testHall, "server: {demo: true} # the test agents connect anonymously over loopback\n", server, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := Start(ctx, Options{Config: cfg, Logger: quietLogger(), MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: t.TempDir()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	select {
	case <-a.Controller.Connected(): // its own connection: TLS, the broker's certificate pinned
	case <-time.After(10 * time.Second):
		t.Fatal("controller did not connect to its TLS broker")
	}
	pool, err := certs.LoadPool(p(certs.CACert))
	if err != nil {
		t.Fatal(err)
	}
	return a, pki, pool
}

// server.tls: HTTP is HTTPS only. A client trusting the hall CA gets the
// API and the websocket stream over wss; plain HTTP to the port gets no
// API; public_url defaults to https://.
func TestHTTPSAndWSS(t *testing.T) {
	a, _, pool := tlsHall(t, false)
	base := "https://" + a.HTTPAddr()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	resp, err := hc.Get(base + "/api/v1/hall")
	if err != nil {
		t.Fatalf("HTTPS with the hall CA: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !json.Valid(body) || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("GET /api/v1/hall over HTTPS: %d %s", resp.StatusCode, body)
	}
	if pub := a.Controller.Config().Server.PublicURL; pub != base {
		t.Errorf("public_url default %q, want %q", pub, base)
	}

	// Plain HTTP gets net/http's refusal, not the API.
	plain, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + a.HTTPAddr() + "/api/v1/hall")
	if err != nil {
		t.Fatalf("plain HTTP: %v", err)
	}
	b, _ := io.ReadAll(plain.Body)
	plain.Body.Close()
	if plain.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTPS server") {
		t.Fatalf("plain HTTP to the HTTPS port: %d %s", plain.StatusCode, b)
	}
	if _, err := (&http.Client{Timeout: 10 * time.Second}).Get(base + "/api/v1/hall"); err == nil {
		t.Fatal("a client without the hall CA trusted the server")
	}
	if _, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}).Get(base + "/api/v1/hall"); err == nil {
		t.Fatal("TLS 1.1 accepted")
	}

	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial("wss://"+a.HTTPAddr()+"/api/v1/stream", http.Header{"Origin": {base}})
	if err != nil {
		t.Fatalf("wss stream: %v", err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hello web.StreamMsg
	if err := ws.ReadJSON(&hello); err != nil || hello.Kind != "hello" {
		t.Fatalf("hello: %+v %v", hello, err)
	}
	resp, err = hc.Post(base+"/api/v1/tickets", "application/json", strings.NewReader(`{"item":"HR-001"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("issue over HTTPS: %d", resp.StatusCode)
	}
	for {
		var m web.StreamMsg
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("no queue event on the wss stream: %v", err)
		}
		if m.Queue != nil {
			return
		}
	}
}

// server.tls with client_ca_file: the embedded broker is MQTT over TLS
// only, and an agent needs its password and a client certificate from
// the hall CA whose CN is its id.
func TestEmbeddedBrokerTLSClientCert(t *testing.T) {
	a, pki, pool := tlsHall(t, true)
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "agents", "kiosk-1.pem"), filepath.Join(pki, "agents", "kiosk-1.key"))
	if err != nil {
		t.Fatal(err)
	}
	dial := func(scheme string, certs ...tls.Certificate) (mqtt.Client, error) {
		o := mqtt.NewClientOptions().AddBroker(scheme + "://" + a.MQTTAddr()).SetClientID("kiosk-1").
			SetUsername("kiosk-1").SetPassword("k1-secret").SetProtocolVersion(4).
			SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
			SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "hall.test", Certificates: certs})
		c := mqtt.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatal("connect: no answer")
		}
		return c, tok.Error()
	}
	if _, err := dial("tcp"); err == nil {
		t.Fatal("plain MQTT connected to the TLS listener")
	}
	if _, err := dial("ssl"); err == nil {
		t.Fatal("agent without a client certificate connected")
	}
	c, err := dial("ssl", cert)
	if err != nil {
		t.Fatalf("agent with its certificate: %v", err)
	}
	defer c.Disconnect(0)
	got := make(chan string, 1)
	c.Subscribe(wire.CtlStatus("t-hall"), 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- string(m.Payload()):
		default:
		}
	})
	select {
	case s := <-got:
		if s != wire.Online {
			t.Errorf("ctl/status %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent on TLS does not see the controller's status")
	}
	if n := a.Broker.Stats().Rejected["auth_failed"]; n != 1 {
		t.Errorf("auth_failed = %d, want 1 (the agent without a certificate)", n)
	}
}
