package escposemu

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.bug.st/serial"

	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos"
	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos/ticket"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

func decodeAll(p []byte) string {
	var lines []string
	d := NewDecoder()
	d.Line = func(s string) { lines = append(lines, s) }
	d.Write(p)
	d.Flush()
	return strings.Join(lines, "\n")
}

func TestPaperOfReferenceTicket(t *testing.T) {
	job, err := escpos.NewBuilder(escpos.FontGBK).Init().ChineseOn().Align(escpos.Center).
		Line("政务服务中心").Size(4, 4).Line("A001").Size(1, 1).
		Line("请到5号窗口办理 前面3人").QR("https://example.gov.cn/q/A001", 6, escpos.ECM).
		Feed(3).Cut(0).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"[C] 政务服务中心",
		"[C 4x4] A001",
		"[C] 请到5号窗口办理 前面3人",
		"[QR: https://example.gov.cn/q/A001]",
		"", "", "",
		"---- cut ----",
	}, "\n")
	if got := decodeAll(job); got != want {
		t.Errorf("paper:\n%s\nwant:\n%s", got, want)
	}
	// Split at every position: same paper.
	for i := 1; i < len(job); i++ {
		var lines []string
		d := NewDecoder()
		d.Line = func(s string) { lines = append(lines, s) }
		d.Write(job[:i])
		d.Write(job[i:])
		if got := strings.Join(lines, "\n"); got != want {
			t.Fatalf("split at %d:\n%s", i, got)
		}
	}
}

func TestPaperMarkers(t *testing.T) {
	l, _ := ticket.ForWidth(58)
	l.QRNative = false
	job, err := ticket.Render(wire.Print{Template: wire.TemplateReceipt, Fields: wire.PrintFields{
		Hall: "市行政服务大厅", Number: "A012", Item: "人才引进", Serial: "SN-1", QR: "https://x/q/1"}}, l)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeAll(job)
	for _, s := range []string{"[C B] 市行政服务大厅", "[C B] 办件回执", "[L] 流水号：SN-1", "[IMAGE ", "---- cut ----"} {
		if !strings.Contains(got, s) {
			t.Errorf("%q missing from\n%s", s, got)
		}
	}
	// Without FS & the hanzi are not decoded; FS . and unknown commands are visible.
	if got := decodeAll([]byte{0xC7, 0xEB, 0x1B, 0x7F, '\n'}); got != "[L] ??<1B 7F>" {
		t.Errorf("got %q", got)
	}
}

// FuzzDecoder feeds arbitrary host bytes: the decoder never panics, and
// chunking never changes the paper.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte("\x1b@\x1c&\x1ba\x01\xd5\xfe\n\x1d!\x33A001\n\x1d(k\x04\x001A2\x00"), 3)
	f.Add([]byte("\x1dv0\x00\x02\x00\x02\x00\xff\x00\x0f\xf0\x10\x04\x01\x1dr\x01\x1da\x0f"), 1)
	f.Add([]byte("\x1c&\x95\x32\x82\x36\x81\x30\xff\x1d(k\xff\xff"), 5)
	f.Fuzz(func(t *testing.T, p []byte, cut int) {
		var a, b []string
		var ra, rb []Request
		da := NewDecoder()
		da.Line = func(s string) { a = append(a, s) }
		da.Request = func(r Request) { ra = append(ra, r) }
		da.Write(p)
		db := NewDecoder()
		db.Line = func(s string) { b = append(b, s) }
		db.Request = func(r Request) { rb = append(rb, r) }
		if cut < 0 {
			cut = -cut
		}
		if len(p) > 0 {
			cut %= len(p) + 1
		} else {
			cut = 0
		}
		db.Write(p[:cut])
		db.Write(p[cut:])
		if strings.Join(a, "\n") != strings.Join(b, "\n") || len(ra) != len(rb) {
			t.Fatalf("chunking changed output:\n%q\n%q", a, b)
		}
	})
}

