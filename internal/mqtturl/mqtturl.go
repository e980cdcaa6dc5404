// Package mqtturl reads broker address lists. The agent's `mqtt.url` and
// hallctl's `server.broker_url` / `--broker-url` take one broker URL or
// several separated by commas — the nodes of a clustered broker, or a
// primary and a fallback. Clients try them in the order given on every
// (re)connect and stay on the first that answers.
package mqtturl

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrBad is wrapped by every error Parse returns.
var ErrBad = errors.New("bad broker URL")

// Schemes are the URL schemes the MQTT clients (paho) dial.
var Schemes = []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}

// Split returns the comma-separated entries of s, trimmed, empty ones
// dropped. It does not validate them (Parse does).
func Split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Parse splits s and checks every entry: a known scheme and a host.
// An empty list is an error.
func Parse(s string) ([]*url.URL, error) {
	parts := Split(s)
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBad)
	}
	out := make([]*url.URL, 0, len(parts))
	for i, p := range parts {
		u, err := url.Parse(p)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", ErrBad, i+1, err)
		}
		if !known(u.Scheme) {
			return nil, fmt.Errorf("%w: entry %d %q: scheme %q is not tcp, ssl, tls, mqtts, ws or wss", ErrBad, i+1, p, u.Scheme)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("%w: entry %d %q has no host:port", ErrBad, i+1, p)
		}
		out = append(out, u)
	}
	return out, nil
}

// TLS reports whether u is dialled over TLS.
func TLS(u *url.URL) bool {
	switch strings.ToLower(u.Scheme) {
	case "ssl", "tls", "mqtts", "wss", "tcps", "mqtt+ssl":
		return true
	}
	return false
}

func known(scheme string) bool {
	for _, s := range Schemes {
		if s == scheme {
			return true
		}
	}
	return false
}
