// Package scanneremu emulates a QR/barcode scanner in serial output mode on
// a pseudo-terminal: Scan sends a code ended by CRLF; the embedded keypad
// emulator supplies raw sends, garbage and unplug/replug.
package scanneremu

import (
	"github.com/servicehall/servicehall/firmware-agent/drivers/keypad/keypademu"
)

// Emulator is a scanner on a pty behind a stable link.
type Emulator struct {
	*keypademu.Emulator
	// Terminator ends each code; default CRLF.
	Terminator string
}

// New plugs in a scanner whose link is created at link.
func New(link string) (*Emulator, error) {
	e, err := keypademu.New(link)
	if err != nil {
		return nil, err
	}
	return &Emulator{Emulator: e, Terminator: "\r\n"}, nil
}

// Scan sends one code as a scanner does after reading it.
func (e *Emulator) Scan(code string) error {
	return e.Send([]byte(code + e.Terminator))
}
