package config

import (
	"errors"
	"time"

	"github.com/servicehall/servicehall/hallctl/certs"
)

// ServerTLS is the `server.tls:` section (issue 12): the certificate the
// embedded broker and HTTPS present, and optionally the CA that agents'
// client certificates must be signed by. `hallctl certs init` makes a
// hall CA and a server certificate and prints this section.
type ServerTLS struct {
	// CertFile and KeyFile are the server certificate (PEM, with any
	// intermediates after it) and its private key (mode 0600). Required.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile is the hall CA certificate that signed CertFile: what agents
	// put in mqtt.tls.ca_file. Optional; when set, `hallctl check`
	// verifies that it signed CertFile.
	CAFile string `yaml:"ca_file,omitempty"`
	// ClientCAFile, when set, makes the broker require of every agent a
	// client certificate signed by it whose CN equals the MQTT username
	// (in addition to the password).
	ClientCAFile string `yaml:"client_ca_file,omitempty"`
}

// tlsProblems are the section's structural problems (Validate).
func (c *Config) tlsProblems(add func(key, format string, a ...any)) {
	t := c.Server.TLS
	if t == nil {
		return
	}
	if t.CertFile == "" {
		add("server.tls.cert_file", "is empty (the server certificate, PEM; hallctl certs init makes one)")
	}
	if t.KeyFile == "" {
		add("server.tls.key_file", "is empty (the server certificate's private key, mode 0600)")
	}
}

// CheckTLS is the Check `hallctl check` adds for `server.tls:` (the files
// are read now, so configs of tests and tools still parse without them).
func CheckTLS(c *Config) []Problem { return c.TLSFileProblems(time.Now()) }

// TLSFileProblems checks the files `server.tls:` names at now: they
// exist, the key is 0600 and matches the certificate, the certificate is
// valid (a warning when fewer than 30 days are left), ca_file signed it,
// and client_ca_file holds certificates.
func (c *Config) TLSFileProblems(now time.Time) []Problem {
	t := c.Server.TLS
	if t == nil || t.CertFile == "" || t.KeyFile == "" {
		return nil
	}
	var ps []Problem
	in, err := certs.Inspect(t.CertFile, t.KeyFile, now)
	switch {
	case err != nil:
		ps = append(ps, c.Problemf("server.tls.cert_file", "%v", err))
	case in.Warning != "":
		w := c.Problemf("server.tls.cert_file", "%s", in.Warning)
		w.Warning = true
		ps = append(ps, w)
	}
	if t.CAFile != "" && !errors.Is(err, certs.ErrExpired) { // an expired certificate is reported once
		if err := certs.VerifySignedBy(t.CertFile, t.CAFile, now); err != nil {
			ps = append(ps, c.Problemf("server.tls.ca_file", "%v", err))
		}
	}
	if t.ClientCAFile != "" {
		if _, err := certs.LoadPool(t.ClientCAFile); err != nil {
			ps = append(ps, c.Problemf("server.tls.client_ca_file", "%v", err))
		}
	}
	return ps
}
