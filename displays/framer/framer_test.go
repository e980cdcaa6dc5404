package framer

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/displays/checksum"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustCompile(t testing.TB, p Profile) *Framer {
	t.Helper()
	f, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestModbusText(t *testing.T) {
	f := mustCompile(t, ModbusRTUText)
	got, err := f.Encode(1, 0, "A012")
	if err != nil {
		t.Fatal(err)
	}
	body := unhex(t, "01 10 00 00 00 02 04 41 30 31 32")
	crc := checksum.Modbus(body)
	want := append(body, byte(crc), byte(crc>>8))
	if !bytes.Equal(got, want) {
		t.Fatalf("got % X\nwant % X", got, want)
	}
	// Row 2, odd byte count padded with 00: "请到8号窗口" = 11 bytes -> 12.
	got, err = f.Encode(1, 1, "请到8号窗口")
	if err != nil {
		t.Fatal(err)
	}
	body = unhex(t, "01 10 00 20 00 06 0C C7 EB B5 BD 38 BA C5 B4 B0 BF DA 00")
	crc = checksum.Modbus(body)
	if want := append(body, byte(crc), byte(crc>>8)); !bytes.Equal(got, want) {
		t.Fatalf("row 2: got % X\nwant % X", got, want)
	}
	// Round trip through the emulator side.
	fr, n, err := f.Decode(append([]byte{0xFF, 0x00}, got...), 1)
	if err != nil || n != len(got)+2 || fr.Text != "请到8号窗口" || fr.Row != 1 || fr.Addr != 1 {
		t.Fatalf("decode: %+v n=%d err=%v", fr, n, err)
	}
	// The emulator's reply is matched as an ACK by the driver side.
	reply := f.Reply(fr)
	wantReply := unhex(t, "01 10 00 20 00 06")
	crc = checksum.Modbus(wantReply)
	wantReply = append(wantReply, byte(crc), byte(crc>>8))
	if !bytes.Equal(reply, wantReply) {
		t.Fatalf("reply % X, want % X", reply, wantReply)
	}
	if res, n := f.MatchReply(append([]byte{0x00}, reply...), 1); res != Ack || n != len(reply)+1 {
		t.Fatalf("match = %v %d", res, n)
	}
	// An exception reply is a NAK.
	exc := []byte{0x01, 0x90, 0x02}
	crc = checksum.Modbus(exc)
	exc = append(exc, byte(crc), byte(crc>>8))
	if res, _ := f.MatchReply(exc, 1); res != Nak {
		t.Fatalf("exception = %v", res)
	}
	// A reply from another unit, or with a bad CRC, is not ours.
	other := append([]byte(nil), reply...)
	other[0] = 2
	if res, _ := f.MatchReply(other, 1); res != NeedMore {
		t.Fatalf("other unit = %v", res)
	}
	bad := append([]byte(nil), reply...)
	bad[len(bad)-1] ^= 0xFF
	if res, _ := f.MatchReply(bad, 1); res != NeedMore {
		t.Fatalf("bad crc = %v", res)
	}
	// Too long for a row.
	if _, err := f.Encode(1, 0, strings.Repeat("号", 33)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("too long: %v", err)
	}
}

