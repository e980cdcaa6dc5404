// Package printer is the escpos-printer device driver: it opens the
// printer's serial line (reconnecting with backoff after an unplug), polls
// its real-time status (DLE EOT 1–4, and Automatic Status Back when
// enabled) into the device's status topic, and prints cmd/print jobs
// rendered by escpos/ticket. A print is acked done only when the printer
// answers the GS r 1 that follows the job (it is processed in order, so the
// answer means everything before it was printed); otherwise failed with a
// stable code: paper_out, cover_open, cutter_error, printer_error, offline
// or timeout.
//
// With `emulate: true` the driver runs escposemu on a pseudo-terminal in
// its state dir and prints to it; the virtual paper goes to paper.txt
// there and to the log, and faults are injected by writing words such as
// paper_out or cover_open to the file "faults" there (escposemu.ApplyFaults).
package printer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"go.bug.st/serial"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos"
	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos/escposemu"
	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos/ticket"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

func init() { device.Register(wire.KindPrinter, New) }
func init() { device.RegisterOptions(wire.KindPrinter, Options{}) }

// Codes of failed acks and statuses besides the escpos status codes.
const (
	CodeTimeout      = "timeout"      // no answer in time (printer busy, mute or off)
	CodeDisconnected = "disconnected" // port missing or gone (status only)
	CodeNoReply      = "no_reply"     // port open but the printer does not answer (status only)
	CodeBadArgs      = "bad_args"
	CodeUnknown      = "unknown_command"
)

// Sentinel errors.
var (
	ErrOffline = errors.New("printer not connected")
	ErrTimeout = errors.New("printer did not answer")
)

// Printer is the driver of one ESC/POS printer.
type Printer struct {
	cfg   device.Config
	env   device.Env
	set   settings
	log   *slog.Logger
	clock clockwork.Clock
	emu   *escposemu.Emulator

	jobMu sync.Mutex // one job at a time

	mu     sync.Mutex
	sess   *session
	st     escpos.Status
	last   wire.DevStatusMsg
	hasSt  bool
	online chan struct{} // closed when a session is up; replaced when it ends
}

// New provisions a printer from its config (the device.Factory).
func New(cfg device.Config, env device.Env) (device.Device, error) {
	var o Options
	if err := cfg.DecodeOptions(&o); err != nil {
		return nil, err
	}
	if cfg.Emulate && o.Model == "" {
		o.Model = "emulator"
	}
	s, err := o.settings()
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", cfg.ID, err)
	}
	if !cfg.Emulate {
		if cfg.Port == "" {
			return nil, fmt.Errorf("device %s: port is required (or emulate: true)", cfg.ID)
		}
		if _, err := os.Stat(cfg.Port); err != nil {
			return nil, fmt.Errorf("device %s: %w: %v", cfg.ID, device.ErrUnavailable, err)
		}
	}
	if env.Clock == nil {
		env.Clock = clockwork.NewRealClock()
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	if env.OpenPort == nil {
		env.OpenPort = func(ctx context.Context, path string, baud int) (device.Port, error) {
			return serialport.Open(ctx, path, baud)
		}
	}
	p := &Printer{cfg: cfg, env: env, set: s, clock: env.Clock,
		log: env.Log.With("device", cfg.ID, "kind", wire.KindPrinter), online: make(chan struct{})}
	return p, nil
}

// Caps lists what the printer does for the birth message.
func (p *Printer) Caps() []string {
	c := []string{"qr", "cut", "gb18030", fmt.Sprintf("width-%dmm", p.set.widthMM)}
	if p.set.asb {
		c = append(c, "asb")
	}
	return c
}

// Emulator returns the emulated printer (nil unless emulate is on and Run
// has started it), for fault injection in the demo and black-box tests.
func (p *Printer) Emulator() *escposemu.Emulator {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.emu
}

