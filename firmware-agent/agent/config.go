package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/internal/mqtturl"
	"github.com/servicehall/servicehall/wire"
)

// Config is the agent's YAML config (DESIGN.md "Agent config"). Unknown keys
// are errors. The zero value of every optional field means its default.
type Config struct {
	Agent   AgentConfig     `yaml:"agent"`
	MQTT    MQTTConfig      `yaml:"mqtt"`
	Devices []device.Config `yaml:"devices"`

	// lines maps key paths ("devices[2].id") to source lines for problems.
	lines map[string]int
	file  string
}

// AgentConfig identifies the agent.
type AgentConfig struct {
	// ID is the agent id: MQTT client id, username and topic level. Required.
	ID string `yaml:"id"`
	// Hall is the hall id of the topic root hall/v1/<hall>/. Required.
	Hall string `yaml:"hall"`
	// StateDir holds the outbox and the command ledger.
	// Default /var/lib/firmware-agent.
	StateDir string `yaml:"state_dir"`
	// SecretFile holds the hall secret for keyed hashes (ID reader).
	// Optional; drivers get an empty secret without it.
	SecretFile string `yaml:"secret_file,omitempty"`
}

// MQTTConfig is how the agent reaches the broker.
type MQTTConfig struct {
	// URL of the broker: tcp://, ssl://, tls://, mqtts://, ws:// or wss://.
	// Default tcp://127.0.0.1:1883. The environment variable MQTT_URL
	// overrides it. Several URLs separated by commas (the nodes of a
	// clustered broker) are tried in order on every connect.
	URL string `yaml:"url"`
	// Username defaults to the agent id when PasswordFile is set (DESIGN:
	// client id = username = agent id). Empty with no PasswordFile = no
	// credentials (a demo broker on loopback).
	Username string `yaml:"username,omitempty"`
	// PasswordFile holds the agent's MQTT password (trailing newline ignored).
	PasswordFile string `yaml:"password_file,omitempty"`
	// TLS configures certificates for ssl/tls/mqtts/wss URLs.
	TLS TLSConfig `yaml:"tls,omitempty"`
	// KeepaliveS is the MQTT keepalive in seconds. Default 30.
	KeepaliveS int `yaml:"keepalive_s,omitempty"`
}

// TLSConfig holds file paths for a TLS connection to the broker.
type TLSConfig struct {
	CAFile     string `yaml:"ca_file,omitempty"`     // PEM roots; default the system pool
	CertFile   string `yaml:"cert_file,omitempty"`   // client certificate (with KeyFile)
	KeyFile    string `yaml:"key_file,omitempty"`    // client key
	ServerName string `yaml:"server_name,omitempty"` // default the URL's host
}

// Defaults.
const (
	DefaultStateDir   = "/var/lib/firmware-agent"
	DefaultMQTTURL    = "tcp://127.0.0.1:1883"
	DefaultKeepaliveS = 30
)

// Problem is one thing wrong with a config.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Key  string // key path, e.g. devices[2].id
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 {
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in a config; it is the error Load,
// Parse and Validate return.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return fmt.Sprintf("config has %d problem(s):\n  %s", len(ps), strings.Join(lines, "\n  "))
}

// ErrConfig is wrapped by every config error.
var ErrConfig = errors.New("bad agent config")

func (ps Problems) Unwrap() error { return ErrConfig }

// Load reads the config file, applies MQTT_URL from the environment,
// fills defaults and validates it.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c, err := Parse(b, path)
	if err != nil {
		return nil, err
	}
	if u := os.Getenv("MQTT_URL"); u != "" {
		c.MQTT.URL = u
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse decodes YAML strictly (unknown keys are errors) and fills
// defaults. It does not validate; call Validate.
func Parse(b []byte, file string) (*Config, error) {
	c := &Config{file: file, lines: map[string]int{}}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, Problems{{File: file, Msg: err.Error()}}
	}
	collectLines(&root, "", c.lines)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			ps := make(Problems, 0, len(te.Errors))
			for _, e := range te.Errors {
				ps = append(ps, yamlProblem(file, e))
			}
			return nil, ps
		}
		return nil, Problems{{File: file, Msg: err.Error()}}
	}
	c.Defaults()
	return c, nil
}