// A gate display's "A5 id id 3D 3D len len cmd data XOR" (DEVICES.md §3.1).
func TestGateProfile(t *testing.T) {
	f := mustCompile(t, Profile{
		Name:     "gate",
		Preamble: "A5",
		Command:  "01",
		Frame:    "{preamble} {addr} 3D3D {len} {cmd} {payload} {sum}",
		Address:  IntField{Width: 2, Endian: "big"},
		Lengths:  []LengthField{{Name: "n", IntField: IntField{Width: 2}, From: "cmd", To: "payload"}},
		Payload:  PayloadSpec{Encoding: "ascii"},
		Checksum: ChecksumSpec{Kind: "xor8", From: "addr", To: "payload"},
		Ack:      ReplySpec{Pattern: "A5 {addr} 06", Nak: "A5 {addr} 15"},
	})
	got, err := f.Encode(0x0102, 0, "OK")
	if err != nil {
		t.Fatal(err)
	}
	body := unhex(t, "01 02 3D 3D 00 03 01 4F 4B")
	want := append([]byte{0xA5}, body...)
	want = append(want, checksum.XOR(body))
	if !bytes.Equal(got, want) {
		t.Fatalf("got % X\nwant % X", got, want)
	}
	fr, _, err := f.Decode(got, -1)
	if err != nil || fr.Text != "OK" || fr.Addr != 0x0102 {
		t.Fatalf("decode %+v %v", fr, err)
	}
	if r := f.Reply(fr); !bytes.Equal(r, unhex(t, "A5 01 02 06")) {
		t.Fatalf("reply % X", r)
	}
	// Partial reply: need more, keep it.
	if res, n := f.MatchReply([]byte{0x33, 0xA5, 0x01}, 0x0102); res != NeedMore || n != 1 {
		t.Fatalf("partial = %v %d", res, n)
	}
	if res, n := f.MatchReply([]byte{0x33, 0xA5, 0x01, 0x02, 0x15}, 0x0102); res != Nak || n != 5 {
		t.Fatalf("nak = %v %d", res, n)
	}
}

// A parking display "3A … sum 0A" with a little-endian length over the
// whole frame, a sum8 and joined rows.
func TestParkingProfile(t *testing.T) {
	f := mustCompile(t, Profile{
		Name:      "parking",
		Preamble:  "3A",
		Trailer:   "0A",
		Address:   IntField{Width: 1},
		Lengths:   []LengthField{{Name: "all", IntField: IntField{Width: 2, Endian: "little"}, From: "start", To: "end"}},
		Lines:     "joined",
		Separator: " ",
		Payload:   PayloadSpec{Encoding: "gbk", Template: "[{text}]"},
		Checksum:  ChecksumSpec{Kind: "sum8"},
	})
	frames, err := f.Frames(7, []string{"A012", "8号"})
	if err != nil || len(frames) != 1 {
		t.Fatalf("frames %v %v", frames, err)
	}
	// 3A 07 len(2) [A012 8号] sum 0A: payload 10 bytes, frame 16.
	p := []byte("[A012 8\xba\xc5]")
	inner := append([]byte{0x07, 0x10, 0x00}, p...)
	want := append([]byte{0x3A}, inner...)
	want = append(want, checksum.Sum(inner), 0x0A)
	if !bytes.Equal(frames[0], want) {
		t.Fatalf("got % X\nwant % X", frames[0], want)
	}
	fr, n, err := f.Decode(append(bytes.Clone(frames[0]), 0x3A), 7)
	if err != nil || n != len(want) || fr.Text != "A012 8号" {
		t.Fatalf("decode %q n=%d %v", fr.Text, n, err)
	}
	if f.WantsReply() {
		t.Fatal("no ack pattern, but WantsReply")
	}
}

func TestDecodeIncomplete(t *testing.T) {
	f := mustCompile(t, ModbusRTUText)
	full, _ := f.Encode(1, 0, "A012")
	_, n, err := f.Decode(full[:5], 1)
	if !errors.Is(err, ErrIncomplete) || n != 0 {
		t.Fatalf("incomplete: n=%d %v", n, err)
	}
	_, n, err = f.Decode([]byte{0x05, 0x06, 0x07}, 1)
	if !errors.Is(err, ErrIncomplete) || n != 3 {
		t.Fatalf("garbage: n=%d %v", n, err)
	}
}

func TestCompileProblems(t *testing.T) {
	_, err := Compile(Profile{
		Name:     "bad",
		Preamble: "ZZ",
		Frame:    "{addr} {len:x} {payload} {payload} {bogus}",
		Checksum: ChecksumSpec{Kind: "md5"},
		Payload:  PayloadSpec{Encoding: "big5"},
		Lines:    "sideways",
		Ack:      ReplySpec{Pattern: "06 ??", Timeout: "soon"},
	})
	if !errors.Is(err, ErrProfile) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"preamble", "checksum.kind", "payload.encoding", "lines", "ack.timeout", "{bogus}", "{len:x}", "exactly one {payload}", "{addr} needs address.width", "ack.reply: required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, ok := Builtin("modbus-rtu"); !ok || len(BuiltinNames()) == 0 {
		t.Fatal("builtin modbus-rtu missing")
	}
}
