package printer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos"
	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos/escposemu"
	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos/ticket"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

// testTimeout only bounds a broken test; nothing waits on it to proceed.
const testTimeout = 20 * time.Second

type sink chan wire.DevStatusMsg

func (s sink) SetStatus(m wire.DevStatusMsg) { s <- m }

func (s sink) wait(t *testing.T, state, code string) {
	t.Helper()
	tm := time.NewTimer(testTimeout)
	defer tm.Stop()
	for {
		select {
		case m := <-s:
			if m.State == state && m.Code == code {
				return
			}
		case <-tm.C:
			t.Fatalf("status %s/%s never reported", state, code)
		}
	}
}

var job = wire.Print{Template: wire.TemplateTicket, Fields: wire.PrintFields{
	Hall: "政务服务中心", Number: "A001", Item: "人才引进", WindowHint: "请到5号窗口办理", Ahead: 3,
	EtaP50S: 290, EtaP90S: 700, IssuedAt: "2026-11-21T01:30:00Z", QR: "https://example.gov.cn/q/A001"}}

func args(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func options(t *testing.T, s string) yaml.Node {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	if len(n.Content) == 0 {
		return yaml.Node{}
	}
	return *n.Content[0]
}

type rig struct {
	p     *Printer
	emu   *escposemu.Emulator
	line  *escposemu.Line
	clock *clockwork.FakeClock
	st    sink
	ctx   context.Context
}

// newRig runs the driver against the emulator over a real pty.
func newRig(t *testing.T, opts string) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	clock := clockwork.NewFakeClock()
	emu := escposemu.New(escposemu.Opts{Clock: clock})
	line, err := escposemu.Plug(ctx, emu, filepath.Join(t.TempDir(), "p.tty"))
	if err != nil {
		t.Fatal(err)
	}
	st := make(sink, 64)
	cfg := device.Config{ID: "printer-1", Kind: wire.KindPrinter, Port: line.Path(), Options: options(t, opts)}
	d, err := New(cfg, device.Env{Clock: clock, Status: st,
		OpenPort: func(ctx context.Context, path string, baud int) (device.Port, error) {
			return serialport.Open(ctx, path, baud)
		}})
	if err != nil {
		t.Fatal(err)
	}
	p := d.(*Printer)
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		line.Close()
	})
	r := &rig{p: p, emu: emu, line: line, clock: clock, st: st, ctx: ctx}
	st.wait(t, wire.StateOnline, "")
	return r
}

func TestRegistered(t *testing.T) {
	if _, ok := device.Lookup(wire.KindPrinter); !ok {
		t.Fatal("escpos-printer not registered")
	}
}

// Record/playback: the exact bytes of a print, and the ack.
func TestPrintDoneExactBytes(t *testing.T) {
	r := newRig(t, "{width_mm: 58, font: gbk}")
	r.emu.ResetRecording()
	res := r.p.Handle(r.ctx, wire.CmdPrint, args(t, job))
	if res != device.Done {
		t.Fatalf("result %+v", res)
	}
	l, _ := ticket.ForWidth(58)
	body, err := ticket.Render(job, l)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x10, 4, 1, 0x10, 4, 2, 0x10, 4, 3, 0x10, 4, 4}
	want = append(want, body...)
	want = append(want, 0x1d, 'r', 1)
	if got := r.emu.Received(); !bytes.Equal(got, want) {
		t.Errorf("sent\n% X\nwant\n% X", got, want)
	}
	if got := r.emu.Sent(); !bytes.Equal(got, []byte{0x12, 0x12, 0x12, 0x12, 0x00}) {
		t.Errorf("replies % X", got)
	}
	paper := r.emu.Paper()
	for _, s := range []string{"[C B] 政务服务中心", "[C 4x4] A001", "[C] 请到5号窗口办理 前面3人", "预计等待5-12分钟",
		"[QR: https://example.gov.cn/q/A001]", "2026-11-21 09:30", "---- cut ----"} {
		if !strings.Contains(paper, s) {
			t.Errorf("%q not on paper:\n%s", s, paper)
		}
	}
}

