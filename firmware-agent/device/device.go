// Package device is what the agent core needs from a device driver: the
// per-device config, the environment a driver gets (logger, clock, event and
// status sinks, pin and port openers), the optional command and display
// interfaces, and the registry that maps config kinds to drivers.
//
// Driver packages register themselves in init() (Caddy-style) and are linked
// in by a blank import of firmware-agent/drivers/all. The agent core never
// imports a driver directly, so real drivers slot in without touching it.
package device

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"

	"github.com/jonboulle/clockwork"
	"gopkg.in/yaml.v3"
	"periph.io/x/conn/v3/gpio"

	"github.com/servicehall/servicehall/wire"
)

// Config is one entry of the agent config's devices list. Keys common to
// several kinds are fields; anything a single driver needs goes in Options,
// which the driver decodes strictly with DecodeOptions.
type Config struct {
	// ID names the device in MQTT topics: [a-z0-9][a-z0-9_-]{0,63},
	// unique on the agent. Required.
	ID string `yaml:"id"`
	// Kind selects the driver (the kinds below). Required.
	Kind     string            `yaml:"kind"`
	Port     string            `yaml:"port,omitempty"`     // serial device path (/dev/serial/by-id/...)
	Baud     int               `yaml:"baud,omitempty"`     // serial rate; 0 = driver default
	Pin      string            `yaml:"pin,omitempty"`      // one GPIO line name (ticket button)
	Pins     map[string]string `yaml:"pins,omitempty"`     // several GPIO lines (rating pad: level → line)
	Item     string            `yaml:"item,omitempty"`     // item code a ticket button issues
	Printer  string            `yaml:"printer,omitempty"`  // printer device id a button prints on
	Window   int               `yaml:"window,omitempty"`   // window number (LED, rating pad, keypad)
	Zone     string            `yaml:"zone,omitempty"`     // announcement / display zone (speaker)
	Protocol string            `yaml:"protocol,omitempty"` // LED protocol: onbon-bx5k, generic, modbus-rtu
	Address  int               `yaml:"address,omitempty"`  // bus address (LED controller, Modbus unit)
	// Emulate runs the device's protocol emulator on a pseudo-terminal (or
	// fake pins) inside the agent and drives it with the real driver. For
	// the demo hall and for trying a config without hardware.
	Emulate bool `yaml:"emulate,omitempty"`
	// Options are driver-specific (printer model and width, keypad key map,
	// LED profile, voice command, …); see each driver's Options type.
	Options yaml.Node `yaml:"options,omitempty"`
}

// DecodeOptions decodes c.Options into v, refusing unknown keys. v should
// already hold the defaults.
func (c Config) DecodeOptions(v any) error {
	if c.Options.Kind == 0 {
		return nil
	}
	// yaml.v3 has no KnownFields on Node.Decode; re-encode and decode strictly.
	b, err := yaml.Marshal(&c.Options)
	if err != nil {
		return fmt.Errorf("device %s: options: %w", c.ID, err)
	}
	dec := yaml.NewDecoder(bytesReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("device %s: options: %w", c.ID, err)
	}
	return nil
}

// Info returns the attributes the controller acts on, for the birth message.
func (c Config) Info() wire.DeviceInfo {
	return wire.DeviceInfo{ID: c.ID, Kind: c.Kind, Window: c.Window, Zone: c.Zone, Item: c.Item, Printer: c.Printer}
}

// Events is where a driver sends device events. Emit must not block for
// long: the agent writes the event to its durable outbox and returns.
type Events interface {
	Emit(ctx context.Context, typ string, data any) error
}

// Status is where a driver reports its health (dev/<d>/status, retained).
type Status interface {
	SetStatus(s wire.DevStatusMsg)
}

// Port is an open serial line.
type Port = io.ReadWriteCloser

// PortOpener opens a serial port; the agent's default locks the port so two
// drivers never share it (serialport.Open).
type PortOpener func(ctx context.Context, path string, baud int) (Port, error)

