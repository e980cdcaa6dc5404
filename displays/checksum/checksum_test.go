package checksum

import "testing"

func TestCheckValues(t *testing.T) {
	check := []byte("123456789")
	for _, tc := range []struct {
		k    Kind
		want uint16
	}{
		{CRC16ARC, 0xBB3D},
		{CRC16Modbus, 0x4B37},
		{CRC16XModem, 0x31C3},
		{Sum8, 0xDD},
		{XOR8, 0x31},
		{None, 0},
	} {
		if got := tc.k.Compute(check); got != tc.want {
			t.Errorf("%s(123456789) = %#04x, want %#04x", tc.k, got, tc.want)
		}
	}
}

func TestModbusReadHoldingVector(t *testing.T) {
	// 01 03 00 00 00 0A is sent with CRC bytes C5 CD (low byte first).
	crc := Modbus([]byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A})
	if lo, hi := byte(crc), byte(crc>>8); lo != 0xC5 || hi != 0xCD {
		t.Fatalf("crc bytes = %02X %02X, want C5 CD", lo, hi)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Kind{"": None, "crc16_modbus": CRC16Modbus, "CRC16-ARC": CRC16ARC, "xor8": XOR8} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Parse("md5"); err == nil {
		t.Error("Parse(md5) succeeded")
	}
	if CRC16ARC.Width() != 2 || Sum8.Width() != 1 || None.Width() != 0 {
		t.Error("widths")
	}
}