func TestPaperOutFails(t *testing.T) {
	r := newRig(t, "")
	r.emu.SetPaperOut(true)
	res := r.p.Handle(r.ctx, wire.CmdPrint, args(t, job))
	if res.Status != wire.AckFailed || res.Code != escpos.CodePaperOut {
		t.Fatalf("result %+v", res)
	}
	r.st.wait(t, wire.StateFault, escpos.CodePaperOut)
	if strings.Contains(r.emu.Paper(), "A001") {
		t.Error("ticket printed without paper")
	}
	// Reload: prints again.
	r.emu.SetPaperOut(false)
	if res := r.p.Handle(r.ctx, wire.CmdPrint, args(t, job)); res != device.Done {
		t.Fatalf("after reload %+v", res)
	}
	r.st.wait(t, wire.StateOnline, "")
}

func TestNearEndStillPrints(t *testing.T) {
	r := newRig(t, "")
	r.emu.SetPaperNearEnd(true)
	if res := r.p.Handle(r.ctx, wire.CmdPrint, args(t, job)); res != device.Done {
		t.Fatalf("result %+v", res)
	}
	r.st.wait(t, wire.StateOnline, escpos.CodePaperNearEnd)
}

func TestCoverOpenFails(t *testing.T) {
	r := newRig(t, "")
	r.emu.SetCoverOpen(true)
	res := r.p.Handle(r.ctx, wire.CmdPrint, args(t, job))
	if res.Status != wire.AckFailed || res.Code != escpos.CodeCoverOpen {
		t.Fatalf("result %+v", res)
	}
	r.st.wait(t, wire.StateFault, escpos.CodeCoverOpen)
}

func TestBadArgsRejected(t *testing.T) {
	r := newRig(t, "")
	for _, a := range []string{`{"template":"menu"}`, `{"template":"ticket","fields":{}}`, `[1]`, `{"template":"ticket","fields":{"number":"A1","qr":"` + strings.Repeat("x", 3000) + `"}}`} {
		res := r.p.Handle(r.ctx, wire.CmdPrint, []byte(a))
		if res.Status != wire.AckRejected || res.Code != CodeBadArgs {
			t.Errorf("%.40s: %+v", a, res)
		}
	}
	if res := r.p.Handle(r.ctx, "dance", nil); res.Status != wire.AckRejected {
		t.Errorf("unknown command: %+v", res)
	}
}

// A printer that stops answering: the poll reports no_reply and a print
// fails with timeout, both driven by the fake clock.
func TestMuteTimeouts(t *testing.T) {
	r := newRig(t, "{poll_s: 5, reply_timeout_ms: 1000}")
	r.emu.SetMute(true)
	if err := r.clock.BlockUntilContext(r.ctx, 1); err != nil { // the poll timer
		t.Fatal(err)
	}
	r.clock.Advance(5 * time.Second)
	if err := r.clock.BlockUntilContext(r.ctx, 1); err != nil { // the reply timer
		t.Fatal(err)
	}
	r.clock.Advance(time.Second)
	r.st.wait(t, wire.StateOffline, CodeNoReply)

	res := make(chan device.Result)
	go func() { res <- r.p.Handle(r.ctx, wire.CmdPrint, args(t, job)) }()
	if err := r.clock.BlockUntilContext(r.ctx, 2); err != nil { // poll + reply timers
		t.Fatal(err)
	}
	r.clock.Advance(time.Second)
	if got := <-res; got.Status != wire.AckFailed || got.Code != CodeTimeout {
		t.Fatalf("result %+v", got)
	}
}

// Unplug: status offline/disconnected; replug: back online after backoff.
func TestUnplugReplug(t *testing.T) {
	r := newRig(t, "")
	if err := r.line.Unplug(); err != nil {
		t.Fatal(err)
	}
	r.st.wait(t, wire.StateOffline, CodeDisconnected)
	if res := r.p.Handle(r.ctx, wire.CmdPrint, args(t, job)); res.Status != wire.AckFailed || res.Code != escpos.CodeOffline {
		t.Errorf("print while unplugged: %+v", res)
	}
	if err := r.line.Replug(); err != nil {
		t.Fatal(err)
	}
	if err := r.clock.BlockUntilContext(r.ctx, 1); err != nil { // the backoff sleep
		t.Fatal(err)
	}
	r.clock.Advance(serialport.DefaultBackoff.Max)
	r.st.wait(t, wire.StateOnline, "")
	if err := r.p.WaitOnline(r.ctx); err != nil {
		t.Fatal(err)
	}
	if res := r.p.Handle(r.ctx, wire.CmdPrint, args(t, job)); res != device.Done {
		t.Errorf("print after replug: %+v", res)
	}
}

