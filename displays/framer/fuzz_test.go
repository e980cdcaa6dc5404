package framer

import "testing"

// FuzzMatchReply runs arbitrary bytes through the reply matcher of the
// Modbus profile and of an ASCII-ACK profile: never panic, never consume
// more than given, a match always consumes something.
func FuzzMatchReply(f *testing.F) {
	mb := mustCompile(f, ModbusRTUText)
	simple := mustCompile(f, Profile{Name: "ack", Preamble: "02", Trailer: "03", Ack: ReplySpec{Pattern: "06", Nak: "15"}})
	fr, _, _ := mb.Decode(must(mb.Encode(1, 0, "A012")), 1)
	f.Add(mb.Reply(fr), 1)
	f.Add([]byte{0x01, 0x90, 0x02, 0xC1, 0xC1}, 1)
	f.Add([]byte{0x00, 0x06, 0x15}, -1)
	f.Fuzz(func(t *testing.T, b []byte, addr int) {
		if len(b) > 1024 {
			return
		}
		for _, fm := range []*Framer{mb, simple} {
			res, n := fm.MatchReply(b, addr)
			if n < 0 || n > len(b) || (res != NeedMore && n == 0) {
				t.Fatalf("%s: %v consumed %d of %d", fm.Name(), res, n, len(b))
			}
		}
	})
}

// FuzzDecode runs arbitrary bytes through the request parser an emulator
// uses; a decoded frame re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	mb := mustCompile(f, ModbusRTUText)
	f.Add(must(mb.Encode(1, 0, "A012")))
	f.Add(must(mb.Encode(1, 1, "请到8号窗口")))
	f.Add([]byte{0x01, 0x10, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 600 {
			return
		}
		fr, n, err := mb.Decode(b, 1)
		if n < 0 || n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		if err != nil {
			return
		}
		if fr.Addr != 1 || len(fr.Raw) == 0 {
			t.Fatalf("frame %+v", fr)
		}
		if _, _, err := mb.Decode(fr.Raw, 1); err != nil {
			t.Fatalf("raw frame does not decode again: %v", err)
		}
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzCompile throws odd profiles at Compile; whatever compiles must
// encode, decode and match without panicking, and decode what it encodes.
func FuzzCompile(f *testing.F) {
	f.Add("{preamble} {addr} {len} {cmd} {payload} {sum} {trailer}", "A5", "addr", "payload", "xor8", "A5 {addr} 06", 1, 2)
	f.Add("{addr} {cmd} {row} {len:regs} {len:bytes} {payload} {sum}", "", "", "", "crc16-modbus", "{addr} 10 ?? ?? ?? ?? {sum}", 2, 1)
	f.Add("{sum} {payload}", "", "start", "", "sum8", "", 0, 4)
	f.Add("   ", "", "payload", "", "crc16-arc", "??", 4, 0)
	f.Fuzz(func(t *testing.T, frame, pre, from, to, kind, ack string, aw, lw int) {
		p := Profile{
			Name: "fuzz", Preamble: pre, Command: "10", Frame: frame,
			Address:  IntField{Width: aw},
			Row:      RowField{IntField: IntField{Width: 1}},
			Lengths:  []LengthField{{Name: "regs", IntField: IntField{Width: lw}, From: from, To: to}, {Name: "bytes", IntField: IntField{Width: 1}}},
			Checksum: ChecksumSpec{Kind: kind, From: from, To: to},
			Ack:      ReplySpec{Pattern: ack, Reply: "{addr} 06"},
		}
		fr, err := Compile(p)
		if err != nil {
			return
		}
		b, err := fr.Encode(1, 0, "A012号")
		if err != nil {
			return
		}
		got, _, err := fr.Decode(b, 1)
		if err != nil {
			t.Fatalf("cannot decode own frame % X: %v", b, err)
		}
		if got.Text != "A012号" {
			t.Fatalf("decoded %q", got.Text)
		}
		_, _ = fr.MatchReply(fr.Reply(got), 1)
	})
}
