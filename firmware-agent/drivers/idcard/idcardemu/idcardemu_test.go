package idcardemu

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/sam"
)

type host struct {
	t    *testing.T
	conn net.Conn
	dec  *sam.Decoder
}

func startEmu(t *testing.T, o Opts) (*Emulator, *host) {
	t.Helper()
	a, b := net.Pipe()
	e := New(o)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, a) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		a.Close()
		b.Close()
	})
	return e, &host{t: t, conn: b, dec: sam.NewDecoder(b)}
}

func (h *host) send(raw []byte) sam.Reply {
	h.t.Helper()
	if _, err := h.conn.Write(raw); err != nil {
		h.t.Fatal(err)
	}
	h.conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // watchdog only
	p, err := h.dec.Next()
	if err != nil {
		h.t.Fatal(err)
	}
	r, err := sam.ParseReply(p)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *host) cmd(c sam.Command) sam.Status { h.t.Helper(); return h.send(c.Encode()).SW3 }

func TestStateMachine(t *testing.T) {
	e, h := startEmu(t, Opts{})
	seq := []struct {
		c    sam.Command
		want sam.Status
	}{
		{sam.CmdStatus, sam.StatusOK},
		{sam.CmdFind, sam.StatusNoCard},
		{sam.CmdSelect, sam.StatusSelectFailed},
		{sam.CmdRead, sam.StatusReadFailed},
	}
	for _, s := range seq {
		if got := h.cmd(s.c); got != s.want {
			t.Fatalf("%v: %v want %v", s.c, got, s.want)
		}
	}
	if err := e.Present(DemoCard()); err != nil {
		t.Fatal(err)
	}
	if got := h.cmd(sam.CmdSelect); got != sam.StatusSelectFailed {
		t.Fatalf("select before find: %v", got)
	}
	if got := h.cmd(sam.CmdFind); got != sam.StatusFound {
		t.Fatal(got)
	}
	if got := h.cmd(sam.CmdSelect); got != sam.StatusOK {
		t.Fatal(got)
	}
	r := h.send(sam.CmdRead.Encode())
	if r.SW3 != sam.StatusOK || len(r.Data) != 4+256+1024 {
		t.Fatalf("read: %v, %d bytes", r.SW3, len(r.Data))
	}
	m, err := sam.ParseBaseMessage(r.Data, false)
	if err != nil {
		t.Fatal(err)
	}
	id, err := sam.DecodeText(m.Text)
	if err != nil || id != DemoCard() {
		t.Fatal("text block differs from the card")
	}
	if err := id.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := h.cmd(sam.CmdFind); got != sam.StatusNoCard {
		t.Fatalf("find after read: %v (the card must be re-presented)", got)
	}
	e.Remove()
	_ = e.Present(DemoCard())
	if got := h.cmd(sam.CmdFind); got != sam.StatusFound {
		t.Fatal(got)
	}
	if got := h.cmd(sam.CmdReadAddress); got != sam.StatusNoContent {
		t.Fatal(got)
	}
	if got := h.cmd(sam.Command{Cmd: 0x77, Para: 0x01}); got != sam.StatusCommand {
		t.Fatal(got)
	}
	bad := sam.CmdFind.Encode()
	bad[len(bad)-1] ^= 1
	if got := h.send(bad).SW3; got != sam.StatusHostChecksum {
		t.Fatalf("bad host XOR: %v", got)
	}
	if got := h.send(sam.Frame([]byte{0x20})).SW3; got != sam.StatusHostLength {
		t.Fatalf("short command: %v", got)
	}
	if e.Served() != 14 {
		t.Fatalf("served %d", e.Served())
	}
}

func TestFaults(t *testing.T) {
	clock := clockwork.NewFakeClock()
	handled := make(chan Exchange, 64)
	e, h := startEmu(t, Opts{Clock: clock, OnExchange: func(x Exchange) { handled <- x }})
	e.SetFault(sam.StatusSelfTest)
	if got := h.cmd(sam.CmdStatus); got != sam.StatusSelfTest {
		t.Fatal(got)
	}
	e.SetFault(0)
	_ = e.Present(DemoCard())
	e.FailNext(sam.CmdFind, sam.StatusUnknown)
	if got := h.cmd(sam.CmdFind); got != sam.StatusUnknown {
		t.Fatal(got)
	}
	if got := h.cmd(sam.CmdFind); got != sam.StatusFound {
		t.Fatal(got)
	}
	// Garbage before a reply: the decoder skips it.
	e.InjectGarbage([]byte{1, 2, 3, 0xAA})
	if got := h.cmd(sam.CmdFind); got != sam.StatusFound || h.dec.Skipped != 4 {
		t.Fatalf("%v skipped %d", got, h.dec.Skipped)
	}
	// A bad checksum: the raw bytes differ only in the last byte.
	e.CorruptNext(1)
	h.conn.Write(sam.CmdStatus.Encode())
	raw := make([]byte, 11)
	if _, err := readFull(h.conn, raw); err != nil {
		t.Fatal(err)
	}
	want := sam.Reply{SW3: sam.StatusOK}.Encode()
	if !bytes.Equal(raw[:10], want[:10]) || raw[10] == want[10] {
		t.Fatalf("corrupted % X", raw)
	}
	// A delayed reply comes only after the emulator's clock advances.
	e.DelayNext(time.Second)
	h.conn.Write(sam.CmdStatus.Encode())
	if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if got := h.recv(); got != sam.StatusOK {
		t.Fatal(got)
	}
	// Unplugged and dropped commands get no reply: the next reply read
	// belongs to the command after Replug.
	for range 6 { // the six commands so far
		<-handled
	}
	e.Unplug()
	h.conn.Write(sam.CmdFind.Encode())
	if x := <-handled; !x.Dropped || !x.Command.Is(sam.CmdFind) {
		t.Fatalf("unplugged: %+v", x)
	}
	e.Replug()
	e.DropNext(1)
	h.conn.Write(sam.CmdFind.Encode())
	if x := <-handled; !x.Dropped {
		t.Fatalf("DropNext: %+v", x)
	}
	if got := h.cmd(sam.CmdStatus); got != sam.StatusOK {
		t.Fatal(got)
	}
}

func (h *host) recv() sam.Status {
	h.t.Helper()
	p, err := h.dec.Next()
	if err != nil {
		h.t.Fatal(err)
	}
	r, _ := sam.ParseReply(p)
	return r.SW3
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
