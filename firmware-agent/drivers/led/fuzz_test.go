package led

import (
	"testing"

	"github.com/servicehall/servicehall/displays/framer"
	"github.com/servicehall/servicehall/displays/onbon"
)

// FuzzMatchReply runs arbitrary controller output through the driver's
// reply matchers (Onbon and Modbus): never panic, never consume more than
// given, and an answer always consumes bytes.
func FuzzMatchReply(f *testing.F) {
	mb, err := framer.Compile(framer.ModbusRTUText)
	if err != nil {
		f.Fatal(err)
	}
	links := []link{onbonLink{addr: 1}, profileLink{f: mb, addr: 1}}
	f.Add(onbon.Encode(onbon.ReplyHeader(1), onbon.AckData(0)))
	f.Add(append([]byte{0x00, 0xA5, 0x5A}, onbon.Encode(onbon.ReplyHeader(1), onbon.AckData(onbon.ErrBusy))...))
	f.Add([]byte{0x01, 0x10, 0x00, 0x00, 0x00, 0x02, 0x41, 0xC8})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		for _, l := range links {
			r, _, n := l.match(b, nil)
			if n < 0 || n > len(b) || (r != needMore && n == 0) {
				t.Fatalf("%T: reply %d consumed %d of %d", l, r, n, len(b))
			}
		}
	})
}
