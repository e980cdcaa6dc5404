package onbon

import (
	"bytes"
	"testing"
)

// FuzzStream feeds arbitrary bytes through the reply/frame parser the
// driver and the emulator use: NextFrame, Decode, ParseReply, ParseCommand
// and ParseDynamicArea must never panic, and anything that decodes must
// re-encode to a frame that decodes to the same packet.
func FuzzStream(f *testing.F) {
	f.Add(unhex(f, pingFrame))
	f.Add(unhex(f, docA306))
	f.Add(append([]byte{0x00, 0xA5, 0x5A}, Encode(ReplyHeader(1), AckData(ErrBusy))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			frame, n := NextFrame(b)
			if n < 0 || n > len(b) || (n == 0 && (frame != nil || b[0] != FrameHead)) {
				t.Fatalf("NextFrame consumed %d of %d", n, len(b))
			}
			if n == 0 {
				break // the start of a frame still arriving
			}
			b = b[n:]
			if frame == nil {
				continue
			}
			p, err := Decode(frame)
			if err != nil {
				continue
			}
			again, err := Decode(Encode(p.Header, p.Data))
			if err != nil || again.Header != p.Header || !bytes.Equal(again.Data, p.Data) {
				t.Fatalf("re-encode: %v", err)
			}
			_, _ = ParseReply(p)
			if c, err := ParseCommand(p.Data); err == nil && c.Group == GroupArea && c.Cmd == CmdDynamicArea {
				del, areas, err := ParseDynamicArea(c.Payload)
				if err == nil {
					c2, err := DynamicArea(del, areas...)
					if err == nil && !bytes.Equal(c2.Payload, c.Payload) {
						// Pixel-flagged multiples of 8 re-encode in 8-px units; that is the only allowed difference.
						if _, a2, err := ParseDynamicArea(c2.Payload); err != nil || len(a2) != len(areas) {
							t.Fatalf("area round trip: %v", err)
						}
					}
				}
			}
		}
	})
}

// FuzzUnescape checks Unescape never panics and inverts Escape.
func FuzzUnescape(f *testing.F) {
	f.Add([]byte{0x5B, 0x02, 0x5B, 0x01, 0xB0, 0xA6, 0x02})
	f.Add([]byte{0xA6})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Unescape(b)
		back, err := Unescape(Escape(nil, b))
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("Unescape(Escape(% X)) = % X, %v", b, back, err)
		}
	})
}
