package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// TimeFormat is how ts and exp are written: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Time is a time.Time that marshals as TimeFormat and parses any RFC 3339 time.
type Time struct{ time.Time }

// At wraps t as a wire Time.
func At(t time.Time) Time { return Time{t} }

// MarshalJSON writes the time in UTC with milliseconds; the zero time is "".
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte(`""`), nil
	}
	return []byte(`"` + t.UTC().Format(TimeFormat) + `"`), nil
}

// UnmarshalJSON accepts RFC 3339 with or without fractional seconds, and "".
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time must be a string: %w", err)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time %q is not RFC 3339", s)
	}
	t.Time = v
	return nil
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidUUID reports whether s is a UUID in its canonical text form.
func ValidUUID(s string) bool { return uuidPattern.MatchString(s) }

func checkMsgID(id string) error {
	if id == "" {
		return ErrMissingID
	}
	if !ValidUUID(id) {
		return fmt.Errorf("%w: id %q is not a UUID", ErrInvalid, id)
	}
	return nil
}

// EventMsg is the envelope of a device event (evt/<type>).
type EventMsg struct {
	V       int             `json:"v"`
	ID      string          `json:"id"`
	TS      Time            `json:"ts"`
	Session string          `json:"session"`
	Seq     uint64          `json:"seq"`
	Data    json.RawMessage `json:"data"`
}

// CommandMsg is the envelope of a command to a device (cmd/<name>).
type CommandMsg struct {
	V    int             `json:"v"`
	ID   string          `json:"id"`
	TS   Time            `json:"ts"`
	Exp  Time            `json:"exp"`
	Args json.RawMessage `json:"args"`
}

// Expired reports whether the command must not run at time now.
func (c CommandMsg) Expired(now time.Time) bool { return !c.Exp.IsZero() && !now.Before(c.Exp.Time) }

// Ack statuses.
const (
	AckDone     = "done"
	AckRejected = "rejected"
	AckExpired  = "expired"
	AckFailed   = "failed"
)

// AckMsg is a command's outcome (ack).
type AckMsg struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Code   string `json:"code,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Final reports whether the status ends the command (all statuses do today;
// kept so that a future "accepted" can be added without breaking callers).
func (a AckMsg) Final() bool { return a.Status != "" }

// DeviceInfo describes one device in an agent's birth message, with the
// config attributes the controller acts on.
type DeviceInfo struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Window  int      `json:"window,omitempty"`
	Zone    string   `json:"zone,omitempty"`
	Item    string   `json:"item,omitempty"`
	Printer string   `json:"printer,omitempty"`
	Caps    []string `json:"caps,omitempty"`
	// State is how start-up went: loaded, skipped or failed (extension).
	State string `json:"state,omitempty"`
	// Reason explains skipped or failed (extension).
	Reason string `json:"reason,omitempty"`
}

// InfoMsg is an agent's retained birth message (info).
type InfoMsg struct {
	V       int          `json:"v"`
	Agent   string       `json:"agent"`
	Version string       `json:"version"`
	BootID  string       `json:"boot_id"`
	Session string       `json:"session"`
	Devices []DeviceInfo `json:"devices"`
}

// Device health states.
const (
	StateOnline  = "online"
	StateOffline = "offline"
	StateFault   = "fault"
)

// DevStatusMsg is a device's retained health (dev/<d>/status).
type DevStatusMsg struct {
	State  string `json:"state"`
	Code   string `json:"code,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// DesiredMsg is a display's retained desired document.
type DesiredMsg struct {
	Version uint64   `json:"version"`
	Lines   []string `json:"lines"`
	BlinkS  float64  `json:"blink_s,omitempty"`
}

// ReportedMsg is what a display applied.
type ReportedMsg struct {
	Version uint64 `json:"version"`
	OK      bool   `json:"ok"`
	Code    string `json:"code,omitempty"`
}

// Availability payloads of agent/<a>/status and ctl/status.
const (
	Online  = "online"
	Offline = "offline"
)

// checkSize rejects payloads over MaxPayload and empty ones.
func checkSize(p []byte) error {
	if len(p) > MaxPayload {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(p), MaxPayload)
	}
	if len(bytes.TrimSpace(p)) == 0 {
		return fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	return nil
}