// yamlProblem turns "line 7: field foo not found in type agent.AgentConfig"
// into a Problem with its line.
func yamlProblem(file, e string) Problem {
	p := Problem{File: file, Msg: e}
	if rest, ok := strings.CutPrefix(e, "line "); ok {
		if n, msg, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				p.Line, p.Msg = l, msg
			}
		}
	}
	return p
}

func collectLines(n *yaml.Node, path string, out map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			collectLines(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			p := k
			if path != "" {
				p = path + "." + k
			}
			out[p] = n.Content[i].Line
			collectLines(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = c.Line
			collectLines(c, p, out)
		}
	}
}

// Defaults fills unset optional fields.
func (c *Config) Defaults() {
	if c.Agent.StateDir == "" {
		c.Agent.StateDir = DefaultStateDir
	}
	if c.MQTT.URL == "" {
		c.MQTT.URL = DefaultMQTTURL
	}
	if c.MQTT.KeepaliveS == 0 {
		c.MQTT.KeepaliveS = DefaultKeepaliveS
	}
	if c.MQTT.Username == "" && c.MQTT.PasswordFile != "" {
		c.MQTT.Username = c.Agent.ID
	}
}

func (c *Config) problem(key, format string, args ...any) Problem {
	line := c.lines[key]
	for k := key; line == 0 && k != ""; {
		// Fall back to the nearest enclosing key that has a line.
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
		line = c.lines[k]
	}
	return Problem{File: c.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Validate returns every structural problem (as Problems), or nil. Whether
// each device kind is compiled in is checked by CheckKinds.
func (c *Config) Validate() error {
	var ps Problems
	if c.lines == nil {
		c.lines = map[string]int{}
	}
	if c.Agent.ID == "" {
		ps = append(ps, c.problem("agent.id", "is required"))
	} else if !wire.ValidID(c.Agent.ID) {
		ps = append(ps, c.problem("agent.id", "%q must match [a-z0-9][a-z0-9_-]{0,63} (it is an MQTT topic level)", c.Agent.ID))
	}
	if c.Agent.Hall == "" {
		ps = append(ps, c.problem("agent.hall", "is required"))
	} else if !wire.ValidID(c.Agent.Hall) {
		ps = append(ps, c.problem("agent.hall", "%q must match [a-z0-9][a-z0-9_-]{0,63}", c.Agent.Hall))
	}
	if c.Agent.StateDir == "" {
		ps = append(ps, c.problem("agent.state_dir", "is required"))
	}
	urls := mqtturl.Split(c.MQTT.URL)
	if len(urls) == 0 {
		ps = append(ps, c.problem("mqtt.url", "has no broker URL"))
	}
	for _, s := range urls { // one URL, or the nodes of a cluster separated by commas
		u, err := url.Parse(s)
		switch {
		case err != nil:
			ps = append(ps, c.problem("mqtt.url", "%v", err))
		case u.Host == "":
			ps = append(ps, c.problem("mqtt.url", "%q has no host:port", s))
		default:
			switch u.Scheme {
			case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
			default:
				ps = append(ps, c.problem("mqtt.url", "scheme %q is not tcp, ssl, tls, mqtts, ws or wss", u.Scheme))
			}
		}
	}
	if c.MQTT.Username != "" && c.MQTT.PasswordFile == "" {
		ps = append(ps, c.problem("mqtt.username", "is set without mqtt.password_file"))
	}
	if (c.MQTT.TLS.CertFile == "") != (c.MQTT.TLS.KeyFile == "") {
		ps = append(ps, c.problem("mqtt.tls", "cert_file and key_file go together"))
	}
	if c.MQTT.KeepaliveS < 0 {
		ps = append(ps, c.problem("mqtt.keepalive_s", "must be positive"))
	}
	seen := map[string]int{}
	for i, d := range c.Devices {
		key := fmt.Sprintf("devices[%d]", i)
		switch {
		case d.ID == "":
			ps = append(ps, c.problem(key+".id", "is required"))
		case !wire.ValidID(d.ID):
			ps = append(ps, c.problem(key+".id", "%q must match [a-z0-9][a-z0-9_-]{0,63}", d.ID))
		default:
			if j, dup := seen[d.ID]; dup {
				ps = append(ps, c.problem(key+".id", "%q is also devices[%d]", d.ID, j))
			}
			seen[d.ID] = i
		}
		if d.Kind == "" {
			ps = append(ps, c.problem(key+".kind", "is required"))
		}
		if d.Baud < 0 {
			ps = append(ps, c.problem(key+".baud", "must be positive"))
		}
		if d.Window < 0 {
			ps = append(ps, c.problem(key+".window", "must be positive"))
		}
	}
	for i, d := range c.Devices {
		if d.Printer != "" {
			j, ok := seen[d.Printer]
			if !ok {
				ps = append(ps, c.problem(fmt.Sprintf("devices[%d].printer", i), "%q is not a device of this agent", d.Printer))
			} else if k := c.Devices[j].Kind; k != wire.KindPrinter && !strings.Contains(k, "printer") {
				ps = append(ps, c.problem(fmt.Sprintf("devices[%d].printer", i), "%q is a %s, not a printer", d.Printer, k))
			}
		}
	}
	ps = append(ps, c.chainProblems()...)
	if len(ps) > 0 {
		return ps
	}
	return nil
}

// chainProblems checks devices that share a serial port. Only led-display
// devices may (an RS-485 chain: several screens on one line, told apart by
// address), and then they must speak one protocol at one baud and have
// different addresses. Emulated devices get a port of their own. Ports
// are compared as written: give every device of a chain the same path.
func (c *Config) chainProblems() []Problem {
	var ps []Problem
	first := map[string]int{} // port → the first device on it
	for i, d := range c.Devices {
		if d.Port == "" || d.Emulate {
			continue
		}
		j, shared := first[d.Port]
		if !shared {
			first[d.Port] = i
			continue
		}
		key := fmt.Sprintf("devices[%d]", i)
		o := c.Devices[j]
		if d.Kind != wire.KindLED || o.Kind != wire.KindLED {
			ps = append(ps, c.problem(key+".port", "%q is also devices[%d]'s port; only %s devices share a port (an RS-485 chain)", d.Port, j, wire.KindLED))
			continue
		}
		if p, q := ledProtocol(d), ledProtocol(o); p != q {
			ps = append(ps, c.problem(key+".protocol", "%s differs from devices[%d]'s %s on the same port (one RS-485 chain, one protocol)", p, j, q))
			continue
		}
		if d.Baud != o.Baud {
			ps = append(ps, c.problem(key+".baud", "is %s, devices[%d] on the same port has %s (set the same baud on every screen of the chain, or none)", baudText(d.Baud), j, baudText(o.Baud)))
		}
		// Every earlier screen on the port, for the address.
		for k := j; k < i; k++ {
			e := c.Devices[k]
			if e.Port == d.Port && !e.Emulate && e.Kind == wire.KindLED && ledAddress(e) == ledAddress(d) {
				ps = append(ps, c.problem(key+".address", "%d is also devices[%d]'s on port %q (each screen of a chain needs its own address)", ledAddress(d), k, d.Port))
				break
			}
		}
	}
	return ps
}

// ledProtocol is a led-display's protocol with the driver's default
// (firmware-agent/drivers/led: onbon-bx5k).
func ledProtocol(d device.Config) string {
	if d.Protocol == "" {
		return "onbon-bx5k"
	}
	return d.Protocol
}

// ledAddress is a led-display's bus address as the driver uses it:
// address 0 means 1 for Onbon and Modbus.
func ledAddress(d device.Config) int {
	if d.Address == 0 && (ledProtocol(d) == "onbon-bx5k" || ledProtocol(d) == "modbus-rtu") {
		return 1
	}
	return d.Address
}

func baudText(b int) string {
	if b == 0 {
		return "none"
	}
	return strconv.Itoa(b)
}

// CheckKinds returns Problems for device kinds lookup does not know.
func (c *Config) CheckKinds(lookup func(string) (device.Factory, bool), known []string) error {
	var ps Problems
	for i, d := range c.Devices {
		if d.Kind == "" {
			continue
		}
		if _, ok := lookup(d.Kind); !ok {
			ks := append([]string(nil), known...)
			sort.Strings(ks)
			ps = append(ps, c.problem(fmt.Sprintf("devices[%d].kind", i), "unknown kind %q (this build knows: %s)", d.Kind, strings.Join(ks, ", ")))
		}
	}
	if len(ps) > 0 {
		return ps
	}
	return nil
}
