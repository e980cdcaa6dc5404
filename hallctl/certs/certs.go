// Package certs makes and checks the hall's TLS certificates with the
// standard library only: a hall CA (ECDSA P-256), the server certificate
// the embedded broker and HTTPS present, and client certificates for
// agents (CN = agent id). `hallctl certs` writes them; `hallctl check`
// and hallctl serve read them back through Inspect and LoadServer.
//
// Keys are written mode 0600 (internal/secret) and existing files are never
// replaced unless the caller says Force.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/servicehall/servicehall/internal/secret"
	"github.com/servicehall/servicehall/wire"
)

// Validity defaults.
const (
	CADays     = 3650 // the hall CA: 10 years
	ServerDays = 730  // the server certificate: 2 years
	AgentDays  = 730  // an agent's client certificate: 2 years
	// WarnDays: Inspect warns when a certificate has fewer days left.
	WarnDays = 30
)

// File names inside the certificate directory.
const (
	CACert     = "ca.pem"
	CAKey      = "ca.key"
	ServerCert = "server.pem"
	ServerKey  = "server.key"
	AgentsDir  = "agents"
)

// Sentinel errors.
var (
	// ErrExists: a file would be replaced and Force is off.
	ErrExists = errors.New("file exists (use --force to replace it)")
	// ErrKeyMismatch: a key does not belong to the certificate.
	ErrKeyMismatch = errors.New("private key does not match the certificate")
	// ErrExpired: a certificate is past its NotAfter (or before NotBefore).
	ErrExpired = errors.New("certificate expired or not yet valid")
)

// Options tune Init and Agent. The zero value takes the defaults.
type Options struct {
	// Days is the leaf certificate's validity; default ServerDays for
	// Init's server certificate, AgentDays for Agent.
	Days int
	// Force replaces existing files.
	Force bool
	// Now is the issue time; default time.Now().
	Now time.Time
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// Init writes a new hall CA (ca.pem, ca.key) and a server certificate
// (server.pem, server.key) for hosts (DNS names or IP addresses; localhost
// and 127.0.0.1 are always added) into dir. It returns the paths written.
// Nothing is written when any target exists and Force is off.
func Init(dir string, hosts []string, o Options) ([]string, error) {
	if len(hosts) == 0 {
		return nil, errors.New("at least one host name or address is needed (--host)")
	}
	for _, h := range hosts {
		if err := checkHost(h); err != nil {
			return nil, err
		}
	}
	paths := []string{filepath.Join(dir, CACert), filepath.Join(dir, CAKey), filepath.Join(dir, ServerCert), filepath.Join(dir, ServerKey)}
	if err := refuseExisting(paths, o.Force); err != nil {
		return nil, err
	}
	now := o.now()
	caCert, caKey, err := newCA(now)
	if err != nil {
		return nil, err
	}
	days := o.Days
	if days <= 0 {
		days = ServerDays
	}
	srvDER, srvKey, err := issue(caCert, caKey, leafTemplate(hosts[0], now, days, x509.ExtKeyUsageServerAuth, withDefaults(hosts)))
	if err != nil {
		return nil, err
	}
	if err := writeAll(paths, [][]byte{pemCert(caCert.Raw), pemKey(caKey), pemCert(srvDER), pemKey(srvKey)}); err != nil {
		return nil, err
	}
	return paths, nil
}

// Agent writes agents/<id>.pem and agents/<id>.key into dir: a client
// certificate with CN = id signed by the CA in dir (made by Init). It
// returns the paths written.
func Agent(dir, id string, o Options) ([]string, error) {
	if err := wire.CheckID("agent id", id); err != nil {
		return nil, err
	}
	caCert, caKey, err := LoadCA(dir)
	if err != nil {
		return nil, err
	}
	paths := []string{filepath.Join(dir, AgentsDir, id+".pem"), filepath.Join(dir, AgentsDir, id+".key")}
	if err := refuseExisting(paths, o.Force); err != nil {
		return nil, err
	}
	days := o.Days
	if days <= 0 {
		days = AgentDays
	}
	der, key, err := issue(caCert, caKey, leafTemplate(id, o.now(), days, x509.ExtKeyUsageClientAuth, nil))
	if err != nil {
		return nil, err
	}
	if err := writeAll(paths, [][]byte{pemCert(der), pemKey(key)}); err != nil {
		return nil, err
	}
	return paths, nil
}

// LoadCA reads ca.pem and ca.key from dir.
func LoadCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	certPath, keyPath := filepath.Join(dir, CACert), filepath.Join(dir, CAKey)
	pair, err := loadPair(certPath, keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("hall CA (run hallctl certs init first): %w", err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok || !pair.Leaf.IsCA {
		return nil, nil, fmt.Errorf("hall CA %s is not a CA certificate with a signing key", certPath)
	}
	return pair.Leaf, signer, nil
}

// LoadServer reads a certificate and its key for serving (the key file
// must be 0600), refusing a pair whose key does not match.
func LoadServer(certFile, keyFile string) (tls.Certificate, error) {
	return loadPair(certFile, keyFile)
}

func loadPair(certFile, keyFile string) (tls.Certificate, error) {
	if err := secret.Check(keyFile); err != nil {
		return tls.Certificate{}, fmt.Errorf("key %s: %w", keyFile, err)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return tls.Certificate{}, fmt.Errorf("%s and %s: %w", certFile, keyFile, ErrKeyMismatch)
		}
		return tls.Certificate{}, fmt.Errorf("%s and %s: %w", certFile, keyFile, err)
	}
	return pair, nil // Go 1.23+ fills Leaf
}

// LoadPool reads PEM certificates (a CA file) into a pool.
func LoadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s: no PEM certificates in it", file)
	}
	return pool, nil
}