// Garbage on the line is ignored; the status poll still works.
func TestGarbageIgnored(t *testing.T) {
	r := newRig(t, "")
	if err := r.emu.Garbage([]byte{0xff, 0x80, 0x93, 0x01}); err != nil {
		t.Fatal(err)
	}
	if res := r.p.Handle(r.ctx, wire.CmdPrint, args(t, job)); res != device.Done {
		t.Fatalf("result %+v", res)
	}
}

// ASB: a cover opened between polls is reported without a poll.
func TestASBReportsFault(t *testing.T) {
	r := newRig(t, "{asb: true}")
	r.emu.SetCoverOpen(true)
	r.st.wait(t, wire.StateFault, escpos.CodeCoverOpen)
	r.emu.SetCoverOpen(false)
	r.st.wait(t, wire.StateOnline, "")
}

// scripted drives the driver over a net.Pipe with hand-written replies.
type scripted struct {
	t    *testing.T
	conn net.Conn
}

func (s scripted) expect(want []byte) {
	s.t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s.conn, got); err != nil {
		s.t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		s.t.Fatalf("driver sent\n% X\nwant\n% X", got, want)
	}
}

func (s scripted) reply(p ...byte) {
	s.t.Helper()
	if _, err := s.conn.Write(p); err != nil {
		s.t.Fatal(err)
	}
}

var eot4 = []byte{0x10, 4, 1, 0x10, 4, 2, 0x10, 4, 3, 0x10, 4, 4}

func newScripted(t *testing.T) (*Printer, scripted, *clockwork.FakeClock, sink, context.Context) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	a, b := net.Pipe()
	clock := clockwork.NewFakeClock()
	st := make(sink, 64)
	path := filepath.Join(t.TempDir(), "tty")
	os.WriteFile(path, nil, 0o644)
	// A long poll period: only the timers a test names fire on Advance.
	d, err := New(device.Config{ID: "p", Kind: wire.KindPrinter, Port: path, Options: options(t, "{poll_s: 3600}")}, device.Env{Clock: clock, Status: st,
		OpenPort: func(context.Context, string, int) (device.Port, error) { return a, nil }})
	if err != nil {
		t.Fatal(err)
	}
	p := d.(*Printer)
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); b.Close(); <-done })
	s := scripted{t: t, conn: b}
	s.expect([]byte{0x1d, 'a', 0})
	s.expect(eot4)
	s.reply(0x12, 0x12, 0x12, 0x12)
	st.wait(t, wire.StateOnline, "")
	return p, s, clock, st, ctx
}