func openPort(t *testing.T, path string) *serialport.Port {
	t.Helper()
	p, err := serialport.Open(context.Background(), path, 9600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func readN(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Record/playback over a real pty: the host sends status requests and a
// job; the emulator's replies are exactly the table's bytes.
func TestStatusRepliesOverPTY(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := clockwork.NewFakeClock()
	e := New(Opts{Clock: clock})
	line, err := Plug(ctx, e, filepath.Join(t.TempDir(), "p.tty"))
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()
	p := openPort(t, line.Path())

	ask := func(req []byte, n int) []byte {
		t.Helper()
		if _, err := p.Write(req); err != nil {
			t.Fatal(err)
		}
		return readN(t, p, n)
	}
	all := []byte{0x10, 0x04, 1, 0x10, 0x04, 2, 0x10, 0x04, 3, 0x10, 0x04, 4}
	if got := ask(all, 4); !bytes.Equal(got, []byte{0x12, 0x12, 0x12, 0x12}) {
		t.Errorf("healthy: % X", got)
	}
	e.SetPaperOut(true)
	if got := ask(all, 4); !bytes.Equal(got, []byte{0x1A, 0x32, 0x12, 0x7E}) {
		t.Errorf("paper out: % X", got) // the docs.rs example: 1A 32 … 7E
	}
	if got := ask([]byte{0x1d, 'r', 1}, 1); got[0] != 0x0F {
		t.Errorf("GS r paper out: % X", got)
	}
	e.SetPaperOut(false)
	e.SetPaperNearEnd(true)
	if got := ask([]byte{0x10, 0x04, 4}, 1); got[0] != 0x1E {
		t.Errorf("near end: % X", got)
	}
	e.SetPaperNearEnd(false)
	// ASB on: block at once, and on each change.
	if got := ask([]byte{0x1d, 'a', 0x0f}, 4); !bytes.Equal(got, []byte{0x10, 0, 0, 0}) {
		t.Errorf("asb enable: % X", got)
	}
	e.SetCoverOpen(true)
	if got := readN(t, p, 4); !bytes.Equal(got, []byte{0x38, 0, 0, 0}) {
		t.Errorf("asb cover: % X", got)
	}
	// Cover open: GS r is not answered; a DLE EOT is (only its reply arrives).
	if got := ask([]byte{0x1d, 'r', 1, 0x10, 0x04, 2}, 1); got[0] != 0x16 {
		t.Errorf("cover open: % X", got)
	}
	e.SetCoverOpen(false)
	if got := readN(t, p, 4); !bytes.Equal(got, []byte{0x10, 0, 0, 0}) {
		t.Errorf("asb closed: % X", got)
	}
	ask([]byte{0x1d, 'a', 0}, 0)
	// Slow replies wait for the clock.
	e.SetReplyDelay(2 * time.Second)
	if _, err := p.Write([]byte{0x10, 0x04, 1}); err != nil {
		t.Fatal(err)
	}
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	if got := readN(t, p, 1); got[0] != 0x12 {
		t.Errorf("slow: % X", got)
	}
	e.SetReplyDelay(0)
	// Garbage arrives as sent.
	if err := e.Garbage([]byte{0xff, 0x80}); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, p, 2); !bytes.Equal(got, []byte{0xff, 0x80}) {
		t.Errorf("garbage: % X", got)
	}
	// Paper goes to the log.
	if _, err := p.Write([]byte("\x1b@\x1c&\xc7\xeb\n")); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := e.WaitFor(wctx, "[L] 请"); err != nil {
		t.Fatal(err)
	}
}

// Unplug makes the host's read fail with a *serial.PortError; Replug makes
// the same path work again.
func TestUnplugReplug(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := New(Opts{})
	line, err := Plug(ctx, e, filepath.Join(t.TempDir(), "p.tty"))
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()
	p, err := serialport.Open(ctx, line.Path(), 9600)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := p.Read(make([]byte, 1))
		errc <- err
	}()
	if err := line.Unplug(); err != nil {
		t.Fatal(err)
	}
	rerr := <-errc
	var pe *serial.PortError
	if !errors.As(rerr, &pe) {
		t.Errorf("read after unplug: %T %v", rerr, rerr)
	}
	p.Close()
	if _, err := serialport.Open(ctx, line.Path(), 9600); err == nil {
		t.Error("open of an unplugged line succeeded")
	}
	if err := line.Replug(); err != nil {
		t.Fatal(err)
	}
	p2 := openPort(t, line.Path())
	p2.Write([]byte{0x10, 0x04, 1})
	if got := readN(t, p2, 1); got[0] != 0x12 {
		t.Errorf("after replug: % X", got)
	}
}

func TestFaults(t *testing.T) {
	e := New(Opts{})
	if err := e.ApplyFaults([]string{"paper_out", "slow=2s"}); err != nil {
		t.Fatal(err)
	}
	if st := e.Status(); !st.PaperEnd || !st.Offline || st.Code() != escpos.CodePaperOut {
		t.Errorf("paper_out: %+v", st)
	}
	if err := e.ApplyFaults([]string{"cover_open", "mute"}); err != nil {
		t.Fatal(err)
	}
	if st := e.Status(); st.PaperEnd || !st.CoverOpen {
		t.Errorf("cover_open: %+v", st)
	}
	for _, bad := range []string{"jam", "slow=x", "garbage=zz"} {
		if err := e.ApplyFaults([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := e.ApplyFaults(nil); err != nil || e.Status().Code() != "" {
		t.Errorf("clear: %v %+v", err, e.Status())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := clockwork.NewFakeClock()
	path := filepath.Join(t.TempDir(), "faults")
	if err := os.WriteFile(path, []byte("paper_near_end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { e.WatchFaultFile(ctx, clock, path, time.Second); close(done) }()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if st := e.Status(); st.Code() != escpos.CodePaperNearEnd {
		t.Errorf("fault file: %+v", st)
	}
	cancel()
	<-done
}

func TestInlineAttributes(t *testing.T) {
	if got := decodeAll([]byte("\x1b\x7fA\x1d\x21\x11B\x1d\x21\x00C\n")); got != "[L] <1B 7F>A[L 2x2]B[L]C" {
		t.Errorf("got %q", got)
	}
}

// A job made by an independent encoder (npm receiptline@4.0.4, gb18030,
// recorded in testdata) decodes to the expected paper.
func TestDecodeReceiptlineRecording(t *testing.T) {
	h, err := os.ReadFile("testdata/receiptline_gb18030_ticket.hex")
	if err != nil {
		t.Fatal(err)
	}
	job, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil {
		t.Fatal(err)
	}
	want := "[L 2x2] A001\n[L] 请到5号窗口办理\n[L]  \n---- cut ----"
	if got := decodeAll(job); got != want {
		t.Errorf("paper:\n%s\nwant:\n%s", got, want)
	}
}