// Run keeps a session with the printer until ctx ends.
func (p *Printer) Run(ctx context.Context) error {
	path := p.cfg.Port
	if p.cfg.Emulate {
		line, err := p.startEmulator(ctx)
		if err != nil {
			return err
		}
		defer line.Close()
		path = line.Path()
	}
	var wait time.Duration
	for ctx.Err() == nil {
		port, err := p.env.OpenPort(ctx, path, p.cfg.Baud)
		if err != nil {
			p.report(wire.DevStatusMsg{State: wire.StateOffline, Code: CodeDisconnected, Detail: err.Error()})
			wait = serialport.DefaultBackoff.Next(wait)
			p.log.Debug("printer open failed", "err", err, "retry_in", wait)
			if !serialport.Sleep(ctx, p.clock, wait) {
				break
			}
			continue
		}
		err = p.serve(ctx, port)
		port.Close()
		if ctx.Err() != nil {
			break
		}
		p.log.Warn("printer line lost", "err", err)
		p.report(wire.DevStatusMsg{State: wire.StateOffline, Code: CodeDisconnected, Detail: errString(err)})
		wait = serialport.DefaultBackoff.Next(0)
		if !serialport.Sleep(ctx, p.clock, wait) {
			break
		}
	}
	return nil
}

func (p *Printer) startEmulator(ctx context.Context) (*escposemu.Line, error) {
	dir := p.env.StateDir
	if dir == "" {
		d, err := os.MkdirTemp("", "escpos-"+p.cfg.ID+"-")
		if err != nil {
			return nil, fmt.Errorf("printer emulator: %w", err)
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("printer emulator: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "paper.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("printer emulator: %w", err)
	}
	context.AfterFunc(ctx, func() { f.Close() })
	emu := escposemu.New(escposemu.Opts{Clock: p.clock, Log: p.log.With("emulator", true), Paper: f})
	line, err := escposemu.Plug(ctx, emu, escposemu.LinkIn(dir))
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.emu = emu
	p.mu.Unlock()
	faults := filepath.Join(dir, "faults")
	go emu.WatchFaultFile(ctx, p.clock, faults, time.Second)
	p.log.Info("printer emulator running", "link", line.Path(), "paper", f.Name(), "faults", faults)
	return line, nil
}

// serve runs one session on an open port until the line dies or ctx ends.
func (p *Printer) serve(ctx context.Context, port device.Port) error {
	s := newSession(port, p.clock, p.onASB)
	go s.readLoop()
	mask := byte(0)
	if p.set.asb {
		mask = 0x0f
	}
	if err := s.write(ctx, escpos.EnableASB(mask), p.set.reply); err != nil {
		return err
	}
	p.mu.Lock()
	p.sess = s
	close(p.online)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.sess = nil
		p.online = make(chan struct{})
		p.mu.Unlock()
	}()
	for {
		p.poll(ctx, s)
		t := p.clock.NewTimer(p.set.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.dead:
			t.Stop()
			return s.err
		case <-t.Chan():
		}
	}
}

// poll asks DLE EOT 1–4 and reports the result.
func (p *Printer) poll(ctx context.Context, s *session) {
	st, err := s.realtime(ctx, p.set.reply)
	switch {
	case err == nil:
		p.setStatus(st)
	case errors.Is(err, ErrTimeout):
		p.report(wire.DevStatusMsg{State: wire.StateOffline, Code: CodeNoReply, Detail: "no answer to DLE EOT"})
	}
}

func (p *Printer) onASB(b [4]byte) {
	p.mu.Lock()
	st := p.st
	p.mu.Unlock()
	if err := st.ApplyASB(b); err != nil {
		return
	}
	p.setStatus(st)
}

// setStatus records st and reports it on the status topic.
func (p *Printer) setStatus(st escpos.Status) {
	p.mu.Lock()
	p.st = st
	p.mu.Unlock()
	p.report(statusMsg(st))
}

// statusMsg maps printer status onto the wire: near end still prints
// (online + code), an offline printer without a known cause is offline,
// everything else that stops printing is a fault.
func statusMsg(st escpos.Status) wire.DevStatusMsg {
	switch code := st.Code(); code {
	case "":
		return wire.DevStatusMsg{State: wire.StateOnline}
	case escpos.CodePaperNearEnd:
		return wire.DevStatusMsg{State: wire.StateOnline, Code: code}
	case escpos.CodeOffline:
		return wire.DevStatusMsg{State: wire.StateOffline, Code: code}
	default:
		return wire.DevStatusMsg{State: wire.StateFault, Code: code}
	}
}

// report sends m when it differs from what was last reported.
func (p *Printer) report(m wire.DevStatusMsg) {
	p.mu.Lock()
	same := p.hasSt && p.last.State == m.State && p.last.Code == m.Code
	p.last, p.hasSt = m, true
	p.mu.Unlock()
	if same {
		return
	}
	p.log.Info("printer status", "state", m.State, "code", m.Code)
	if p.env.Status != nil {
		p.env.Status.SetStatus(m)
	}
}

// Handle runs a command; only print is known.
func (p *Printer) Handle(ctx context.Context, name string, args []byte) device.Result {
	if name != wire.CmdPrint {
		return device.Rejected(CodeUnknown, fmt.Errorf("printer has no command %q", name))
	}
	var job wire.Print
	if err := wire.DecodeArgs(args, &job); err != nil {
		return device.Rejected(CodeBadArgs, err)
	}
	data, err := ticket.Render(job, p.set.layout)
	if err != nil {
		return device.Rejected(CodeBadArgs, err)
	}
	return p.Print(ctx, data)
}

// Print sends a rendered job and waits for the printer to confirm it.
func (p *Printer) Print(ctx context.Context, data []byte) device.Result {
	p.jobMu.Lock()
	defer p.jobMu.Unlock()
	p.mu.Lock()
	s := p.sess
	p.mu.Unlock()
	if s == nil {
		return device.Failed(escpos.CodeOffline, ErrOffline)
	}
	// Check first: a job sent to an offline printer may print much later,
	// after the hall has been told it failed.
	st, err := s.realtime(ctx, p.set.reply)
	if err != nil {
		return p.failure(err)
	}
	p.setStatus(st)
	if !st.CanPrint() {
		return device.Failed(st.Code(), fmt.Errorf("printer reports %s", st.Code()))
	}
	if err := s.write(ctx, data, p.set.job); err != nil {
		return p.failure(err)
	}
	b, err := s.paper(ctx, p.set.job)
	if err != nil {
		if errors.Is(err, ErrTimeout) {
			// Ask why: the real-time status works while offline.
			if st2, err2 := s.realtime(ctx, p.set.reply); err2 == nil {
				p.setStatus(st2)
				if !st2.CanPrint() {
					return device.Failed(st2.Code(), fmt.Errorf("printer reports %s", st2.Code()))
				}
			}
		}
		return p.failure(err)
	}
	st.ApplyPaper(b)
	p.setStatus(st)
	if st.PaperEnd {
		return device.Failed(escpos.CodePaperOut, errors.New("paper ran out"))
	}
	return device.Done
}

func (p *Printer) failure(err error) device.Result {
	switch {
	case errors.Is(err, ErrTimeout):
		return device.Failed(CodeTimeout, err)
	case errors.Is(err, ErrOffline):
		return device.Failed(escpos.CodeOffline, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return device.Failed(CodeTimeout, err)
	}
	return device.Failed(escpos.CodeOffline, err)
}

// WaitOnline blocks until a session with the printer is up (for tests and
// the demo's start-up).
func (p *Printer) WaitOnline(ctx context.Context) error {
	p.mu.Lock()
	ch := p.online
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// isPortGone reports whether a read error means the far end went away.
func isPortGone(err error) bool {
	var pe *serial.PortError
	return errors.As(err, &pe) || errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var (
	_ device.Device    = (*Printer)(nil)
	_ device.Commander = (*Printer)(nil)
	_ device.Capper    = (*Printer)(nil)
)
