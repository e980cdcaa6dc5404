package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

// Device status codes the agent sets itself.
const (
	CodeSkipped     = "skipped"      // factory said device.ErrUnavailable
	CodeStartFailed = "start_failed" // factory failed otherwise
	CodeRunError    = "run_error"    // Run returned an error; restarting
)

// dev is one configured device and what the agent keeps for it.
type dev struct {
	cfg  device.Config
	info wire.DeviceInfo
	dev  device.Device // nil when skipped or failed
	cmd  device.Commander
	disp device.Displayer
	q    *queue // commands and desired documents, one at a time

	mu       sync.Mutex
	status   wire.DevStatusMsg
	statusOK bool // status was set at least once
	reported *wire.ReportedMsg
	accepted uint64           // highest desired version taken
	pending  *wire.DesiredMsg // newest desired not yet applied
	topics   struct{ status, reported string }
}

func (a *Agent) addDevice(cfg device.Config) {
	d := &dev{cfg: cfg, info: cfg.Info(), q: newQueue()}
	d.topics.status = wire.DevStatus(a.hall, a.id, cfg.ID)
	d.topics.reported = wire.Reported(a.hall, a.id, cfg.ID)
	a.devs[cfg.ID] = d
	a.order = append(a.order, d)
	log := a.log.With("device", cfg.ID, "kind", cfg.Kind)
	env := device.Env{
		Log:      log,
		Clock:    a.clock,
		Events:   &events{a: a, dev: cfg.ID},
		Status:   &statusSink{a: a, d: d},
		OpenPort: a.opts.OpenPort,
		OpenPin:  a.opts.OpenPin,
		StateDir: filepath.Join(a.cfg.Agent.StateDir, cfg.ID),
		Hall:     a.hall,
		Agent:    a.id,
		Secret:   a.secret,
		Ctl:      ctlLink{a},
		KV:       devKV{a: a, dev: cfg.ID},
		Peers:    peers{a},
	}
	factory, _ := a.opts.Lookup(cfg.Kind) // CheckKinds ran in New
	var dv device.Device
	// Drivers may keep files in their own directory (virtual paper, WAVs).
	err := os.MkdirAll(env.StateDir, 0o750)
	if err == nil {
		dv, err = safeFactory(factory, cfg, env)
	}
	switch {
	case err == nil && dv == nil:
		err = errors.New("driver returned no device")
		fallthrough
	case err != nil && !errors.Is(err, device.ErrUnavailable):
		d.info.State, d.info.Reason = Failed, err.Error()
		d.status = wire.DevStatusMsg{State: wire.StateFault, Code: CodeStartFailed, Detail: err.Error()}
		log.Error("device failed to start", "err", err)
	case err != nil:
		d.info.State, d.info.Reason = Skipped, err.Error()
		d.status = wire.DevStatusMsg{State: wire.StateOffline, Code: CodeSkipped, Detail: err.Error()}
		log.Warn("device skipped", "reason", err)
	default:
		d.info.State = Loaded
		d.dev = dv
		d.cmd, _ = dv.(device.Commander)
		d.disp, _ = dv.(device.Displayer)
		if c, ok := dv.(device.Capper); ok {
			d.info.Caps = c.Caps()
		}
		d.status = wire.DevStatusMsg{State: wire.StateOnline} // until the driver says otherwise
		log.Info("device loaded")
	}
	d.statusOK = true
}

func safeFactory(f device.Factory, cfg device.Config, env device.Env) (d device.Device, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("driver panic: %v", r)
		}
	}()
	return f(cfg, env)
}

// supervise runs a device and restarts it with backoff when Run fails.
func (a *Agent) supervise(ctx context.Context, d *dev) {
	backoff := serialport.Backoff{Min: a.opts.RestartMin, Max: a.opts.RestartMax}
	var delay time.Duration
	for {
		start := a.clock.Now()
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("driver panic: %v", r)
				}
			}()
			return d.dev.Run(ctx)
		}()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("Run returned before the agent stopped")
		}
		if a.clock.Since(start) > a.opts.RestartMax {
			delay = 0 // it ran a good while: start the backoff over
		}
		delay = backoff.Next(delay)
		a.stats.deviceRestarts.Add(1)
		a.log.Error("device stopped; restarting", "device", d.cfg.ID, "err", err, "retry_in", delay)
		a.setStatus(d, wire.DevStatusMsg{State: wire.StateFault, Code: CodeRunError, Detail: err.Error()})
		if !serialport.Sleep(ctx, a.clock, delay) {
			return
		}
		// Restarting: online until the driver reports otherwise.
		a.setStatus(d, wire.DevStatusMsg{State: wire.StateOnline})
	}
}

// setStatus keeps the device's last status and publishes it retained.
// Publishing under d.mu keeps the broker's order equal to the call order.
func (a *Agent) setStatus(d *dev, s wire.DevStatusMsg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status, d.statusOK = s, true
	a.publishAsync(d.topics.status, true, wire.Marshal(s))
}

func (d *dev) setReported(a *Agent, r wire.ReportedMsg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reported = &r
	a.publishAsync(d.topics.reported, true, wire.Marshal(r))
}

// republishRetained sends every device's last status and report on a new
// connection.
func (a *Agent) republishRetained(cn *conn) []mqtt.Token {
	var toks []mqtt.Token
	for _, d := range a.order {
		d.mu.Lock()
		if d.statusOK {
			toks = append(toks, cn.c.Publish(d.topics.status, 1, true, wire.Marshal(d.status)))
		}
		if d.reported != nil {
			toks = append(toks, cn.c.Publish(d.topics.reported, 1, true, wire.Marshal(*d.reported)))
		}
		d.mu.Unlock()
	}
	return toks
}

// events is a device's device.Events: Emit commits to the outbox.
type events struct {
	a   *Agent
	dev string
}

// Emit writes the event durably to the outbox and wakes the sender.
func (e *events) Emit(ctx context.Context, typ string, data any) error {
	if !wire.ValidID(typ) {
		return fmt.Errorf("emit: event type %q is not a topic level", typ)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("emit %s: %w", typ, err)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return fmt.Errorf("emit %s: data must be a JSON object", typ)
	}
	if len(raw) > wire.MaxPayload-512 {
		return fmt.Errorf("emit %s: %w: %d bytes", typ, wire.ErrTooLarge, len(raw))
	}
	a := e.a
	if _, err := a.store.Append(ctx, wire.Event(a.hall, a.id, e.dev, typ), a.clock.Now(), raw); err != nil {
		return fmt.Errorf("emit %s: %w", typ, err)
	}
	a.stats.eventsEmitted.Add(1)
	a.kickOutbox()
	return nil
}

// statusSink is a device's device.Status.
type statusSink struct {
	a *Agent
	d *dev
}

// SetStatus publishes the device's retained status (kept for reconnects).
func (s *statusSink) SetStatus(m wire.DevStatusMsg) {
	switch m.State {
	case wire.StateOnline, wire.StateOffline, wire.StateFault:
	default:
		s.a.log.Warn("driver set an invalid status; reported as fault", "device", s.d.cfg.ID, "state", m.State)
		m = wire.DevStatusMsg{State: wire.StateFault, Code: CodeDriverError, Detail: fmt.Sprintf("invalid state %q", m.State)}
	}
	s.a.setStatus(s.d, m)
}

var (
	_ device.Events = (*events)(nil)
	_ device.Status = (*statusSink)(nil)
)
