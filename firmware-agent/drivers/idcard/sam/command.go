package sam

import "fmt"

// Command is a host → SAM request: CMD, Para, optional data.
type Command struct {
	Cmd, Para byte
	Data      []byte
}

// The commands of DEVICES.md §2.2.
var (
	CmdReset       = Command{Cmd: 0x10, Para: 0xFF}
	CmdStatus      = Command{Cmd: 0x11, Para: 0xFF}
	CmdSAMID       = Command{Cmd: 0x12, Para: 0xFF}
	CmdFind        = Command{Cmd: 0x20, Para: 0x01}
	CmdSelect      = Command{Cmd: 0x20, Para: 0x02}
	CmdRead        = Command{Cmd: 0x30, Para: 0x01}
	CmdReadFP      = Command{Cmd: 0x30, Para: 0x10}
	CmdReadAddress = Command{Cmd: 0x30, Para: 0x03}
)

// Encode returns the full frame.
func (c Command) Encode() []byte {
	p := make([]byte, 0, 2+len(c.Data))
	p = append(p, c.Cmd, c.Para)
	return Frame(append(p, c.Data...))
}

// Is reports whether c has the same CMD and Para as o.
func (c Command) Is(o Command) bool { return c.Cmd == o.Cmd && c.Para == o.Para }

// String names the command for logs.
func (c Command) String() string {
	switch {
	case c.Is(CmdReset):
		return "reset"
	case c.Is(CmdStatus):
		return "status"
	case c.Is(CmdSAMID):
		return "sam-id"
	case c.Is(CmdFind):
		return "find"
	case c.Is(CmdSelect):
		return "select"
	case c.Is(CmdRead):
		return "read"
	case c.Is(CmdReadFP):
		return "read-fp"
	case c.Is(CmdReadAddress):
		return "read-address"
	}
	return fmt.Sprintf("cmd-%02x%02x", c.Cmd, c.Para)
}

// ParseCommand decodes a command frame's payload (from Split or Decoder).
func ParseCommand(p []byte) (Command, error) {
	if len(p) < 2 {
		return Command{}, fmt.Errorf("%w: command of %d bytes", ErrPayload, len(p))
	}
	c := Command{Cmd: p[0], Para: p[1]}
	if len(p) > 2 {
		c.Data = append([]byte(nil), p[2:]...)
	}
	return c, nil
}

// Reply is a SAM → host response.
type Reply struct {
	SW1, SW2 byte
	SW3      Status
	Data     []byte
}

// Encode returns the full frame.
func (r Reply) Encode() []byte {
	p := make([]byte, 0, 3+len(r.Data))
	p = append(p, r.SW1, r.SW2, byte(r.SW3))
	return Frame(append(p, r.Data...))
}

// ParseReply decodes a reply frame's payload (from Split or Decoder).
func ParseReply(p []byte) (Reply, error) {
	if len(p) < 3 {
		return Reply{}, fmt.Errorf("%w: reply of %d bytes", ErrPayload, len(p))
	}
	r := Reply{SW1: p[0], SW2: p[1], SW3: Status(p[2])}
	if len(p) > 3 {
		r.Data = append([]byte(nil), p[3:]...)
	}
	return r, nil
}

// Err is nil when SW3 is a success code (90 or 9F), a *StatusError otherwise.
func (r Reply) Err() error { return r.SW3.Err() }
