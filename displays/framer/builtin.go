package framer

import "sort"

// ModbusRTUText is a Modbus RTU text display driven with "write multiple
// registers" (function 10). Modbus is an open standard, but the register
// map of a text display is the vendor's; this profile assumes the common
// layout: row n starts at holding register n*32 (so a row holds at most 64
// bytes), text in GB2312 two bytes per register, high byte first, padded
// with 00. The reply echoes address, function, start register and register
// count; an exception reply has function 90. Frames carry CRC-16/MODBUS,
// low byte first.
//
//	01 10 00 00 00 02 04 41 30 31 32 <crc lo> <crc hi>   = "A012" on row 1
var ModbusRTUText = Profile{
	Name:    "modbus-rtu",
	Command: "10",
	Frame:   "{addr} {cmd} {row} {len:regs} {len:bytes} {payload} {sum}",
	Address: IntField{Width: 1},
	Row:     RowField{IntField: IntField{Width: 2}, Stride: 32},
	Lengths: []LengthField{
		{Name: "regs", IntField: IntField{Width: 2}, From: "payload", Unit: 2},
		{Name: "bytes", IntField: IntField{Width: 1}, From: "payload"},
	},
	Payload:  PayloadSpec{Encoding: "gb2312", PadTo: 2, PadByte: "00", MaxBytes: 64},
	Checksum: ChecksumSpec{Kind: "crc16-modbus", Endian: "little", From: "addr", To: "payload"},
	Ack: ReplySpec{
		Pattern: "{addr} 10 ?? ?? ?? ?? {sum}",
		Nak:     "{addr} 90 ?? {sum}",
		Reply:   "{addr} {cmd} {row} {len:regs} {sum}",
		Timeout: "300ms",
	},
}

// Builtin profiles by name.
var builtin = map[string]Profile{
	ModbusRTUText.Name: ModbusRTUText,
}

// Builtin returns a built-in profile by name.
func Builtin(name string) (Profile, bool) {
	p, ok := builtin[name]
	return p, ok
}

// BuiltinNames lists the built-in profiles.
func BuiltinNames() []string {
	out := make([]string, 0, len(builtin))
	for k := range builtin {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