// PinOpener finds a GPIO input by name; nil, ErrUnavailable when absent.
type PinOpener func(name string) (gpio.PinIO, error)

// Env is what the agent gives a driver.
type Env struct {
	Log      *slog.Logger
	Clock    clockwork.Clock
	Events   Events
	Status   Status
	OpenPort PortOpener
	OpenPin  PinOpener
	// StateDir is a directory the driver may keep files in (per device).
	StateDir string
	// Hall and Agent identify where the device is (for QR links, hashes).
	Hall, Agent string
	// Secret is the hall secret for keyed hashes (ID reader), may be empty.
	Secret []byte
	// Ctl says whether the controller is reachable now; nil = always
	// (drivers then never act offline).
	Ctl Controller
	// KV is the device's durable state in the agent's store (leases);
	// nil when the driver runs without an agent.
	KV KV
	// Peers runs commands on the agent's other devices (a button printing
	// on its printer while offline); may be nil.
	Peers Peers
}

// Controller tells a driver whether the controller can be reached: the
// agent is connected to the broker and the controller's ctl/status is
// online. Events emitted while it is not wait in the agent's outbox.
type Controller interface {
	Reachable() bool
}

// KV is a device's own durable key-value state: Put is committed before
// it returns (it survives a power cut).
type KV interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Put(ctx context.Context, key string, val []byte) error
}

// Peers runs a command on another device of the same agent, in that
// device's command order, as if it had come from the controller (without
// an id or ack). dev "" means the agent's first printer.
type Peers interface {
	Run(ctx context.Context, dev, name string, args any) Result
}

// Device is a running device driver.
type Device interface {
	// Run drives the device until ctx is done. It returns nil on ctx end;
	// an error means the device stopped for good (the agent reports it).
	// Transient faults (unplug, paper out) are reported through Env.Status
	// and retried inside Run with backoff.
	Run(ctx context.Context) error
}

// Result is the outcome of a command, sent back as the ack.
type Result struct {
	Status string // wire.AckDone, AckRejected, AckFailed
	Code   string // stable code, e.g. "paper_out"
	Err    string // human detail
}

// Done is the successful Result.
var Done = Result{Status: wire.AckDone}

// Failed builds a failed Result with a stable code.
func Failed(code string, err error) Result {
	r := Result{Status: wire.AckFailed, Code: code}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// Rejected builds a rejected Result (bad args, unsupported command).
func Rejected(code string, err error) Result {
	r := Result{Status: wire.AckRejected, Code: code}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// Commander is implemented by devices that take commands (printer: print;
// speaker: speak; rating pad: rating-open/-close; button: lease).
// Handle returns when the outcome is known: a print is Done only when the
// printer confirms. The agent has already checked expiry and duplicates.
type Commander interface {
	Handle(ctx context.Context, name string, args []byte) Result
}

// Displayer is implemented by devices with a desired/reported document.
// Apply is called with documents in rising version order; older versions
// are dropped by the agent before they reach the driver.
type Displayer interface {
	Apply(ctx context.Context, doc wire.DesiredMsg) error
}

// Capper may list capabilities for the birth message (e.g. "qr", "cut").
type Capper interface {
	Caps() []string
}

// ErrUnavailable marks a device that cannot start on this machine (no such
// pin, port missing): the agent reports it as skipped and runs the others.
var ErrUnavailable = errors.New("device unavailable")

// Factory provisions and validates a driver from its config. It should not
// block or do I/O beyond checks; Run does the work.
type Factory func(cfg Config, env Env) (Device, error)

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes a driver available for a config kind; it panics on a
// duplicate kind (a programming error caught at start).
func Register(kind string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("device: kind registered twice: " + kind)
	}
	registry[kind] = f
}

// Lookup returns the factory for a kind.
func Lookup(kind string) (Factory, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := registry[kind]
	return f, ok
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
