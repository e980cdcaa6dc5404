package idcard

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/idcardemu"
	"github.com/servicehall/servicehall/firmware-agent/ptypair"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

// watchdog bounds every wait of a test; it is not used to synchronise.
const watchdog = 10 * time.Second

var testSecret = []byte("hall-secret-for-tests")

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type events struct{ ch chan wire.Card }

func (e *events) Emit(_ context.Context, typ string, data any) error {
	if typ != wire.EvtCard {
		return fmt.Errorf("unexpected event type %q", typ)
	}
	e.ch <- data.(wire.Card)
	return nil
}

type statuses struct{ ch chan wire.DevStatusMsg }

func (s *statuses) SetStatus(m wire.DevStatusMsg) { s.ch <- m }

// harness runs the driver with a fake clock in lock-step with the test:
// the driver announces each poll wait on idle, the test lets time pass.
type harness struct {
	t      *testing.T
	ctx    context.Context
	clock  *clockwork.FakeClock
	r      *Reader
	idle   chan struct{}
	events *events
	status *statuses
	logs   *lockedBuf
	done   chan error

	mu   sync.Mutex
	tx   []idcardemu.Exchange // emulator transcript
	kick chan struct{}
}

type hopts struct {
	opts     func(*Opts)
	emu      idcardemu.Opts
	card     bool // present idcardemu.DemoCard before start
	openPort device.PortOpener
	cfg      func(*device.Config)
	noWait   bool // do not wait for the first idle
	env      func(*device.Env)
}

// start makes a pty pair and an emulator, then runs the driver on it.
func start(t *testing.T, ho hopts) (*harness, *idcardemu.Emulator, *ptypair.Pair) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	h := &harness{
		t: t, ctx: ctx, clock: clockwork.NewFakeClock(), idle: make(chan struct{}),
		events: &events{ch: make(chan wire.Card, 16)},
		status: &statuses{ch: make(chan wire.DevStatusMsg, 64)},
		logs:   &lockedBuf{}, done: make(chan error, 1), kick: make(chan struct{}, 1),
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pair, err := ptypair.Open()
	if err != nil {
		t.Fatal(err)
	}
	eo := ho.emu
	eo.Log = log
	eo.OnExchange = func(x idcardemu.Exchange) {
		h.mu.Lock()
		h.tx = append(h.tx, x)
		h.mu.Unlock()
		select {
		case h.kick <- struct{}{}:
		default:
		}
	}
	emu := idcardemu.New(eo)
	if ho.card {
		if err := emu.Present(idcardemu.DemoCard()); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = emu.Run(ctx, pair.Master) })

	cfg := device.Config{ID: "reader-1", Kind: Kind, Port: pair.Path()}
	if ho.cfg != nil {
		ho.cfg(&cfg)
	}
	open := ho.openPort
	if open == nil {
		open = func(ctx context.Context, path string, baud int) (device.Port, error) {
			return serialport.Open(ctx, path, baud)
		}
	}
	env := device.Env{Log: log, Clock: h.clock, Events: h.events, Status: h.status,
		OpenPort: open, Secret: testSecret, Hall: "h", Agent: "a"}
	if ho.env != nil {
		ho.env(&env)
	}
	r, err := newReader(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	r.opts.Poll = time.Second
	r.opts.Timeout = 300 * time.Millisecond
	r.opts.ReadTimeout = 1100 * time.Millisecond
	r.opts.Repeat = 0
	if ho.opts != nil {
		ho.opts(&r.opts)
	}
	r.onIdle = func() {
		select {
		case h.idle <- struct{}{}:
		case <-ctx.Done():
		}
	}
	h.r = r
	go func() { h.done <- r.Run(ctx) }()
	if !ho.noWait {
		h.waitIdle() // status answered, first poll due
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(watchdog):
			t.Error("Run did not return after cancel")
		}
		wg.Wait()
		pair.Close()
	})
	return h, emu, pair
}

// waitIdle waits until the driver is about to wait one poll interval.
func (h *harness) waitIdle() {
	h.t.Helper()
	select {
	case <-h.idle:
	case <-time.After(watchdog):
		h.t.Fatal("driver never went idle")
	}
}

// advanceWhenBlocked lets d pass once the driver waits on one timer.
func (h *harness) advanceWhenBlocked(d time.Duration) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, watchdog)
	defer cancel()
	if err := h.clock.BlockUntilContext(ctx, 1); err != nil {
		h.t.Fatal("driver not waiting on a timer:", err)
	}
	h.clock.Advance(d)
}

// tick runs one poll cycle: from idle, one poll interval passes and the
// driver polls and goes idle again. Events are emitted before it idles.
func (h *harness) tick() {
	h.t.Helper()
	h.advanceWhenBlocked(h.r.opts.Poll)
	h.waitIdle()
}

// tickTimeout runs a poll cycle whose command goes unanswered.
func (h *harness) tickTimeout() {
	h.t.Helper()
	h.advanceWhenBlocked(h.r.opts.Poll)
	h.advanceWhenBlocked(h.r.opts.Timeout)
	h.waitIdle()
}

// waitStatus waits for a status with this state and code.
func (h *harness) waitStatus(state, code string) wire.DevStatusMsg {
	h.t.Helper()
	for {
		select {
		case s := <-h.status.ch:
			if s.State == state && s.Code == code {
				return s
			}
		case <-time.After(watchdog):
			h.t.Fatalf("no status %s/%s", state, code)
		}
	}
}

// event takes the pending card event; call it after a tick.
func (h *harness) event() wire.Card {
	h.t.Helper()
	select {
	case c := <-h.events.ch:
		return c
	default:
		h.t.Log(h.logs.String())
		h.t.Fatal("no card event")
	}
	return wire.Card{}
}

// noEvent checks no event is pending; call it after a tick.
func (h *harness) noEvent() {
	h.t.Helper()
	select {
	case c := <-h.events.ch:
		h.t.Fatalf("unexpected card event %+v", c)
	default:
	}
}

// commands lists the emulator's handled commands so far.
func (h *harness) commands() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s []string
	for _, x := range h.tx {
		n := x.Command.String()
		if x.Dropped {
			n += "(dropped)"
		}
		s = append(s, n)
	}
	return strings.Join(s, " ")
}

// transcript renders the exchanges as "> hex" / "< hex" lines.
func (h *harness) transcript() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, x := range h.tx {
		fmt.Fprintf(&b, "> %s\n", strings.ToUpper(hex.EncodeToString(x.In)))
		if !x.Dropped {
			fmt.Fprintf(&b, "< %s\n", strings.ToUpper(hex.EncodeToString(x.Out)))
		}
	}
	return b.String()
}

var errUnplugged = errors.New("test: unplugged")

// waitCommands waits until the emulator has handled exactly want.
func (h *harness) waitCommands(want string) {
	h.t.Helper()
	for {
		got := h.commands()
		if got == want {
			return
		}
		if len(got) > len(want) {
			h.t.Fatalf("commands:\n got %s\nwant %s", got, want)
		}
		select {
		case <-h.kick:
		case <-time.After(watchdog):
			h.t.Fatalf("commands:\n got %s\nwant %s", got, want)
		}
	}
}

func clockworkFake() *clockwork.FakeClock { return clockwork.NewFakeClock() }
