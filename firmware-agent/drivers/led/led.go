// Package led drives LED window displays (kind led-display): Onbon
// BX-5K/6K controllers (A3 06 dynamic areas), Modbus RTU text displays
// and vendor screens described by a framer profile. It applies the
// display's desired documents (lines such as "A012" / "请到8号窗口"),
// laid out for the panel by displays/layout, waits for the controller's
// ACK, and reports health on the device status topic. With emulate: true
// it runs ledemu on a pseudo-terminal and drives that instead (and, with
// a state directory, writes what the emulated panel shows to
// led-screen.json there, for black-box tests).
//
// Several devices with the same port and different addresses are an
// RS-485 chain: they share one line (line.go), which owns the port and
// puts one frame on the wire at a time; each screen keeps its own
// documents, retries and status. See docs/devices.md "RS-485 chains".
//
// Apply errors are *Error values with a stable Code ("offline",
// "timeout", "too_long", "io", "canceled", or the Onbon controller's
// CmdError code such as "busy"), for reported.code. The desired
// document's blink_s is not supported by the A3 06 command and is ignored.
//
// Config:
//
//   - id: led-8
//     kind: led-display
//     protocol: onbon-bx5k      # onbon-bx5k (default) | modbus-rtu | generic
//     port: /dev/ttyUSB2
//     baud: 57600               # default: 57600 Onbon, 9600 otherwise
//     address: 1                # bus address; 0 = 1 for Onbon and Modbus; screens sharing a port need their own
//     window: 8
//     options:
//     panel: 128x32           # default 64x16
//     reply_timeout: 500ms    # default: the profile's, else 500ms
//     retries: 1              # resends after a timeout
//     probe_interval: 30s     # check the controller (Onbon ping); 0s = off
//     profile_file: /etc/firmware-agent/screen.yaml   # generic: a framer profile
//     profile: {…}            # or the profile inline (framer.Profile keys)
package led

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/displays/framer"
	"github.com/servicehall/servicehall/displays/layout"
	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/led/ledemu"
	"github.com/servicehall/servicehall/wire"
)

func init() { device.Register(wire.KindLED, New) }
func init() { device.RegisterOptions(wire.KindLED, DefaultOptions()) }

// Protocol names for the config's protocol key.
const (
	ProtocolOnbon   = ledemu.Onbon
	ProtocolGeneric = ledemu.Generic
	ProtocolModbus  = ledemu.Modbus
)

// Options are the driver's keys under options:.
type Options struct {
	Panel        string          `yaml:"panel" doc:"the panel's size in pixels, WIDTHxHEIGHT (16 px characters: 64x16 is 4 characters on 1 line)"`
	ReplyTimeout string          `yaml:"reply_timeout" default:"500ms (onbon-bx5k), the profile's (generic, modbus-rtu)" doc:"how long to wait for the controller's ACK, a duration up to 1m"`
	Retries      int             `yaml:"retries" doc:"resends of a frame that got no ACK, 0–10"`
	ProbeEvery   string          `yaml:"probe_interval" doc:"how often a connected controller is checked, a duration; 0 = never, else at least 1s"`
	ProfileFile  string          `yaml:"profile_file" doc:"a framer profile in a YAML file of its own (generic and modbus-rtu only; not with profile)"`
	Profile      *framer.Profile `yaml:"profile" doc:"a framer profile inline: the frame layout of a controller speaking neither Onbon nor the built-in Modbus text profile (displays/framer; generic needs it or profile_file)"`
}

// DefaultOptions are used for keys the config leaves out.
func DefaultOptions() Options {
	return Options{Panel: "64x16", Retries: 1, ProbeEvery: "30s"}
}

// Stable error codes (reported.code and status code).
const (
	CodeOffline  = "offline"   // no port open (unplugged, missing)
	CodeTimeout  = "timeout"   // no ACK in time
	CodeNak      = "nak"       // the controller refused (Onbon: its CmdError code instead)
	CodeTooLong  = "too_long"  // the text does not fit a frame
	CodeIO       = "io"        // write failed
	CodeCanceled = "canceled"  // the agent gave up (shutdown)
	CodeNoReply  = "no_reply"  // status code while the controller is silent
	CodePortGone = "port_gone" // status code while the port cannot be opened
)

// Sentinel errors; Apply's errors wrap one of them in an *Error.
var (
	ErrOffline = errors.New("led: display offline")
	ErrTimeout = errors.New("led: no reply from the controller")
	ErrNak     = errors.New("led: controller refused")
	ErrConfig  = errors.New("led: bad config")
)

