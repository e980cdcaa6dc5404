package agent_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/firmware-agent/agent"
)

// Several led-display devices on one port with different addresses are
// one RS-485 chain; what cannot share a line is a problem with its key
// path and line.
func TestConfigChains(t *testing.T) {
	const head = "agent: {id: a, hall: h}\ndevices:\n"
	const port = "/dev/serial/by-id/usb-FTDI-rs485-if00-port0"
	ok := head + `
  - {id: led-1, kind: led-display, protocol: onbon-bx5k, port: ` + port + `, address: 1, window: 1}
  - {id: led-2, kind: led-display, protocol: onbon-bx5k, port: ` + port + `, address: 2, window: 2}
  - {id: led-3, kind: led-display, port: ` + port + `, address: 3, window: 3}
  - {id: led-4, kind: led-display, emulate: true, port: ` + port + `, address: 1}
  - {id: mb-1, kind: led-display, protocol: modbus-rtu, port: /dev/ttyUSB4, baud: 9600, address: 1}
  - {id: mb-2, kind: led-display, protocol: modbus-rtu, port: /dev/ttyUSB4, baud: 9600, address: 2}
`
	c, err := agent.Parse([]byte(ok), "chain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("a valid chain: %v", err)
	}

	for _, tc := range []struct {
		name, devices string
		want          []string
	}{
		{"same address", `
  - {id: led-1, kind: led-display, port: /dev/ttyUSB2, address: 1}
  - {id: led-2, kind: led-display, port: /dev/ttyUSB2, address: 2}
  - {id: led-3, kind: led-display, port: /dev/ttyUSB2}
`, []string{`chain.yaml:5: devices[2].address: 1 is also devices[0]'s on port "/dev/ttyUSB2"`}},
		{"baud", `
  - {id: led-1, kind: led-display, port: /dev/ttyUSB2, address: 1, baud: 57600}
  - {id: led-2, kind: led-display, port: /dev/ttyUSB2, address: 2, baud: 9600}
  - {id: led-3, kind: led-display, port: /dev/ttyUSB2, address: 3}
`, []string{
			`chain.yaml:4: devices[1].baud: is 9600, devices[0] on the same port has 57600`,
			`chain.yaml:5: devices[2].baud: is none, devices[0] on the same port has 57600`,
		}},
		{"protocol", `
  - {id: led-1, kind: led-display, port: /dev/ttyUSB2, address: 1}
  - {id: led-2, kind: led-display, protocol: modbus-rtu, port: /dev/ttyUSB2, address: 2}
`, []string{`chain.yaml:4: devices[1].protocol: modbus-rtu differs from devices[0]'s onbon-bx5k`}},
		{"not a screen", `
  - {id: printer-1, kind: escpos-printer, port: /dev/ttyUSB2}
  - {id: led-2, kind: led-display, port: /dev/ttyUSB2, address: 2}
`, []string{`chain.yaml:4: devices[1].port: "/dev/ttyUSB2" is also devices[0]'s port; only led-display devices share`}},
	} {
		c, err := agent.Parse([]byte(head+strings.TrimPrefix(tc.devices, "\n")), "chain.yaml")
		if err != nil {
			t.Fatal(err)
		}
		err = c.Validate()
		var ps agent.Problems
		if !errors.As(err, &ps) || !errors.Is(err, agent.ErrConfig) || len(ps) != len(tc.want) {
			t.Errorf("%s: Validate = %v, want %d problem(s)", tc.name, err, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if got := ps[i].String(); !strings.HasPrefix(got, w) {
				t.Errorf("%s: problem %d = %q, want prefix %q", tc.name, i, got, w)
			}
		}
	}
}
