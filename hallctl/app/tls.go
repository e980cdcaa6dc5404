package app

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/servicehall/servicehall/hallctl/certs"
	"github.com/servicehall/servicehall/hallctl/config"
)

// serverTLS is `server.tls:` loaded once at start: the embedded broker
// serves MQTT over TLS only and HTTP is HTTPS only, TLS 1.2 or later.
// Renewed certificate files are read at the next start (no reload on
// SIGHUP).
type serverTLS struct {
	broker *tls.Config // the MQTT listener; with client_ca_file it asks for client certificates
	http   *tls.Config
	// self is the controller's own connection to its embedded broker: it
	// trusts exactly the certificate the broker presents (pinned), so it
	// needs neither a CA file nor a host name in the certificate.
	self *tls.Config
	ca   *x509.CertPool // server.tls.ca_file, when set
}

func loadServerTLS(cfg *config.Config) (*serverTLS, error) {
	t := cfg.Server.TLS
	if t == nil {
		return nil, nil
	}
	pair, err := certs.LoadServer(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls: %w", err)
	}
	leaf := pair.Leaf.Raw
	st := &serverTLS{
		broker: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}},
		http:   &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}},
		self: &tls.Config{MinVersion: tls.VersionTLS12,
			// Verification is VerifyConnection's byte-for-byte pin of the
			// broker's own certificate, not the chain and host name.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, leaf) {
					return errors.New("the MQTT listener presented a certificate other than server.tls.cert_file")
				}
				return nil
			}},
	}
	if t.ClientCAFile != "" {
		pool, err := certs.LoadPool(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("server.tls.client_ca_file: %w", err)
		}
		// Verified by TLS when given; the broker refuses an agent without
		// one (broker.Options.RequireClientCert), but not hallctl itself.
		st.broker.ClientCAs, st.broker.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	if t.CAFile != "" {
		if st.ca, err = certs.LoadPool(t.CAFile); err != nil {
			return nil, fmt.Errorf("server.tls.ca_file: %w", err)
		}
	}
	return st, nil
}

// httpConfig is nil without server.tls (plain HTTP).
func (s *serverTLS) httpConfig() *tls.Config {
	if s == nil {
		return nil
	}
	return s.http
}