func decodeStrict(p []byte, v any) error {
	if err := checkSize(p); err != nil {
		return err
	}
	if err := json.Unmarshal(p, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

func checkVersion(v int) error {
	if v != Version {
		return fmt.Errorf("%w: v=%d, this side speaks v=%d", ErrVersion, v, Version)
	}
	return nil
}

// DecodeEvent parses and validates an event envelope.
func DecodeEvent(p []byte) (EventMsg, error) {
	var m EventMsg
	if err := decodeStrict(p, &m); err != nil {
		return m, err
	}
	if err := checkVersion(m.V); err != nil {
		return m, err
	}
	if err := checkMsgID(m.ID); err != nil {
		return m, err
	}
	if m.TS.IsZero() {
		return m, fmt.Errorf("%w: ts is missing", ErrInvalid)
	}
	if len(m.Data) == 0 || m.Data[0] != '{' {
		return m, fmt.Errorf("%w: data must be an object", ErrInvalid)
	}
	return m, nil
}

// DecodeCommand parses and validates a command envelope.
func DecodeCommand(p []byte) (CommandMsg, error) {
	var m CommandMsg
	if err := decodeStrict(p, &m); err != nil {
		return m, err
	}
	if err := checkVersion(m.V); err != nil {
		return m, err
	}
	if err := checkMsgID(m.ID); err != nil {
		return m, err
	}
	if len(m.Args) == 0 {
		m.Args = json.RawMessage("{}")
	}
	if m.Args[0] != '{' {
		return m, fmt.Errorf("%w: args must be an object", ErrInvalid)
	}
	return m, nil
}

// DecodeAck parses and validates an acknowledgement.
func DecodeAck(p []byte) (AckMsg, error) {
	var m AckMsg
	if err := decodeStrict(p, &m); err != nil {
		return m, err
	}
	if err := checkMsgID(m.ID); err != nil {
		return m, err
	}
	switch m.Status {
	case AckDone, AckRejected, AckExpired, AckFailed:
	default:
		return m, fmt.Errorf("%w: ack status %q", ErrInvalid, m.Status)
	}
	return m, nil
}

// DecodeInfo parses and validates an agent's birth message.
func DecodeInfo(p []byte) (InfoMsg, error) {
	var m InfoMsg
	if err := decodeStrict(p, &m); err != nil {
		return m, err
	}
	if err := checkVersion(m.V); err != nil {
		return m, err
	}
	if err := CheckID("agent", m.Agent); err != nil {
		return m, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	for i, d := range m.Devices {
		if !ValidID(d.ID) {
			return m, fmt.Errorf("%w: devices[%d].id %q", ErrInvalid, i, d.ID)
		}
		if d.Kind == "" {
			return m, fmt.Errorf("%w: devices[%d].kind is empty", ErrInvalid, i)
		}
	}
	return m, nil
}

// DecodeDevStatus parses and validates a device status.
func DecodeDevStatus(p []byte) (DevStatusMsg, error) {
	var m DevStatusMsg
	if err := decodeStrict(p, &m); err != nil {
		return m, err
	}
	switch m.State {
	case StateOnline, StateOffline, StateFault:
	default:
		return m, fmt.Errorf("%w: device state %q", ErrInvalid, m.State)
	}
	return m, nil
}

// DecodeDesired parses and validates a display's desired document.
func DecodeDesired(p []byte) (DesiredMsg, error) {
	var m DesiredMsg
	if err := decodeStrict(p, &m); err != nil {
		return m, err
	}
	if m.Version == 0 {
		return m, fmt.Errorf("%w: desired.version must be > 0", ErrInvalid)
	}
	return m, nil
}

// DecodeReported parses a display's reported document.
func DecodeReported(p []byte) (ReportedMsg, error) {
	var m ReportedMsg
	err := decodeStrict(p, &m)
	return m, err
}

// DecodeAvailability parses "online" / "offline" (agent and ctl status).
func DecodeAvailability(p []byte) (string, error) {
	s := string(bytes.TrimSpace(p))
	if s != Online && s != Offline {
		if len(s) > 32 {
			s = s[:32]
		}
		return "", fmt.Errorf("%w: availability %q is not online/offline", ErrMalformed, s)
	}
	return s, nil
}

// DecodeArgs decodes a command's args or an event's data strictly into v:
// unknown fields are allowed (extend, never rename) but types must match.
func DecodeArgs(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c, ok := v.(interface{ Check() error }); ok {
		if err := c.Check(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return nil
}

// Marshal encodes v as JSON; the contract's types never fail to encode.
func Marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("wire: marshal %T: %v", v, err))
	}
	return b
}
