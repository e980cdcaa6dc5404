package agent

import (
	"strings"
	"testing"
)

// mqtt.url may list a cluster's nodes: the agent validates each, gives
// paho every one (tried in order on each connect) and, with TLS to several
// hosts, leaves the server name to each dial.
func TestMQTTURLList(t *testing.T) {
	y := `agent: {id: kiosk-1, hall: h, state_dir: /tmp/x}
mqtt: {url: "tcp://127.0.0.1:4101, tcp://127.0.0.1:4102,tcp://127.0.0.1:4103"}
`
	cfg, err := Parse([]byte(y), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a list of three URLs: %v", err)
	}
	a := &Agent{cfg: cfg, id: "kiosk-1", hall: "h"}
	if err := a.credentials(); err != nil {
		t.Fatal(err)
	}
	o := a.clientOptions(&conn{})
	var got []string
	for _, s := range o.Servers {
		got = append(got, s.Host)
	}
	if strings.Join(got, " ") != "127.0.0.1:4101 127.0.0.1:4102 127.0.0.1:4103" {
		t.Fatalf("paho brokers %v, want the three nodes in order", got)
	}

	bad := `agent: {id: kiosk-1, hall: h, state_dir: /tmp/x}
mqtt: {url: "tcp://127.0.0.1:4101,http://127.0.0.1:4102"}
`
	cfg, err = Parse([]byte(bad), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `mqtt.url: scheme "http"`) {
		t.Fatalf("a bad second URL: %v", err)
	}

	for _, c := range []struct{ url, server string }{
		{"ssl://a.example:8883", "a.example"},
		{"ssl://a.example:8883,ssl://a.example:8884", "a.example"},
		{"ssl://a.example:8883,ssl://b.example:8883", ""}, // each dial checks its own host
	} {
		a := &Agent{cfg: &Config{MQTT: MQTTConfig{URL: c.url}}}
		if err := a.credentials(); err != nil {
			t.Fatal(err)
		}
		if a.tls == nil || a.tls.ServerName != c.server {
			t.Errorf("%s: TLS server name %v, want %q", c.url, a.tls, c.server)
		}
	}
}
