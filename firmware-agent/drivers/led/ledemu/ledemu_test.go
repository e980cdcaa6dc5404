package ledemu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/servicehall/servicehall/displays/framer"
	"github.com/servicehall/servicehall/displays/onbon"
	"github.com/servicehall/servicehall/displays/textenc"
)

func serve(t *testing.T, o Opts) (*Emulator, net.Conn, context.Context) {
	t.Helper()
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Serve(ctx, b) }()
	t.Cleanup(func() { cancel(); a.Close(); <-done })
	return e, a, ctx
}

func readFrame(t *testing.T, r io.Reader) onbon.Packet {
	t.Helper()
	var buf []byte
	b := make([]byte, 64)
	for {
		for {
			f, n := onbon.NextFrame(buf)
			buf = buf[n:]
			if f == nil {
				break
			}
			if p, err := onbon.Decode(f); err == nil {
				return p
			} // line noise: skip, as the driver does
		}
		n, err := r.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf, b[:n]...)
	}
}

func TestOnbonEmulator(t *testing.T) {
	e, c, ctx := serve(t, Opts{Protocol: Onbon, Address: 2})
	area := func(id byte, y int, s string) onbon.Area {
		return onbon.Area{ID: id, Y: y, Width: 128, Height: 16, DisplayMode: onbon.DisplayStatic, Text: textenc.Encode(textenc.GB2312, s)}
	}
	cmd, _ := onbon.DynamicArea(nil, area(0, 0, "A012"), area(1, 16, "请到8号窗口"))

	// A frame for screen 1 is another screen's: no reply, nothing shown.
	// Broadcasts apply but are never answered. Then our own frame, with
	// line noise in front, is applied and acknowledged.
	other := cmd.Frame(onbon.DefaultHeader(1))
	bcast, _ := onbon.DynamicArea(nil, area(0, 0, "ALL"))
	ours := cmd.Frame(onbon.DefaultHeader(2))
	go func() {
		c.Write(other)
		c.Write(bcast.Frame(onbon.DefaultHeader(onbon.AddrBroadcast)))
		c.Write(append([]byte{0x13, 0x5A, 0xFF}, ours...))
	}()
	p := readFrame(t, c)
	r, err := onbon.ParseReply(p)
	if err != nil || !r.OK || r.Src != 2 || r.Dst != onbon.AddrHost {
		t.Fatalf("reply %+v %v", r, err)
	}
	if err := e.WaitLines(ctx, []string{"A012", "请到8号窗口"}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Frames()); n != 2 { // broadcast + ours
		t.Fatalf("frames = %d", n)
	}

	// A corrupted frame is NACKed with the CRC code.
	bad := bytes.Clone(ours)
	bad[len(bad)-2] ^= 0x01
	go c.Write(bad)
	r, _ = onbon.ParseReply(readFrame(t, c))
	if r.OK || r.Err != onbon.ErrChecksum || e.BadFrames() != 1 {
		t.Fatalf("bad CRC reply %+v, bad=%d", r, e.BadFrames())
	}

	// Injected NACK and garbage.
	e.SetFaults(Faults{Nack: onbon.ErrBusy, Garbage: []byte{0xA5, 0x00, 0x5A}})
	go c.Write(onbon.ClearScreen().Frame(onbon.DefaultHeader(2)))
	r, _ = onbon.ParseReply(readFrame(t, c))
	if r.OK || r.Err != onbon.ErrBusy {
		t.Fatalf("nack reply %+v", r)
	}
	if got := e.Lines(); len(got) != 2 {
		t.Fatalf("a refused clear cleared the panel: %q", got)
	}
	e.SetFaults(Faults{})
	go c.Write(onbon.ClearScreen().Frame(onbon.DefaultHeader(2)))
	if r, _ = onbon.ParseReply(readFrame(t, c)); !r.OK {
		t.Fatalf("clear reply %+v", r)
	}
	if err := e.WaitLines(ctx, []string{}); err != nil {
		t.Fatal(err)
	}
}

