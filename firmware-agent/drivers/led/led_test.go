package led

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/displays/framer"
	"github.com/servicehall/servicehall/displays/layout"
	"github.com/servicehall/servicehall/displays/onbon"
	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/led/ledemu"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

var update = flag.Bool("update", false, "rewrite the golden recordings in testdata/")

// statusLog records SetStatus calls and lets a test wait for one.
type statusLog struct {
	mu   sync.Mutex
	all  []wire.DevStatusMsg
	wake chan struct{}
}

func newStatusLog() *statusLog { return &statusLog{wake: make(chan struct{})} }

func (s *statusLog) SetStatus(m wire.DevStatusMsg) {
	s.mu.Lock()
	s.all = append(s.all, m)
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

func (s *statusLog) last() (wire.DevStatusMsg, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.all) == 0 {
		return wire.DevStatusMsg{}, s.wake
	}
	return s.all[len(s.all)-1], s.wake
}

func (s *statusLog) wait(t *testing.T, ctx context.Context, state, code string) {
	t.Helper()
	for {
		m, ch := s.last()
		if m.State == state && m.Code == code {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("status is %+v, want %s/%s", m, state, code)
		case <-ch:
		}
	}
}

// testLogger logs to stderr with LED_DEBUG=1, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("LED_DEBUG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func parseCfg(t *testing.T, y string) device.Config {
	t.Helper()
	var c device.Config
	if err := yaml.Unmarshal([]byte(y), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	// A failsafe only: every wait below is on a channel or a fake clock.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type rig struct {
	d     *Driver
	clock *clockwork.FakeClock
	st    *statusLog
	emu   *ledemu.Emulator
	done  chan error
}

// startEmulated runs the driver with emulate: true over a real pty.
func startEmulated(t *testing.T, ctx context.Context, cfgYAML string) *rig {
	t.Helper()
	cfg := parseCfg(t, cfgYAML)
	r := &rig{clock: clockwork.NewFakeClock(), st: newStatusLog(), done: make(chan error, 1)}
	env := device.Env{
		Clock:  r.clock,
		Status: r.st,
		OpenPort: func(ctx context.Context, path string, baud int) (device.Port, error) {
			return serialport.Open(ctx, path, baud)
		},
		StateDir: t.TempDir(),
		Log:      testLogger(),
	}
	dev, err := New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	r.d = dev.(*Driver)
	runCtx, cancel := context.WithCancel(ctx)
	go func() { r.done <- r.d.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	r.st.wait(t, ctx, wire.StateOnline, "")
	r.emu = r.d.Emulator()
	return r
}

const onbon128 = `{id: led-8, kind: led-display, protocol: onbon-bx5k, address: 1, window: 8, emulate: true, options: {panel: 128x32}}`

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		var sb strings.Builder
		for i := 0; i < len(got); i += 16 {
			sb.WriteString(strings.ToUpper(hex.EncodeToString(got[i:min(i+16, len(got))])))
			sb.WriteByte('\n')
		}
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to record)", err)
	}
	want, err := hex.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes on the line differ from %s:\n got % X\nwant % X", path, got, want)
	}
}