// Info is what Inspect found about a certificate and key pair.
type Info struct {
	Subject  string
	NotAfter time.Time
	DaysLeft int
	// Warning is set when fewer than WarnDays days are left.
	Warning  string
	DNSNames []string
	IPs      []net.IP
}

// Inspect checks a serving pair at now: both files exist, the key is
// 0600 and matches the certificate, and the certificate is valid now. A
// certificate with fewer than WarnDays days left is returned with a
// Warning.
func Inspect(certFile, keyFile string, now time.Time) (Info, error) {
	pair, err := loadPair(certFile, keyFile)
	if err != nil {
		return Info{}, err
	}
	c := pair.Leaf
	in := Info{Subject: c.Subject.CommonName, NotAfter: c.NotAfter, DNSNames: c.DNSNames, IPs: c.IPAddresses,
		DaysLeft: int(c.NotAfter.Sub(now).Hours() / 24)}
	if now.After(c.NotAfter) || now.Before(c.NotBefore) {
		return in, fmt.Errorf("%s (valid %s to %s): %w", certFile, c.NotBefore.Format(time.DateOnly), c.NotAfter.Format(time.DateOnly), ErrExpired)
	}
	if in.DaysLeft < WarnDays {
		in.Warning = fmt.Sprintf("%s expires in %d days (%s); renew it", certFile, in.DaysLeft, c.NotAfter.Format(time.DateOnly))
	}
	return in, nil
}

// VerifySignedBy reports whether the certificate in certFile is signed by
// a CA in caFile.
func VerifySignedBy(certFile, caFile string, now time.Time) error {
	pool, err := LoadPool(caFile)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(certFile)
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return fmt.Errorf("%s: no PEM certificate", certFile)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("%s: %w", certFile, err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%s is not signed by %s: %w", certFile, caFile, err)
	}
	return nil
}

func checkHost(h string) error {
	if h == "" || strings.ContainsAny(h, " /:@") && net.ParseIP(h) == nil {
		return fmt.Errorf("host %q is not a DNS name or IP address", h)
	}
	return nil
}

// withDefaults adds localhost and 127.0.0.1 to hosts, without duplicates.
func withDefaults(hosts []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, h := range append(append([]string{}, hosts...), "localhost", "127.0.0.1") {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

func newCA(now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "servicehall hall CA", Organization: []string{"servicehall"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(0, 0, CADays),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return c, key, nil
}

func leafTemplate(cn string, now time.Time, days int, usage x509.ExtKeyUsage, hosts []string) *x509.Certificate {
	t := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"servicehall"}},
		NotBefore:    now.Add(-time.Hour), // a board's clock a little behind
		NotAfter:     now.AddDate(0, 0, days),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			t.IPAddresses = append(t.IPAddresses, ip)
		} else {
			t.DNSNames = append(t.DNSNames, h)
		}
	}
	return t
}

func issue(ca *x509.Certificate, caKey crypto.Signer, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate %s: %w", tmpl.Subject.CommonName, err)
	}
	return der, key, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err) // an ECDSA key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func refuseExisting(paths []string, force bool) error {
	if force {
		return nil
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s: %w", p, ErrExists)
		}
	}
	return nil
}

// writeAll writes each file: keys (".key") 0600 through internal/secret,
// certificates 0644; an existing file is removed first (Force).
func writeAll(paths []string, data [][]byte) error {
	for i, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("replace %s: %w", p, err)
		}
		if strings.HasSuffix(p, ".key") {
			if err := secret.Create(p, data[i]); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(p), err)
		}
		if err := os.WriteFile(p, data[i], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}