func TestProfileEmulator(t *testing.T) {
	f, err := framer.Compile(framer.ModbusRTUText)
	if err != nil {
		t.Fatal(err)
	}
	var seen [][]string
	e, c, ctx := serve(t, Opts{Protocol: Modbus, Address: 5, Framer: f, OnChange: func(l []string) { seen = append(seen, l) }})
	frames, _ := f.Frames(5, []string{"A012", "请到8号窗口"})
	go func() {
		for _, fr := range frames {
			c.Write(fr)
		}
	}()
	for range frames {
		want := make([]byte, 8)
		if _, err := io.ReadFull(c, want); err != nil {
			t.Fatal(err)
		}
		if res, _ := f.MatchReply(want, 5); res != framer.Ack {
			t.Fatalf("reply % X is not an ACK", want)
		}
	}
	if err := e.WaitLines(ctx, []string{"A012", "请到8号窗口"}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || !slices.Equal(seen[1], []string{"A012", "请到8号窗口"}) {
		t.Fatalf("OnChange saw %q", seen)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Opts{Protocol: "x"}); err == nil {
		t.Error("unknown protocol accepted")
	}
	if _, err := New(Opts{Protocol: Generic}); err == nil {
		t.Error("generic without a profile accepted")
	}
}

// FuzzEmulatorInput feeds arbitrary bytes to the emulator's frame handler
// (Onbon and Modbus): it must never panic nor grow without bound.
func FuzzEmulatorInput(f *testing.F) {
	mb, err := framer.Compile(framer.ModbusRTUText)
	if err != nil {
		f.Fatal(err)
	}
	cmd, _ := onbon.DynamicArea(nil, onbon.Area{Width: 64, Height: 16, Text: []byte("A1")})
	f.Add(cmd.Frame(onbon.DefaultHeader(1)))
	fr, _ := mb.Encode(1, 0, "A1")
	f.Add(fr)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 2048 {
			return
		}
		for _, o := range []Opts{{Protocol: Onbon, Address: 1}, {Protocol: Modbus, Address: 1, Framer: mb}} {
			e, _ := New(o)
			rest := e.process(context.Background(), io.Discard, bytes.Clone(b))
			if len(rest) > len(b) {
				t.Fatalf("rest %d > input %d", len(rest), len(b))
			}
		}
	})
}

// A bus of three Onbon controllers on one line: each frame reaches and is
// answered by the screen it addresses only; a silenced screen leaves the
// other two answering; a bus refuses a shared address or mixed protocols.
func TestBus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var screens []*Emulator
	for _, a := range []int{1, 2, 3} {
		e, err := New(Opts{Protocol: Onbon, Address: a})
		if err != nil {
			t.Fatal(err)
		}
		screens = append(screens, e)
	}
	bus, err := NewBus(screens...)
	if err != nil {
		t.Fatal(err)
	}
	c, b := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = bus.Serve(ctx, b) }()
	defer func() { cancel(); c.Close(); <-done }()

	show := func(addr uint16, s string) []byte {
		cmd, _ := onbon.DynamicArea(nil, onbon.Area{Width: 64, Height: 16, DisplayMode: onbon.DisplayStatic, Text: textenc.Encode(textenc.GB2312, s)})
		return cmd.Frame(onbon.DefaultHeader(addr))
	}
	for _, a := range []uint16{1, 2, 3} {
		if _, err := c.Write(show(a, fmt.Sprintf("A00%d", a))); err != nil {
			t.Fatal(err)
		}
		if p := readFrame(t, c); p.Src != a || p.Dst != onbon.AddrHost {
			t.Fatalf("frame to %d answered by %d", a, p.Src)
		}
	}
	for _, a := range []int{1, 2, 3} {
		if got := bus.Screen(a).Lines(); !slices.Equal(got, []string{fmt.Sprintf("A00%d", a)}) {
			t.Fatalf("screen %d shows %q", a, got)
		}
	}

	bus.Screen(2).SetFaults(Faults{Unplug: true})
	if _, err := c.Write(slices.Concat(show(2, "B002"), show(3, "B003"))); err != nil {
		t.Fatal(err)
	}
	if p := readFrame(t, c); p.Src != 3 { // the first reply on the line is 3's
		t.Fatalf("reply from %d, want 3", p.Src)
	}
	if err := bus.Screen(3).WaitLines(ctx, []string{"B003"}); err != nil {
		t.Fatal(err)
	}
	if got := bus.Screen(2).Lines(); !slices.Equal(got, []string{"A002"}) || bus.Screen(2).Lost() == 0 {
		t.Fatalf("silenced screen shows %q, lost %d bytes", got, bus.Screen(2).Lost())
	}

	if _, err := NewBus(screens[0], screens[0]); err == nil {
		t.Fatal("two controllers at one address accepted")
	}
	m, _ := New(Opts{Protocol: Modbus, Address: 5, Framer: mustModbus(t)})
	if _, err := NewBus(screens[0], m); err == nil {
		t.Fatal("mixed protocols accepted")
	}
}

func mustModbus(t *testing.T) *framer.Framer {
	t.Helper()
	f, err := framer.Compile(framer.ModbusRTUText)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