// Record: what the driver puts on the line for a 128x32 window panel is
// exactly the recording (ping, then one A3 06 with two areas), and the
// emulator shows the two lines.
func TestRecordOnbon128x32(t *testing.T) {
	ctx := testCtx(t)
	r := startEmulated(t, ctx, onbon128)
	doc := wire.DesiredMsg{Version: 1, Lines: []string{"A012", "请到8号窗口"}}
	if err := r.d.Apply(ctx, doc); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Lines(); !slices.Equal(got, doc.Lines) {
		t.Fatalf("panel shows %q", got)
	}
	rx := r.emu.Received()
	golden(t, "onbon-128x32-A012.hex", rx)

	// The recording is a ping and an A3 06 frame; check its fields
	// independently of the driver.
	ping := onbon.Ping().Frame(onbon.DefaultHeader(1))
	if !bytes.HasPrefix(rx, ping) {
		t.Fatalf("recording does not start with the ping frame")
	}
	p, err := onbon.Decode(rx[len(ping):])
	if err != nil {
		t.Fatal(err)
	}
	c, _ := onbon.ParseCommand(p.Data)
	_, areas, err := onbon.ParseDynamicArea(c.Payload)
	if err != nil || len(areas) != 2 {
		t.Fatalf("areas %v %v", areas, err)
	}
	if a := areas[1]; a.Y != 16 || a.Width != 128 || a.Height != 16 || a.DisplayMode != onbon.DisplayStatic || a.Align != onbon.AlignHCenter|onbon.AlignVCenter {
		t.Fatalf("area 2 = %+v", a)
	}

	// Playback: the recorded bytes fed to a fresh emulator give the same
	// panel and the same replies.
	emu, err := ledemu.New(ledemu.Opts{Protocol: ledemu.Onbon, Address: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	go func() { _ = emu.Serve(ctx, b) }()
	go func() { _, _ = a.Write(rx) }()
	want := append(onbon.Encode(onbon.ReplyHeader(1), onbon.AckData(0)), onbon.Encode(onbon.ReplyHeader(1), onbon.AckData(0))...)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(a, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("replies % X, want % X (%v)", got, want, err)
	}
	if err := emu.WaitLines(ctx, doc.Lines); err != nil {
		t.Fatal(err)
	}
	a.Close()

	// The emulator's screen file is there for black-box tests.
	if b, err := os.ReadFile(filepath.Join(r.d.env.StateDir, "led-screen.json")); err != nil || !strings.Contains(string(b), "请到8号窗口") {
		t.Fatalf("screen file: %s %v", b, err)
	}
}

func TestRecordOnbon64x16Scroll(t *testing.T) {
	ctx := testCtx(t)
	r := startEmulated(t, ctx, `{id: led-1, kind: led-display, emulate: true}`)
	if err := r.d.Apply(ctx, wire.DesiredMsg{Version: 3, Lines: []string{"A012", "请到8号窗口"}}); err != nil {
		t.Fatal(err)
	}
	areas := r.emu.Areas()
	if len(areas) != 1 || areas[0].Text != "A012  请到8号窗口" || areas[0].Mode != "scroll" {
		t.Fatalf("areas = %+v", areas)
	}
	golden(t, "onbon-64x16-A012.hex", r.emu.Received())
}

func TestRecordModbus(t *testing.T) {
	ctx := testCtx(t)
	r := startEmulated(t, ctx, `{id: led-2, kind: led-display, protocol: modbus-rtu, address: 3, emulate: true, options: {panel: 128x32}}`)
	lines := []string{"B007", "请到12号窗口"}
	if err := r.d.Apply(ctx, wire.DesiredMsg{Version: 1, Lines: lines}); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Lines(); !slices.Equal(got, lines) {
		t.Fatalf("panel shows %q", got)
	}
	golden(t, "modbus-128x32-B007.hex", r.emu.Received())
}

func TestGenericInlineProfile(t *testing.T) {
	ctx := testCtx(t)
	r := startEmulated(t, ctx, `
id: led-3
kind: led-display
protocol: generic
address: 7
emulate: true
options:
  panel: 128x32
  reply_timeout: 200ms
  profile:
    name: vendor-x
    preamble: "A5"
    command: "01"
    frame: "{preamble} {addr} 3D3D {len} {cmd} {row} {payload} {sum}"
    address: {width: 2}
    row: {width: 1}
    lengths: [{name: n, width: 2, from: cmd, to: payload}]
    payload: {encoding: gbk}
    checksum: {kind: xor8, from: addr, to: payload}
    ack: {pattern: "A5 {addr} 06", nak: "A5 {addr} 15"}
`)
	lines := []string{"C100", "请到3号窗口"}
	if err := r.d.Apply(ctx, wire.DesiredMsg{Version: 1, Lines: lines}); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Lines(); !slices.Equal(got, lines) {
		t.Fatalf("panel shows %q", got)
	}
}

// Faults: garbage before the reply is skipped; a slow reply within the
// timeout is fine; a missing reply times out (after the retry) and marks
// the device faulty; a NACK carries the controller's code; an unplugged
// (silent) controller times out and recovers when it answers again.
func TestFaults(t *testing.T) {
	ctx := testCtx(t)
	r := startEmulated(t, ctx, strings.Replace(onbon128, "panel: 128x32", "panel: 128x32, probe_interval: 0s", 1))
	doc := func(v uint64) wire.DesiredMsg {
		return wire.DesiredMsg{Version: v, Lines: []string{"A0" + string(rune('0'+v)), "请到8号窗口"}}
	}
	apply := func(v uint64) chan error {
		ch := make(chan error, 1)
		go func() { ch <- r.d.Apply(ctx, doc(v)) }()
		return ch
	}

	r.emu.SetFaults(ledemu.Faults{Garbage: []byte{0x00, 0xA5, 0x13, 0x5A, 0xFF}})
	if err := <-apply(1); err != nil {
		t.Fatalf("garbage: %v", err)
	}

	r.emu.SetFaults(ledemu.Faults{Delay: 300 * time.Millisecond})
	ch := apply(2)
	r.clock.BlockUntilContext(ctx, 2) // the driver's reply timer and the emulator's delay
	r.clock.Advance(300 * time.Millisecond)
	if err := <-ch; err != nil {
		t.Fatalf("slow reply: %v", err)
	}

	r.emu.SetFaults(ledemu.Faults{Drop: true})
	n0 := len(r.emu.Frames())
	ch = apply(3)
	for range 2 { // first try and one retry
		r.clock.BlockUntilContext(ctx, 1)
		r.clock.Advance(500 * time.Millisecond)
	}
	err := <-ch
	if Code(err) != CodeTimeout || !errors.Is(err, ErrTimeout) {
		t.Fatalf("drop: %v (code %q)", err, Code(err))
	}
	r.st.wait(t, ctx, wire.StateFault, CodeNoReply)
	if err := r.emu.WaitFrames(ctx, n0+2); err != nil { // both tries handled, unanswered
		t.Fatal(err)
	}
	if got := r.emu.Lines(); !slices.Equal(got, doc(3).Lines) {
		t.Fatalf("dropped replies still apply: %q", got)
	}

	r.emu.SetFaults(ledemu.Faults{Nack: onbon.ErrBusy})
	if err := <-apply(4); Code(err) != "busy" || !errors.Is(err, ErrNak) {
		t.Fatalf("nack: %v", err)
	}

	r.emu.SetFaults(ledemu.Faults{Unplug: true})
	ch = apply(5)
	for range 2 {
		r.clock.BlockUntilContext(ctx, 1)
		r.clock.Advance(500 * time.Millisecond)
	}
	if err := <-ch; Code(err) != CodeTimeout {
		t.Fatalf("unplugged: %v", err)
	}
	// Both tries reach the silent controller and change nothing.
	frames, _ := r.d.link.frames(layout.Layout(r.d.s.panel, doc(5).Lines, layout.Opts{CanScroll: true}))
	for r.emu.Lost() < 2*len(frames[0]) {
		select {
		case <-r.emu.Changed():
		case <-ctx.Done():
			t.Fatalf("emulator saw %d bytes while unplugged", r.emu.Lost())
		}
	}
	if got := r.emu.Lines(); got[0] != "A03" {
		t.Fatalf("an unplugged panel changed: %q", got)
	}

	r.emu.SetFaults(ledemu.Faults{})
	if err := <-apply(6); err != nil {
		t.Fatalf("replugged: %v", err)
	}
	r.st.wait(t, ctx, wire.StateOnline, "")
	if got := r.emu.Lines(); got[0] != "A06" {
		t.Fatalf("panel shows %q", got)
	}
}

// The periodic probe notices a controller that stopped answering, and
// when it answers again (after losing power) shows the last document again.
func TestProbeRecovers(t *testing.T) {
	ctx := testCtx(t)
	r := startEmulated(t, ctx, `{id: led-8, kind: led-display, emulate: true, options: {panel: 128x32, probe_interval: 10s}}`)
	lines := []string{"A012", "请到8号窗口"}
	if err := r.d.Apply(ctx, wire.DesiredMsg{Version: 1, Lines: lines}); err != nil {
		t.Fatal(err)
	}
	r.emu.SetFaults(ledemu.Faults{Unplug: true})
	r.emu.PowerCycle()
	r.clock.BlockUntilContext(ctx, 1) // the probe ticker
	r.clock.Advance(10 * time.Second) // tick: ping
	for range 2 {                     // the ping and its retry time out
		r.clock.BlockUntilContext(ctx, 2) // ticker + reply timer
		r.clock.Advance(500 * time.Millisecond)
	}
	r.st.wait(t, ctx, wire.StateFault, CodeNoReply)

	r.emu.SetFaults(ledemu.Faults{})
	r.clock.Advance(10 * time.Second) // next tick: ping answered, document re-sent
	if err := r.emu.WaitLines(ctx, lines); err != nil {
		t.Fatal(err)
	}
	r.st.wait(t, ctx, wire.StateOnline, "")
}

// pipePorts hands out in-memory ports, each served by the same emulator,
// and can refuse to open (port missing) or pull the plug (close).
type pipePorts struct {
	emu    *ledemu.Emulator
	mu     sync.Mutex
	refuse bool
	cur    net.Conn
	opens  chan struct{}
}

func (p *pipePorts) open(ctx context.Context, path string, baud int) (device.Port, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() { p.opens <- struct{}{} }()
	if p.refuse {
		return nil, errors.New("no such file or directory")
	}
	a, b := net.Pipe()
	p.cur = b
	go func() { _ = p.emu.Serve(ctx, b) }()
	return a, nil
}

func (p *pipePorts) unplug(refuse bool) {
	p.mu.Lock()
	p.refuse = refuse
	p.cur.Close()
	p.mu.Unlock()
}

// Unplug and replug: the port fails, the device goes offline, reopening
// backs off on the clock, and after the replug the last document is shown
// again (the controller lost it with its power).
func TestUnplugReplug(t *testing.T) {
	ctx := testCtx(t)
	emu, err := ledemu.New(ledemu.Opts{Protocol: ledemu.Onbon, Address: 1})
	if err != nil {
		t.Fatal(err)
	}
	pp := &pipePorts{emu: emu, opens: make(chan struct{}, 16)}
	clock := clockwork.NewFakeClock()
	st := newStatusLog()
	dev, err := New(parseCfg(t, `{id: led-8, kind: led-display, port: /dev/ttyUSB9, options: {panel: 128x32}}`),
		device.Env{Clock: clock, Status: st, OpenPort: pp.open})
	if err != nil {
		t.Fatal(err)
	}
	d := dev.(*Driver)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	<-pp.opens
	st.wait(t, ctx, wire.StateOnline, "")
	lines := []string{"A012", "请到8号窗口"}
	if err := d.Apply(ctx, wire.DesiredMsg{Version: 7, Lines: lines}); err != nil {
		t.Fatal(err)
	}

	pp.unplug(true)
	st.wait(t, ctx, wire.StateOffline, CodeOffline)
	if err := d.Apply(ctx, wire.DesiredMsg{Version: 8, Lines: []string{"A013", "请到8号窗口"}}); Code(err) != CodeOffline {
		t.Fatalf("apply while unplugged: %v", err)
	}
	clock.BlockUntilContext(ctx, 1) // first backoff
	clock.Advance(serialport.DefaultBackoff.Min)
	<-pp.opens // refused
	st.wait(t, ctx, wire.StateOffline, CodePortGone)
	clock.BlockUntilContext(ctx, 1)
	// Wipe the panel as a power cycle would, then replug.
	emu2Lines := emu.Lines()
	if !slices.Equal(emu2Lines, lines) {
		t.Fatalf("before replug panel shows %q", emu2Lines)
	}
	pp.mu.Lock()
	pp.refuse = false
	pp.mu.Unlock()
	clock.Advance(serialport.DefaultBackoff.Max)
	<-pp.opens
	want := []string{"A013", "请到8号窗口"} // the last desired document, applied after the replug
	if err := emu.WaitLines(ctx, want); err != nil {
		t.Fatal(err)
	}
	st.wait(t, ctx, wire.StateOnline, "")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{`{id: a, kind: led-display}`, []string{"port: required"}},
		{`{id: a, kind: led-display, protocol: pigeon, port: /dev/x}`, []string{"protocol"}},
		{`{id: a, kind: led-display, port: /dev/x, options: {panel: 10x10, retries: -1}}`, []string{"options.panel", "options.retries"}},
		{`{id: a, kind: led-display, port: /dev/x, options: {bogus: 1}}`, []string{"bogus"}},
		{`{id: a, kind: led-display, protocol: generic, port: /dev/x}`, []string{"generic needs profile"}},
		{`{id: a, kind: led-display, protocol: generic, port: /dev/x, options: {profile_file: /nonexistent.yaml}}`, []string{"profile_file"}},
		{`{id: a, kind: led-display, protocol: generic, port: /dev/x, options: {profile: {name: p, checksum: {kind: md5}}}}`, []string{"checksum.kind"}},
		{`{id: a, kind: led-display, port: /dev/x, options: {reply_timeout: forever}}`, []string{"reply_timeout"}},
		{`{id: a, kind: led-display, port: /dev/x, address: 70000}`, []string{"16 bits"}},
	} {
		_, err := New(parseCfg(t, tc.yaml), device.Env{})
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v", tc.yaml, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.yaml, err, w)
			}
		}
	}
	dev, err := New(parseCfg(t, `{id: a, kind: led-display, port: /dev/x}`), device.Env{})
	if err != nil {
		t.Fatal(err)
	}
	d := dev.(*Driver)
	if d.s.baud != 57600 || d.s.addr != 1 || d.s.panel.String() != "64x16" || d.s.timeout != 500*time.Millisecond {
		t.Fatalf("defaults = %+v", d.s)
	}
	if f, ok := device.Lookup(wire.KindLED); !ok || f == nil {
		t.Fatal("led-display not registered")
	}
}

func TestProfileFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(path, []byte("name: f\npreamble: '02'\ntrailer: '03'\npayload: {encoding: ascii}\n"), 0o644)
	dev, err := New(parseCfg(t, `{id: a, kind: led-display, protocol: generic, port: /dev/x, options: {profile_file: `+path+`}}`), device.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if dev.(*Driver).link.wantsReply() {
		t.Fatal("profile without ack pattern wants a reply")
	}
	os.WriteFile(path, []byte("name: f\nunknown_key: 1\n"), 0o644)
	if _, err := New(parseCfg(t, `{id: a, kind: led-display, protocol: generic, port: /dev/x, options: {profile_file: `+path+`}}`), device.Env{}); err == nil {
		t.Fatal("unknown profile key accepted")
	}
}

// The Onbon matcher skips our own frame echoed back (half-duplex RS-485
// adapters with local echo), line noise and bad CRCs, and finds the ACK.
func TestOnbonMatchEcho(t *testing.T) {
	l := onbonLink{addr: 1}
	cmd, _ := onbon.DynamicArea(nil, onbon.Area{Width: 64, Height: 16, Text: []byte("A1")})
	echo := cmd.Frame(onbon.DefaultHeader(1))
	bad := onbon.Encode(onbon.ReplyHeader(1), onbon.AckData(onbon.ErrBusy))
	bad[len(bad)-2] ^= 0xFF
	ackFrame := onbon.Encode(onbon.ReplyHeader(1), onbon.AckData(0))
	stream := slices.Concat(echo, []byte{0x00, 0x5A}, bad, ackFrame)
	if r, _, n := l.match(stream, nil); r != ack || n != len(stream) {
		t.Fatalf("match = %v, consumed %d of %d", r, n, len(stream))
	}
	nakFrame := onbon.Encode(onbon.ReplyHeader(1), onbon.AckData(onbon.ErrMemoryVolume))
	if r, code, _ := l.match(slices.Concat(echo, nakFrame), nil); r != nak || code != "out_of_memory" {
		t.Fatalf("nak = %v %q", r, code)
	}
}

// The example profiles in testdata load strictly; the Modbus one is the
// built-in profile exactly, and the gate profile drives the emulator.
func TestExampleProfiles(t *testing.T) {
	p, err := LoadProfile("testdata/profiles/modbus-rtu.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, framer.ModbusRTUText) {
		t.Fatalf("yaml profile differs from the built-in:\n%+v\n%+v", p, framer.ModbusRTUText)
	}
	ctx := testCtx(t)
	r := startEmulated(t, ctx, `{id: led-5, kind: led-display, protocol: generic, address: 258, emulate: true,
  options: {panel: 64x16, profile_file: testdata/profiles/gate-a5.yaml}}`)
	if err := r.d.Apply(ctx, wire.DesiredMsg{Version: 1, Lines: []string{"A012", "请到8号窗口"}}); err != nil {
		t.Fatal(err)
	}
	// The profile scrolls by itself, so the one row carries both lines.
	if got := r.emu.Lines(); !slices.Equal(got, []string{"A012  请到8号窗口"}) {
		t.Fatalf("panel shows %q", got)
	}
	golden(t, "gate-a5-64x16-A012.hex", r.emu.Received())
}
