// Package checksum holds the frame checks LED display controllers use:
// 8-bit sum and XOR, and the CRC-16 variants CRC-16/ARC (Onbon BX-5K/6K),
// CRC-16/MODBUS (Modbus RTU) and CRC-16/XMODEM. Kinds are named by the
// strings display profiles use ("crc16-arc", "sum8", …).
package checksum

import (
	"errors"
	"fmt"
	"strings"
)

// Kind names a checksum algorithm.
type Kind string

// The supported kinds. Underscores are accepted as well as dashes when
// parsing ("crc16_modbus" = "crc16-modbus").
const (
	None        Kind = "none"
	Sum8        Kind = "sum8"         // low byte of the byte sum
	XOR8        Kind = "xor8"         // XOR of all bytes
	CRC16ARC    Kind = "crc16-arc"    // reflected 0x8005 (0xA001), init 0, check("123456789") = 0xBB3D
	CRC16Modbus Kind = "crc16-modbus" // reflected 0x8005, init 0xFFFF, check = 0x4B37
	CRC16XModem Kind = "crc16-xmodem" // 0x1021 MSB-first, init 0, check = 0x31C3
)

// ErrUnknownKind is returned by Parse for a name not listed above.
var ErrUnknownKind = errors.New("unknown checksum kind")

// Parse maps a profile's checksum name to a Kind; "" means None.
func Parse(s string) (Kind, error) {
	k := Kind(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-"))
	switch k {
	case "":
		return None, nil
	case None, Sum8, XOR8, CRC16ARC, CRC16Modbus, CRC16XModem:
		return k, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownKind, s)
}

// Width is the number of bytes the checksum takes on the wire.
func (k Kind) Width() int {
	switch k {
	case Sum8, XOR8:
		return 1
	case CRC16ARC, CRC16Modbus, CRC16XModem:
		return 2
	}
	return 0
}

// Compute returns the checksum of b (0 for None or an unknown kind).
func (k Kind) Compute(b []byte) uint16 {
	switch k {
	case Sum8:
		return uint16(Sum(b))
	case XOR8:
		return uint16(XOR(b))
	case CRC16ARC:
		return ARC(b)
	case CRC16Modbus:
		return Modbus(b)
	case CRC16XModem:
		return XModem(b)
	}
	return 0
}

// Sum is the 8-bit sum of b.
func Sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// XOR is the XOR of all bytes of b.
func XOR(b []byte) byte {
	var x byte
	for _, c := range b {
		x ^= c
	}
	return x
}

var tableA001 = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

func reflected(crc uint16, b []byte) uint16 {
	for _, c := range b {
		crc = crc>>8 ^ tableA001[byte(crc)^c]
	}
	return crc
}

// ARC is CRC-16/ARC (also "CRC-16/IBM"), the Onbon BX-5K/6K frame check.
// Onbon sends it little-endian.
func ARC(b []byte) uint16 { return reflected(0, b) }

// Modbus is CRC-16/MODBUS; Modbus RTU sends it low byte first.
func Modbus(b []byte) uint16 { return reflected(0xFFFF, b) }

// XModem is CRC-16/XMODEM (poly 0x1021, MSB first, init 0).
func XModem(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
