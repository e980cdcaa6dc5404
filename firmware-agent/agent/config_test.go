package agent_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/device/devicetest"
)

const designExample = `
agent: {id: kiosk-1, hall: sz-civic, state_dir: /var/lib/firmware-agent}
mqtt: {url: "tcp://127.0.0.1:1883", username: kiosk-1, password_file: /etc/firmware-agent/secret}
devices:
  - {id: printer-1, kind: escpos-printer, port: /dev/ttyUSB0, baud: 9600}
  - {id: reader-1,  kind: idcard-reader,  port: /dev/ttyUSB1, baud: 115200}
  - {id: btn-1,     kind: ticket-button,  pin: GPIO17, item: HR-001, printer: printer-1}
  - {id: led-8,     kind: led-display,    protocol: onbon-bx5k, port: /dev/ttyUSB2, address: 1, window: 8}
  - {id: pad-8,     kind: rating-pad,     pins: {"5": GPIO5, "4": GPIO6, "3": GPIO13, "2": GPIO19, "1": GPIO26}, window: 8}
  - {id: caller-8,  kind: caller-keypad,  port: /dev/ttyUSB3, window: 8}
  - {id: scan-1,    kind: qr-scanner,     port: /dev/ttyACM0, baud: 9600}
  - {id: spk-east,  kind: speaker,        zone: east}
`

func TestConfigDesignExample(t *testing.T) {
	c, err := agent.Parse([]byte(designExample), "agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Devices) != 8 || c.Devices[4].Pins["3"] != "GPIO13" || c.MQTT.KeepaliveS != agent.DefaultKeepaliveS {
		t.Fatalf("parsed %+v", c)
	}
	// Kinds this build does not know are listed, each with its line.
	err = c.CheckKinds(devicetest.NewSet().Lookup, []string{"fake-printer"})
	var ps agent.Problems
	if !errors.As(err, &ps) || len(ps) != 8 || ps[0].Line != 5 || !strings.Contains(ps[0].String(), `unknown kind "escpos-printer"`) {
		t.Fatalf("CheckKinds = %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := agent.Parse([]byte("agent: {id: a, hall: h}\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Agent.StateDir != agent.DefaultStateDir || c.MQTT.URL != agent.DefaultMQTTURL || c.MQTT.Username != "" {
		t.Fatalf("defaults %+v", c)
	}
}

func TestConfigProblemsListed(t *testing.T) {
	y := `agent: {id: Kiosk 1, hall: ""}
mqtt: {url: "http://x:1", username: u, tls: {cert_file: c}}
devices:
  - {id: p1, kind: fake-printer}
  - {id: p1, kind: ""}
  - {id: b1, kind: fake-button, printer: nope}
  - {id: b2, kind: fake-button, printer: b1}
`
	c, err := agent.Parse([]byte(y), "bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	var ps agent.Problems
	if !errors.As(err, &ps) || !errors.Is(err, agent.ErrConfig) {
		t.Fatalf("Validate = %v", err)
	}
	want := []string{
		`bad.yaml:1: agent.id: "Kiosk 1" must match`,
		`bad.yaml:1: agent.hall: is required`,
		`bad.yaml:2: mqtt.url: scheme "http"`,
		`bad.yaml:2: mqtt.username: is set without mqtt.password_file`,
		`bad.yaml:2: mqtt.tls: cert_file and key_file go together`,
		`bad.yaml:5: devices[1].id: "p1" is also devices[0]`,
		`bad.yaml:5: devices[1].kind: is required`,
		`bad.yaml:6: devices[2].printer: "nope" is not a device of this agent`,
		`bad.yaml:7: devices[3].printer: "b1" is a fake-button, not a printer`,
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(ps[i].String(), w) {
			t.Errorf("problem %d = %q, want prefix %q", i, ps[i], w)
		}
	}
}

func TestConfigUnknownKeys(t *testing.T) {
	y := "agent: {id: a, hall: h, colour: red}\ndevices:\n  - {id: p, kind: k, baud: fast}\n"
	_, err := agent.Parse([]byte(y), "u.yaml")
	var ps agent.Problems
	if !errors.As(err, &ps) || len(ps) != 2 || ps[0].Line != 1 || !strings.Contains(ps[0].Msg, "colour") || ps[1].Line != 3 {
		t.Fatalf("Parse = %v", err)
	}
}

func TestConfigOptionsStayRaw(t *testing.T) {
	y := "agent: {id: a, hall: h}\ndevices:\n  - {id: p, kind: k, options: {width_mm: 80}}\n"
	c, err := agent.Parse([]byte(y), "o.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		WidthMM int `yaml:"width_mm"`
	}
	if err := c.Devices[0].DecodeOptions(&o); err != nil || o.WidthMM != 80 {
		t.Fatalf("options %+v %v", o, err)
	}
	var _ device.Config = c.Devices[0]
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(designExample))
	f.Add([]byte("agent: {id: a, hall: h}\n"))
	f.Add([]byte("devices: [{id: x, pins: {a: b}, options: {k: [1, 2]}}]\n"))
	f.Add([]byte("agent: &a {id: *a}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := agent.Parse(b, "f.yaml")
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		err = c.Validate()
		var ps agent.Problems
		if err != nil && (!errors.As(err, &ps) || len(ps) == 0) {
			t.Fatalf("Validate returned %T %v", err, err)
		}
	})
}
