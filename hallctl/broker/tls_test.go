package broker_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/hallctl/broker"
	"github.com/servicehall/servicehall/hallctl/certs"
)

// tlsPKI is a hall CA with its server certificate and client certificates
// for kiosk-1 and win-8, made by hallctl/certs.
type tlsPKI struct {
	dir    string
	server tls.Certificate
	pool   *x509.CertPool
}

func newPKI(t *testing.T) *tlsPKI {
	t.Helper()
	dir := t.TempDir()
	if _, err := certs.Init(dir, []string{"hall.test"}, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"kiosk-1", "win-8"} {
		if _, err := certs.Agent(dir, id, certs.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := certs.LoadServer(filepath.Join(dir, certs.ServerCert), filepath.Join(dir, certs.ServerKey))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := certs.LoadPool(filepath.Join(dir, certs.CACert))
	if err != nil {
		t.Fatal(err)
	}
	return &tlsPKI{dir: dir, server: srv, pool: pool}
}

func (p *tlsPKI) agentCert(t *testing.T, id string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(p.dir, "agents", id+".pem"), filepath.Join(p.dir, "agents", id+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dialTLS connects a paho client over ssl:// trusting the hall CA and
// presenting certs (none: no client certificate).
func dialTLS(t *testing.T, b *broker.Broker, p *tlsPKI, id, user, pass string, cert ...tls.Certificate) error {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("ssl://" + b.Addr()).SetClientID(id).SetUsername(user).SetPassword(pass).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(guard).
		SetTLSConfig(&tls.Config{RootCAs: p.pool, ServerName: "localhost", Certificates: cert, MinVersion: tls.VersionTLS12})
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(guard) {
		t.Fatal("connect did not finish")
	}
	if tok.Error() == nil {
		c.Disconnect(0)
	}
	return tok.Error()
}

// With Options.TLS the listener speaks MQTT over TLS only: a plain MQTT
// client gets no CONNACK.
func TestTLSListenerIsTLSOnly(t *testing.T) {
	p := newPKI(t)
	b := startBroker(t, func(o *broker.Options) {
		o.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	})
	if err := dialTLS(t, b, p, "kiosk-1", "kiosk-1", secrets["kiosk-1"]); err != nil {
		t.Fatalf("TLS client with the hall CA: %v", err)
	}
	o, c := clientOpts(b.Addr(), "kiosk-1", "kiosk-1", secrets["kiosk-1"])
	if _, err := dial(t, o, c); err == nil {
		t.Fatal("plain MQTT client connected to the TLS listener")
	}
}

// With RequireClientCert every agent presents a certificate from the
// client CA whose CN is its username; without one, or with another
// agent's, it is refused and counted as auth_failed. The NoClientCert
// user (hallctl's own connection) needs only its password.
func TestClientCertCNMustBeUsername(t *testing.T) {
	p := newPKI(t)
	b := startBroker(t, func(o *broker.Options) {
		o.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12,
			ClientCAs: p.pool, ClientAuth: tls.VerifyClientCertIfGiven}
		o.RequireClientCert = true
		o.Users = []broker.User{{Username: "kiosk-1"}, {Username: "win-8"}, {Username: ctl, Controller: true, NoClientCert: true}}
		o.Limits.AuthFailuresPerMin = 100
	})
	if err := dialTLS(t, b, p, "kiosk-1", "kiosk-1", secrets["kiosk-1"], p.agentCert(t, "kiosk-1")); err != nil {
		t.Fatalf("kiosk-1 with its own certificate: %v", err)
	}
	if err := dialTLS(t, b, p, "kiosk-1", "kiosk-1", secrets["kiosk-1"]); err == nil {
		t.Fatal("kiosk-1 without a certificate connected")
	}
	if err := dialTLS(t, b, p, "kiosk-1", "kiosk-1", secrets["kiosk-1"], p.agentCert(t, "win-8")); err == nil {
		t.Fatal("kiosk-1 with win-8's certificate connected")
	}
	if got := b.Stats().Rejected[broker.ReasonAuthFailed]; got != 2 {
		t.Errorf("auth_failed = %d, want 2", got)
	}
	if err := dialTLS(t, b, p, ctl, ctl, secrets[ctl]); err != nil {
		t.Fatalf("controller (NoClientCert): %v", err)
	}
	// A certificate from another CA fails the TLS handshake itself.
	other := newPKI(t)
	err := dialTLS(t, b, p, "kiosk-1", "kiosk-1", secrets["kiosk-1"], other.agentCert(t, "kiosk-1"))
	if err == nil {
		t.Fatal("certificate from another CA accepted")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Logf("foreign client certificate refused with: %v", err)
	}
}

func TestRequireClientCertNeedsClientCAs(t *testing.T) {
	_, err := broker.New(broker.Options{Hall: hall, Users: []broker.User{{Username: "a", Password: "x"}}, RequireClientCert: true,
		TLS: &tls.Config{}})
	if !errors.Is(err, broker.ErrConfig) {
		t.Fatalf("RequireClientCert without ClientCAs: %v", err)
	}
}