func render(t *testing.T) []byte {
	l, _ := ticket.ForWidth(80)
	b, err := ticket.Render(job, l)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Paper runs out during the job: GS r 1 answers 0F → failed paper_out.
func TestPlaybackPaperOutDuringJob(t *testing.T) {
	p, s, _, st, ctx := newScripted(t)
	res := make(chan device.Result)
	go func() { res <- p.Handle(ctx, wire.CmdPrint, args(t, job)) }()
	s.expect(eot4)
	s.reply(0x12, 0x12, 0x12, 0x12)
	s.expect(append(render(t), 0x1d, 'r', 1))
	s.reply(0x0F)
	if got := <-res; got.Status != wire.AckFailed || got.Code != escpos.CodePaperOut {
		t.Fatalf("result %+v", got)
	}
	st.wait(t, wire.StateFault, escpos.CodePaperOut)
}

// The cover opens during the job: no GS r answer; after the job timeout
// the real-time status says why → failed cover_open.
func TestPlaybackCoverOpenDuringJob(t *testing.T) {
	p, s, clock, st, ctx := newScripted(t)
	res := make(chan device.Result)
	go func() { res <- p.Handle(ctx, wire.CmdPrint, args(t, job)) }()
	s.expect(eot4)
	s.reply(0x12, 0x12, 0x12, 0x12)
	s.expect(append(render(t), 0x1d, 'r', 1))
	if err := clock.BlockUntilContext(ctx, 2); err != nil { // poll + job timers
		t.Fatal(err)
	}
	clock.Advance(20 * time.Second)
	s.expect(eot4)
	s.reply(0x1A, 0x16, 0x12, 0x12)
	if got := <-res; got.Status != wire.AckFailed || got.Code != escpos.CodeCoverOpen {
		t.Fatalf("result %+v", got)
	}
	st.wait(t, wire.StateFault, escpos.CodeCoverOpen)
}

// XOFF pauses the job until XON; replies interleave with flow control.
func TestPlaybackXOFF(t *testing.T) {
	p, s, _, _, ctx := newScripted(t)
	res := make(chan device.Result)
	s.reply(escpos.XOFF)
	go func() { res <- p.Handle(ctx, wire.CmdPrint, args(t, job)) }()
	// The status request itself waits for XON too.
	select {
	case r := <-res:
		t.Fatalf("finished during XOFF: %+v", r)
	default:
	}
	s.reply(escpos.XON)
	s.expect(eot4)
	s.reply(0x12, 0x12, 0x13, 0x12, 0x11, 0x12) // XOFF/XON inside replies
	s.expect(append(render(t), 0x1d, 'r', 1))
	s.reply(0x00)
	if got := <-res; got != device.Done {
		t.Fatalf("result %+v", got)
	}
}

func TestEmulateMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	st := make(sink, 64)
	clock := clockwork.NewFakeClock()
	d, err := New(device.Config{ID: "printer-1", Kind: wire.KindPrinter, Emulate: true},
		device.Env{Clock: clock, Status: st, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	p := d.(*Printer)
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	st.wait(t, wire.StateOnline, "")
	if res := p.Handle(ctx, wire.CmdPrint, args(t, job)); res != device.Done {
		t.Fatalf("result %+v", res)
	}
	// Faults through the file, as a black-box test of the agent binary would.
	if err := os.WriteFile(filepath.Join(dir, "faults"), []byte("paper_out"), 0o644); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second) // the fault-file check
	for p.Emulator().Status().Code() != escpos.CodePaperOut {
		clock.Advance(time.Second)
		runtime.Gosched()
	}
	if res := p.Handle(ctx, wire.CmdPrint, args(t, job)); res.Code != escpos.CodePaperOut {
		t.Fatalf("paper out: %+v", res)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "paper.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"[C 4x4] A001", "请到5号窗口办理", "[QR: https://example.gov.cn/q/A001]", "---- cut ----"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("%q not in paper.txt:\n%s", s, b)
		}
	}
	if got := p.Caps(); strings.Join(got, ",") != "qr,cut,gb18030,width-80mm" {
		t.Errorf("caps %v", got)
	}
}

func TestOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tty")
	os.WriteFile(path, nil, 0o644)
	for _, o := range []string{"{width_mm: 76}", "{qr: laser}", "{font: big5}", "{model: tm-x}", "{colour: red}", "{qr_size: 17}", "{qr_ec: Z}", "{timezone: Mars/Base}"} {
		if _, err := New(device.Config{ID: "p", Port: path, Options: options(t, o)}, device.Env{}); err == nil {
			t.Errorf("%s accepted", o)
		}
	}
	d, err := New(device.Config{ID: "p", Port: path, Options: options(t, "{model: generic-58}")}, device.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if l := d.(*Printer).set.layout; l.Columns != 32 || l.QRNative || l.Font != escpos.FontGB2312 {
		t.Errorf("generic-58 preset: %+v", l)
	}
	if _, err := New(device.Config{ID: "p", Port: "/dev/nonexistent-printer"}, device.Env{}); err == nil {
		t.Error("missing port accepted")
	} else if !errors.Is(err, device.ErrUnavailable) {
		t.Errorf("missing port: %v", err)
	}
}
