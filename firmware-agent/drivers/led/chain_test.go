package led

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/displays/framer"
	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/led/ledemu"
	"github.com/servicehall/servicehall/firmware-agent/ptypair"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

// screen is one driver of a chain under test.
type screen struct {
	d  *Driver
	st *statusLog
}

// chainRig runs one driver per config on a fresh line set, every one
// with the same opener and clock, and stops them at cleanup.
func chainRig(t *testing.T, ctx context.Context, clock clockwork.Clock, open device.PortOpener, cfgs ...string) []screen {
	t.Helper()
	lines := newLineSet()
	out := make([]screen, len(cfgs))
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if len(lines.m) != 0 {
			t.Errorf("%d line(s) still open after every screen stopped", len(lines.m))
		}
	})
	for i, y := range cfgs {
		st := newStatusLog()
		dev, err := New(parseCfg(t, y), device.Env{Clock: clock, Status: st, OpenPort: open, Log: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		d := dev.(*Driver)
		d.lines = lines
		out[i] = screen{d: d, st: st}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Run(runCtx); err != nil {
				t.Errorf("Run %s: %v", d.cfg.ID, err)
			}
		}()
	}
	return out
}

func onbonBus(t *testing.T, addrs ...int) *ledemu.Bus {
	t.Helper()
	var es []*ledemu.Emulator
	for _, a := range addrs {
		e, err := ledemu.New(ledemu.Opts{Protocol: ledemu.Onbon, Address: a, Log: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	bus, err := ledemu.NewBus(es...)
	if err != nil {
		t.Fatal(err)
	}
	return bus
}

func doc(v uint64, lines ...string) wire.DesiredMsg { return wire.DesiredMsg{Version: v, Lines: lines} }

// applyAll applies docs[i] to screens[i] at the same time and returns the
// errors.
func applyAll(ctx context.Context, ss []screen, docs map[int]wire.DesiredMsg) map[int]error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := map[int]error{}
	for i, dm := range docs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := ss[i].d.Apply(ctx, dm)
			mu.Lock()
			errs[i] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errs
}

// Three Onbon screens at addresses 1, 2 and 3 on one pty: every call
// reaches its own screen; when screen 2 stops answering, 1 and 3 keep
// showing their updates and stay online while 2 reports fault/no_reply
// (and, faulty, costs the line one try per frame, not two); when it
// answers again it recovers.
func TestChainThreeScreensOnePty(t *testing.T) {
	ctx := testCtx(t)
	pair, err := ptypair.Open()
	if err != nil {
		t.Fatal(err)
	}
	bus := onbonBus(t, 1, 2, 3)
	emuCtx, stopEmu := context.WithCancel(ctx)
	go func() { _ = bus.Serve(emuCtx, pair.Master) }()
	// A read on the pty master is not released by a deadline; closing the
	// pair (after the drivers closed the slave) ends it.
	t.Cleanup(func() { stopEmu(); pair.Close() })

	// Real serial port code (flock and all) on the pty; the silent screen's
	// reply timeout is short, the live ones' generous.
	cfg := func(id string, addr int, timeout string) string {
		return fmt.Sprintf(`{id: %s, kind: led-display, protocol: onbon-bx5k, port: %s, address: %d, window: %d, options: {panel: 128x32, probe_interval: 0s, reply_timeout: %s}}`,
			id, pair.Path(), addr, addr, timeout)
	}
	ss := chainRig(t, ctx, clockwork.NewRealClock(), nil,
		cfg("led-1", 1, "5s"), cfg("led-2", 2, "100ms"), cfg("led-3", 3, "5s"))
	for _, s := range ss {
		s.st.wait(t, ctx, wire.StateOnline, "")
	}

	lines := func(v uint64, addr int) []string {
		return []string{fmt.Sprintf("A%03d", 100*addr+int(v)), fmt.Sprintf("请到%d号窗口", addr)}
	}
	for i, err := range applyAll(ctx, ss, map[int]wire.DesiredMsg{0: doc(1, lines(1, 1)...), 1: doc(1, lines(1, 2)...), 2: doc(1, lines(1, 3)...)}) {
		if err != nil {
			t.Fatalf("screen %d: %v", i+1, err)
		}
	}
	for a := 1; a <= 3; a++ {
		if got := bus.Screen(a).Lines(); !slices.Equal(got, lines(1, a)) {
			t.Fatalf("screen %d shows %q, want %q", a, got, lines(1, a))
		}
	}

	// Screen 2 goes silent; calls to all three at once.
	bus.Screen(2).SetFaults(ledemu.Faults{Unplug: true})
	errs := applyAll(ctx, ss, map[int]wire.DesiredMsg{0: doc(2, lines(2, 1)...), 1: doc(2, lines(2, 2)...), 2: doc(2, lines(2, 3)...)})
	if Code(errs[1]) != CodeTimeout || !errors.Is(errs[1], ErrTimeout) {
		t.Fatalf("silent screen 2: %v", errs[1])
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil {
			t.Fatalf("screen %d beside a silent one: %v", i+1, errs[i])
		}
		if got := bus.Screen(i + 1).Lines(); !slices.Equal(got, lines(2, i+1)) {
			t.Fatalf("screen %d shows %q", i+1, got)
		}
		if m, _ := ss[i].st.last(); m.State != wire.StateOnline {
			t.Fatalf("screen %d status %+v", i+1, m)
		}
	}
	ss[1].st.wait(t, ctx, wire.StateFault, CodeNoReply)
	if got := bus.Screen(2).Lines(); !slices.Equal(got, lines(1, 2)) {
		t.Fatalf("silent screen changed: %q", got)
	}

	// Faulty on a shared line, screen 2 gets one try per frame. It now
	// takes frames without answering (Drop), so they can be counted; the
	// frames of an exchange on screen 1 come after, so once that is
	// answered the bus has seen everything sent to 2.
	bus.Screen(2).SetFaults(ledemu.Faults{Drop: true})
	sync := func(v uint64) {
		t.Helper()
		if err := ss[0].d.Apply(ctx, doc(v, lines(v, 1)...)); err != nil {
			t.Fatal(err)
		}
	}
	sync(3)
	n0 := len(bus.Screen(2).Frames())
	if err := ss[1].d.Apply(ctx, doc(3, lines(3, 2)...)); Code(err) != CodeTimeout {
		t.Fatalf("silent screen 2 again: %v", err)
	}
	sync(4)
	if n := len(bus.Screen(2).Frames()) - n0; n != 1 {
		t.Fatalf("faulty screen on a chain got %d frames for one, want no retry", n)
	}

	// It answers again: the next call gets through and it is online.
	bus.Screen(2).SetFaults(ledemu.Faults{})
	if err := ss[1].d.Apply(ctx, doc(4, lines(4, 2)...)); err != nil {
		t.Fatalf("screen 2 answering again: %v", err)
	}
	ss[1].st.wait(t, ctx, wire.StateOnline, "")
	for a := 1; a <= 3; a++ {
		want := map[int][]string{1: lines(4, 1), 2: lines(4, 2), 3: lines(2, 3)}[a]
		if got := bus.Screen(a).Lines(); !slices.Equal(got, want) {
			t.Fatalf("screen %d shows %q, want %q", a, got, want)
		}
	}
}

// pipeBus hands out in-memory ports all served by one bus, and can refuse
// to open (port missing) or pull the plug.
type pipeBus struct {
	bus    *ledemu.Bus
	mu     sync.Mutex
	refuse bool
	cur    net.Conn
	opens  chan struct{}
}

func (p *pipeBus) open(ctx context.Context, path string, baud int) (device.Port, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() { p.opens <- struct{}{} }()
	if p.refuse {
		return nil, errors.New("no such file or directory")
	}
	a, b := net.Pipe()
	p.cur = b
	go func() { _ = p.bus.Serve(ctx, b) }()
	return a, nil
}

// The chain's port fails: every screen on it reports offline, the line
// reopens it once (one open per failure, not one per screen), and every
// screen shows its last document again.
func TestChainPortLost(t *testing.T) {
	ctx := testCtx(t)
	pb := &pipeBus{bus: onbonBus(t, 1, 2, 3), opens: make(chan struct{}, 16)}
	clock := clockwork.NewFakeClock()
	var cfgs []string
	for a := 1; a <= 3; a++ {
		cfgs = append(cfgs, fmt.Sprintf(`{id: led-%d, kind: led-display, port: /dev/ttyUSB9, address: %d, options: {probe_interval: 0s}}`, a, a))
	}
	ss := chainRig(t, ctx, clock, pb.open, cfgs...)
	<-pb.opens
	for i, s := range ss {
		s.st.wait(t, ctx, wire.StateOnline, "")
		if err := s.d.Apply(ctx, doc(1, fmt.Sprintf("A00%d", i+1))); err != nil {
			t.Fatal(err)
		}
	}

	pb.mu.Lock()
	pb.refuse = true
	pb.cur.Close()
	pb.mu.Unlock()
	for _, s := range ss {
		s.st.wait(t, ctx, wire.StateOffline, CodeOffline)
	}
	for i, s := range ss { // new documents while the port is gone
		if err := s.d.Apply(ctx, doc(2, fmt.Sprintf("B00%d", i+1))); Code(err) != CodeOffline {
			t.Fatalf("apply while the port is gone: %v", err)
		}
	}
	clock.BlockUntilContext(ctx, 1) // the line's backoff
	clock.Advance(serialport.DefaultBackoff.Min)
	<-pb.opens // refused
	for _, s := range ss {
		s.st.wait(t, ctx, wire.StateOffline, CodePortGone)
	}
	clock.BlockUntilContext(ctx, 1)
	pb.mu.Lock()
	pb.refuse = false
	pb.mu.Unlock()
	clock.Advance(serialport.DefaultBackoff.Max)
	<-pb.opens
	for i, s := range ss {
		if err := pb.bus.Screen(i+1).WaitLines(ctx, []string{fmt.Sprintf("B00%d", i+1)}); err != nil {
			t.Fatal(err)
		}
		s.st.wait(t, ctx, wire.StateOnline, "")
	}
	if n := len(pb.opens); n != 0 {
		t.Fatalf("%d extra opens of one line", n)
	}
}

// Screens that cannot share a line are refused when they start: the same
// address twice, or another baud on the same port.
func TestChainConflicts(t *testing.T) {
	ctx := testCtx(t)
	pb := &pipeBus{bus: onbonBus(t, 1, 2), opens: make(chan struct{}, 16)}
	clock := clockwork.NewFakeClock()
	lines := newLineSet()
	mk := func(y string) *Driver {
		dev, err := New(parseCfg(t, y), device.Env{Clock: clock, OpenPort: pb.open})
		if err != nil {
			t.Fatal(err)
		}
		d := dev.(*Driver)
		d.lines = lines
		return d
	}
	first := mk(`{id: led-1, kind: led-display, port: /dev/ttyUSB9, address: 1}`)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- first.Run(runCtx) }()
	<-pb.opens
	for _, tc := range []struct{ yaml, want string }{
		{`{id: led-2, kind: led-display, port: /dev/ttyUSB9}`, "address 1 is also device led-1"},
		{`{id: led-2, kind: led-display, port: /dev/ttyUSB9, address: 2, baud: 9600}`, "baud 9600 differs from 57600"},
		{`{id: led-2, kind: led-display, protocol: modbus-rtu, port: /dev/ttyUSB9, address: 2, baud: 57600}`, "protocol modbus-rtu differs"},
	} {
		err := mk(tc.yaml).Run(ctx)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(lines.m) != 0 {
		t.Fatal("line left open")
	}
}

// Modbus RTU text displays share a line the same way: the line moves the
// profile's frames and the profile matches each reply by unit address.
func TestChainModbus(t *testing.T) {
	ctx := testCtx(t)
	f, err := framer.Compile(framer.ModbusRTUText)
	if err != nil {
		t.Fatal(err)
	}
	var es []*ledemu.Emulator
	for _, a := range []int{3, 4} {
		e, err := ledemu.New(ledemu.Opts{Protocol: ledemu.Modbus, Address: a, Framer: f})
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	bus, err := ledemu.NewBus(es...)
	if err != nil {
		t.Fatal(err)
	}
	pb := &pipeBus{bus: bus, opens: make(chan struct{}, 16)}
	ss := chainRig(t, ctx, clockwork.NewFakeClock(), pb.open,
		`{id: led-3, kind: led-display, protocol: modbus-rtu, port: /dev/ttyUSB7, address: 3, options: {panel: 128x32}}`,
		`{id: led-4, kind: led-display, protocol: modbus-rtu, port: /dev/ttyUSB7, address: 4, options: {panel: 128x32}}`)
	for _, s := range ss {
		s.st.wait(t, ctx, wire.StateOnline, "")
	}
	want := map[int][]string{3: {"B007", "请到3号窗口"}, 4: {"C008", "请到4号窗口"}}
	for i, err := range applyAll(ctx, ss, map[int]wire.DesiredMsg{0: doc(1, want[3]...), 1: doc(1, want[4]...)}) {
		if err != nil {
			t.Fatalf("screen %d: %v", i, err)
		}
	}
	for a, w := range want {
		if got := bus.Screen(a).Lines(); !slices.Equal(got, w) {
			t.Fatalf("unit %d shows %q, want %q", a, got, w)
		}
	}
	if len(pb.opens) != 1 {
		t.Fatalf("%d opens for one line", len(pb.opens))
	}
}

// On a chain, the probe finds the screen that went silent (and lost its
// panel with its power) while the other keeps working, and when it
// answers again it gets its last document back and is online.
func TestChainProbeRecovers(t *testing.T) {
	ctx := testCtx(t)
	pb := &pipeBus{bus: onbonBus(t, 1, 2), opens: make(chan struct{}, 16)}
	clock := clockwork.NewFakeClock()
	ss := chainRig(t, ctx, clock, pb.open,
		`{id: led-1, kind: led-display, port: /dev/ttyUSB9, address: 1, options: {probe_interval: 0s}}`,
		`{id: led-2, kind: led-display, port: /dev/ttyUSB9, address: 2, options: {probe_interval: 10s}}`)
	for _, s := range ss {
		s.st.wait(t, ctx, wire.StateOnline, "")
	}
	two := pb.bus.Screen(2)
	if err := ss[1].d.Apply(ctx, doc(1, "A002")); err != nil {
		t.Fatal(err)
	}
	two.SetFaults(ledemu.Faults{Unplug: true})
	two.PowerCycle()
	clock.BlockUntilContext(ctx, 1) // screen 2's probe ticker
	clock.Advance(10 * time.Second)
	for range 2 { // the ping and its retry time out
		clock.BlockUntilContext(ctx, 2) // ticker + reply timer
		clock.Advance(500 * time.Millisecond)
	}
	ss[1].st.wait(t, ctx, wire.StateFault, CodeNoReply)

	if err := ss[0].d.Apply(ctx, doc(1, "A001")); err != nil {
		t.Fatalf("screen 1 beside a silent one: %v", err)
	}
	if got := pb.bus.Screen(1).Lines(); !slices.Equal(got, []string{"A001"}) {
		t.Fatalf("screen 1 shows %q", got)
	}

	two.SetFaults(ledemu.Faults{})
	clock.Advance(10 * time.Second) // next tick: ping answered, document re-sent
	if err := two.WaitLines(ctx, []string{"A002"}); err != nil {
		t.Fatal(err)
	}
	ss[1].st.wait(t, ctx, wire.StateOnline, "")
	if m, _ := ss[0].st.last(); m.State != wire.StateOnline {
		t.Fatalf("screen 1 status %+v", m)
	}
}