// Error is what Apply returns: a stable Code for reported.code and the
// cause.
type Error struct {
	Code string
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the stable code.
func (e *Error) ErrorCode() string { return e.Code }

// Code returns the stable code of an Apply error ("" for nil, "error" for
// an error that is not an *Error).
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "error"
}

type settings struct {
	protocol string
	addr     int
	baud     int
	panel    layout.Panel
	timeout  time.Duration
	retries  int
	// probeEvery is how often a connected controller is checked (0 = never).
	probeEvery time.Duration
	framer     *framer.Framer // generic and modbus
}

func parseConfig(cfg device.Config) (settings, error) {
	o := DefaultOptions()
	var errs []string
	if err := cfg.DecodeOptions(&o); err != nil {
		return settings{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	s := settings{protocol: cfg.Protocol, addr: cfg.Address, baud: cfg.Baud, retries: o.Retries}
	if s.protocol == "" {
		s.protocol = ProtocolOnbon
	}
	var err error
	if s.panel, err = layout.ParsePanel(o.Panel); err != nil {
		errs = append(errs, "options.panel: "+err.Error())
	}
	if o.Retries < 0 || o.Retries > 10 {
		errs = append(errs, fmt.Sprintf("options.retries: %d (0..10)", o.Retries))
	}
	if cfg.Port == "" && !cfg.Emulate {
		errs = append(errs, "port: required (or emulate: true)")
	}
	if cfg.Address < 0 {
		errs = append(errs, fmt.Sprintf("address: %d is negative", cfg.Address))
	}
	var prof *framer.Profile
	switch s.protocol {
	case ProtocolOnbon:
		if s.addr == 0 {
			s.addr = 1
		}
		if s.addr > 0xFFFF {
			errs = append(errs, fmt.Sprintf("address: %d does not fit 16 bits", s.addr))
		}
		if s.baud == 0 {
			s.baud = 57600
		}
		s.timeout = 500 * time.Millisecond
		if o.Profile != nil || o.ProfileFile != "" {
			errs = append(errs, "options.profile: only for generic and modbus-rtu")
		}
	case ProtocolModbus:
		if s.addr == 0 {
			s.addr = 1
		}
		p := framer.ModbusRTUText
		prof = &p
	case ProtocolGeneric:
		if o.Profile == nil && o.ProfileFile == "" {
			errs = append(errs, "options: generic needs profile or profile_file")
		}
	default:
		errs = append(errs, fmt.Sprintf("protocol: %q (want %s, %s or %s)", cfg.Protocol, ProtocolOnbon, ProtocolModbus, ProtocolGeneric))
	}
	if s.protocol != ProtocolOnbon {
		if s.baud == 0 {
			s.baud = 9600
		}
		switch {
		case o.Profile != nil && o.ProfileFile != "":
			errs = append(errs, "options: profile and profile_file are exclusive")
		case o.Profile != nil:
			prof = o.Profile
		case o.ProfileFile != "":
			p, err := LoadProfile(o.ProfileFile)
			if err != nil {
				errs = append(errs, "options.profile_file: "+err.Error())
			}
			prof = &p
		}
		if prof != nil {
			if s.framer, err = framer.Compile(*prof); err != nil {
				errs = append(errs, "options.profile: "+err.Error())
			} else {
				s.timeout = s.framer.Timeout()
			}
		}
	}
	if o.ReplyTimeout != "" {
		d, err := time.ParseDuration(o.ReplyTimeout)
		if err != nil || d <= 0 || d > time.Minute {
			errs = append(errs, fmt.Sprintf("options.reply_timeout: %q (a duration up to 1m)", o.ReplyTimeout))
		}
		s.timeout = d
	}
	if d, err := time.ParseDuration(o.ProbeEvery); err != nil || d < 0 || (d > 0 && d < time.Second) {
		errs = append(errs, fmt.Sprintf("options.probe_interval: %q (0 = off, else at least 1s)", o.ProbeEvery))
	} else {
		s.probeEvery = d
	}
	if len(errs) > 0 {
		return settings{}, fmt.Errorf("%w: device %s: %s", ErrConfig, cfg.ID, strings.Join(errs, "; "))
	}
	return s, nil
}

// LoadProfile reads a framer profile from a YAML file, refusing unknown
// keys.
func LoadProfile(path string) (framer.Profile, error) {
	var p framer.Profile
	f, err := os.Open(path)
	if err != nil {
		return p, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}
