package sam

import (
	"errors"
	"fmt"
)

// Status is SW3, the module's own status byte (DEVICES.md §2.3).
type Status byte

// SW3 codes.
const (
	StatusOK           Status = 0x90
	StatusFound        Status = 0x9F // find card OK; data = 4 bytes
	StatusHostChecksum Status = 0x10
	StatusHostLength   Status = 0x11
	StatusCommand      Status = 0x21
	StatusUnknown      Status = 0x24
	StatusCardAuth     Status = 0x31 // card → reader authentication failed
	StatusReaderAuth   Status = 0x32 // reader → card authentication failed
	StatusVerify       Status = 0x33
	StatusWrongCard    Status = 0x40
	StatusReadFailed   Status = 0x41
	StatusRandom       Status = 0x47
	StatusSelfTest     Status = 0x60 // accepts no commands
	StatusUnauthorized Status = 0x66
	StatusNoCard       Status = 0x80 // find card failed
	StatusSelectFailed Status = 0x81
	StatusNoContent    Status = 0x91 // no such item on the card (unverified)
)

var statusText = map[Status]struct{ code, text string }{
	StatusOK:           {"ok", "success"},
	StatusFound:        {"found", "card found"},
	StatusHostChecksum: {"host_checksum", "host frame checksum error"},
	StatusHostLength:   {"host_length", "host frame length error"},
	StatusCommand:      {"bad_command", "command error"},
	StatusUnknown:      {"unknown_error", "unrecognized error"},
	StatusCardAuth:     {"card_auth", "card to reader authentication failed"},
	StatusReaderAuth:   {"reader_auth", "reader to card authentication failed"},
	StatusVerify:       {"verify", "information verification error"},
	StatusWrongCard:    {"wrong_card", "wrong card"},
	StatusReadFailed:   {"read_failed", "card read failed"},
	StatusRandom:       {"random_failed", "get-random failed"},
	StatusSelfTest:     {"self_test", "self-test failed"},
	StatusUnauthorized: {"unauthorized", "reader not authorized"},
	StatusNoCard:       {"no_card", "find card failed"},
	StatusSelectFailed: {"select_failed", "select card failed"},
	StatusNoContent:    {"no_content", "no content for this item"},
}

// Code is a stable string code ("no_card", "read_failed", "sw3_xx").
func (s Status) Code() string {
	if t, ok := statusText[s]; ok {
		return t.code
	}
	return fmt.Sprintf("sw3_%02x", byte(s))
}

// String is "80 find card failed".
func (s Status) String() string {
	if t, ok := statusText[s]; ok {
		return fmt.Sprintf("%02X %s", byte(s), t.text)
	}
	return fmt.Sprintf("%02X unknown status", byte(s))
}

// OK reports a success code (90 or 9F).
func (s Status) OK() bool { return s == StatusOK || s == StatusFound }

// Classes a StatusError matches with errors.Is.
var (
	// ErrNoCard: no card in the field (80).
	ErrNoCard = errors.New("sam: no card")
	// ErrCard: the card could not be selected, authenticated or read; a
	// retry with the card re-presented may work.
	ErrCard = errors.New("sam: card error")
	// ErrReader: the module or the link is at fault (checksum, length,
	// command, self-test, authorization, unknown codes).
	ErrReader = errors.New("sam: reader fault")
)

// class returns the class sentinel of a non-success code.
func (s Status) class() error {
	switch s {
	case StatusNoCard:
		return ErrNoCard
	case StatusCardAuth, StatusReaderAuth, StatusVerify, StatusWrongCard, StatusReadFailed, StatusSelectFailed, StatusNoContent:
		return ErrCard
	}
	return ErrReader
}

// Err is nil for success codes, a *StatusError otherwise.
func (s Status) Err() error {
	if s.OK() {
		return nil
	}
	return &StatusError{SW3: s}
}

// StatusError is a non-success SW3.
type StatusError struct{ SW3 Status }

func (e *StatusError) Error() string { return "sam: status " + e.SW3.String() }

// Is matches ErrNoCard, ErrCard or ErrReader by the code's class.
func (e *StatusError) Is(target error) bool { return target == e.SW3.class() }
