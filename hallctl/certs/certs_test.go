package certs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/certs"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInitMakesCAAndServerCertificate(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	paths, err := certs.Init(dir, []string{"hall.example", "192.168.1.10"}, certs.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 4 {
		t.Fatalf("paths %v", paths)
	}
	for _, name := range []string{certs.CAKey, certs.ServerKey} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o, want 600", name, fi.Mode().Perm())
		}
	}
	ca := readCert(t, filepath.Join(dir, certs.CACert))
	if !ca.IsCA || ca.NotAfter.Sub(now) < 3649*24*time.Hour {
		t.Errorf("CA: IsCA %v, not after %v", ca.IsCA, ca.NotAfter)
	}
	if pk, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pk.Curve != elliptic.P256() {
		t.Errorf("CA key is not ECDSA P-256: %T", ca.PublicKey)
	}
	srv := readCert(t, filepath.Join(dir, certs.ServerCert))
	if !slices.Equal(srv.DNSNames, []string{"hall.example", "localhost"}) {
		t.Errorf("DNS SANs %v", srv.DNSNames)
	}
	if len(srv.IPAddresses) != 2 || !srv.IPAddresses[0].Equal(net.ParseIP("192.168.1.10")) || !srv.IPAddresses[1].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("IP SANs %v", srv.IPAddresses)
	}
	if got := srv.NotAfter.Sub(now); got < 729*24*time.Hour || got > 731*24*time.Hour {
		t.Errorf("server validity %v", got)
	}
	if !slices.Equal(srv.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("server EKU %v", srv.ExtKeyUsage)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: "hall.example", CurrentTime: now}); err != nil {
		t.Errorf("server not verified by the CA: %v", err)
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.example", CurrentTime: now}); err == nil {
		t.Error("server verified for a host it was not made for")
	}
	in, err := certs.Inspect(filepath.Join(dir, certs.ServerCert), filepath.Join(dir, certs.ServerKey), now)
	if err != nil || in.Warning != "" {
		t.Errorf("Inspect: %+v %v", in, err)
	}
}

func TestInitRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, []string{"hall"}, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, certs.CAKey))
	if _, err := certs.Init(dir, []string{"hall"}, certs.Options{}); !errors.Is(err, certs.ErrExists) {
		t.Fatalf("second init: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, certs.CAKey))
	if string(before) != string(after) {
		t.Fatal("CA key replaced without Force")
	}
	if _, err := certs.Init(dir, []string{"hall"}, certs.Options{Force: true}); err != nil {
		t.Fatalf("forced init: %v", err)
	}
	forced, _ := os.ReadFile(filepath.Join(dir, certs.CAKey))
	if string(forced) == string(before) {
		t.Fatal("Force did not replace the CA")
	}
	if _, err := certs.Init(dir, nil, certs.Options{Force: true}); err == nil {
		t.Error("init without hosts accepted")
	}
	if _, err := certs.Init(t.TempDir(), []string{"bad host"}, certs.Options{}); err == nil {
		t.Error("host with a space accepted")
	}
}

func TestAgentCertificate(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	if _, err := certs.Agent(dir, "kiosk-1", certs.Options{}); err == nil {
		t.Fatal("agent certificate without a CA")
	}
	if _, err := certs.Init(dir, []string{"hall"}, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.Agent(dir, "Kiosk 1", certs.Options{}); err == nil {
		t.Error("bad agent id accepted")
	}
	paths, err := certs.Agent(dir, "kiosk-1", certs.Options{Days: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "agents", "kiosk-1.pem"), filepath.Join(dir, "agents", "kiosk-1.key")}
	if !slices.Equal(paths, want) {
		t.Fatalf("paths %v", paths)
	}
	if fi, _ := os.Stat(want[1]); fi.Mode().Perm() != 0o600 {
		t.Errorf("agent key mode %o", fi.Mode().Perm())
	}
	c := readCert(t, want[0])
	if c.Subject.CommonName != "kiosk-1" || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("CN %q EKU %v", c.Subject.CommonName, c.ExtKeyUsage)
	}
	if err := certs.VerifySignedBy(want[0], filepath.Join(dir, certs.CACert), now); err != nil {
		t.Error(err)
	}
	in, err := certs.Inspect(want[0], want[1], now)
	if err != nil || in.Warning == "" {
		t.Errorf("10-day certificate: %+v %v (want a warning)", in, err)
	}
	if _, err := certs.Agent(dir, "kiosk-1", certs.Options{}); !errors.Is(err, certs.ErrExists) {
		t.Errorf("second agent cert: %v", err)
	}
}

func TestInspectRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, []string{"hall"}, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.Agent(dir, "a1", certs.Options{}); err != nil {
		t.Fatal(err)
	}
	srv, key := filepath.Join(dir, certs.ServerCert), filepath.Join(dir, certs.ServerKey)
	if _, err := certs.Inspect(srv, key, time.Now().AddDate(3, 0, 0)); !errors.Is(err, certs.ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	if _, err := certs.Inspect(srv, filepath.Join(dir, "agents", "a1.key"), time.Now()); !errors.Is(err, certs.ErrKeyMismatch) {
		t.Errorf("mismatched key: %v", err)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.Inspect(srv, key, time.Now()); err == nil {
		t.Error("0644 key accepted")
	}
	if _, err := certs.Inspect(filepath.Join(dir, "missing.pem"), filepath.Join(dir, certs.CAKey), time.Now()); err == nil {
		t.Error("missing certificate accepted")
	}
	if err := certs.VerifySignedBy(srv, filepath.Join(t.TempDir(), "none.pem"), time.Now()); err == nil {
		t.Error("missing CA accepted")
	}
}
