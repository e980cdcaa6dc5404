// Package ratingpad drives a window's satisfaction evaluator (评价器): up to
// five GPIO buttons on the national five-level scale, 5 非常满意, 4 满意,
// 3 基本满意, 2 不满意, 1 非常不满意 (a four-button pad maps to the top
// four). Each button is debounced (drivers/gpio/debounce).
//
// A rating is only taken inside an evaluation session: hallctl opens one
// with cmd/rating-open {session, ticket, window, timeout_s} when a case is
// finished. The first valid press wins and is sent as evt/rating
// {session, level}, which closes the session; timeout_s (or
// cmd/rating-close) closes it without a rating. Presses outside a session
// are ignored and counted. A button held past stuck_s is reported as a
// fault (status fault, code stuck_button) until it is released, and its
// presses do not count meanwhile.
//
// Config:
//
//	devices:
//	  - {id: pad-8, kind: rating-pad, window: 8,
//	    pins: {"5": GPIO5, "4": GPIO6, "3": GPIO13, "2": GPIO19, "1": GPIO26},
//	    options: {confirm_ms: 30, lockout_ms: 500, stuck_s: 10, timeout_s: 60}}
package ratingpad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/gpio/debounce"
	"github.com/servicehall/servicehall/firmware-agent/drivers/gpio/pins"
	"github.com/servicehall/servicehall/wire"
)

func init() { device.Register(wire.KindRating, New) }
func init() { device.RegisterOptions(wire.KindRating, DefaultOptions) }

// Stable status codes.
const (
	CodeStuckButton = "stuck_button"
	CodeWrongWindow = "wrong_window"
	CodeBadArgs     = "bad_args"
	CodeUnknownCmd  = "unknown_command"
)

// Levels names the national scale, index = level.
var Levels = [...]string{1: "非常不满意", 2: "不满意", 3: "基本满意", 4: "满意", 5: "非常满意"}

// Options are the pad's `options:`.
type Options struct {
	debounce.Config `yaml:",inline"`
	// StuckS: a button held this long is a fault; default 10.
	StuckS int `yaml:"stuck_s"`
	// TimeoutS closes a session opened with timeout_s 0; default 60.
	TimeoutS int `yaml:"timeout_s"`
}

// DefaultOptions are used for fields left out.
var DefaultOptions = Options{StuckS: 10, TimeoutS: 60}

// Stats count what the pad saw.
type Stats struct {
	Rated    uint64 // ratings sent
	Ignored  uint64 // presses outside a session
	TimedOut uint64 // sessions closed by their timeout
}

type button struct {
	level int
	line  string
	pin   *debounce.Pin
}

type session struct {
	id    string
	timer clockwork.Timer
}

// Pad is a running rating pad.
type Pad struct {
	cfg      device.Config
	env      device.Env
	log      *slog.Logger
	stuckFor time.Duration
	timeout  time.Duration
	buttons  []button

	mu      sync.Mutex
	session *session
	stuck   map[int]bool
	stats   Stats
}

// New is the factory: it checks the config and finds every pin; a missing
// line makes the whole pad unavailable (a pad missing a level would skew
// the ratings).
func New(cfg device.Config, env device.Env) (device.Device, error) {
	o := DefaultOptions
	if err := cfg.DecodeOptions(&o); err != nil {
		return nil, err
	}
	var errs []error
	dopts, err := o.Opts()
	if err != nil {
		errs = append(errs, err)
	}
	if o.StuckS <= 0 {
		errs = append(errs, fmt.Errorf("stuck_s %d must be > 0", o.StuckS))
	}
	if o.TimeoutS <= 0 {
		errs = append(errs, fmt.Errorf("timeout_s %d must be > 0", o.TimeoutS))
	}
	if len(cfg.Pins) == 0 {
		errs = append(errs, errors.New("rating-pad needs pins: {\"5\": LINE, …, \"1\": LINE}"))
	}
	seen := map[string]string{}
	var levels []int
	for k, line := range cfg.Pins {
		lv, err := strconv.Atoi(k)
		if err != nil || lv < 1 || lv > 5 {
			errs = append(errs, fmt.Errorf("pins key %q is not a level 1..5", k))
			continue
		}
		if line == "" {
			errs = append(errs, fmt.Errorf("pins[%s] has no line", k))
			continue
		}
		if other, dup := seen[line]; dup {
			errs = append(errs, fmt.Errorf("line %s is used by levels %s and %s", line, other, k))
			continue
		}
		seen[line] = k
		levels = append(levels, lv)
	}
	if env.Events == nil {
		errs = append(errs, errors.New("env has no event sink"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("device %s: %w", cfg.ID, err)
	}
	if env.Clock == nil {
		env.Clock = clockwork.NewRealClock()
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(levels)))
	p := &Pad{
		cfg: cfg, env: env, log: env.Log.With("device", cfg.ID),
		stuckFor: time.Duration(o.StuckS) * time.Second,
		timeout:  time.Duration(o.TimeoutS) * time.Second,
		stuck:    map[int]bool{},
	}
	for _, lv := range levels {
		line := cfg.Pins[strconv.Itoa(lv)]
		if cfg.Emulate {
			if err := pins.Emulate(env.Clock, line); err != nil {
				return nil, fmt.Errorf("device %s: %w", cfg.ID, err)
			}
		}
		raw, err := pins.Open(env, line)
		if err != nil {
			return nil, fmt.Errorf("device %s level %d: %w", cfg.ID, lv, err)
		}
		p.buttons = append(p.buttons, button{level: lv, line: line, pin: debounce.New(raw, env.Clock, dopts)})
	}
	return p, nil
}

// Stats returns the counters.
func (p *Pad) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Open reports the open session id, "" when none.
func (p *Pad) Open() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.session == nil {
		return ""
	}
	return p.session.id
}

// Run watches every button until ctx ends.
func (p *Pad) Run(ctx context.Context) error {
	for _, b := range p.buttons {
		edge := gpio.FallingEdge
		if b.pin.Active() == gpio.High {
			edge = gpio.RisingEdge
		}
		if err := b.pin.In(gpio.PullNoChange, edge); err != nil {
			return fmt.Errorf("rating-pad %s level %d: %w", p.cfg.ID, b.level, err)
		}
	}
	p.setStatus()
	var wg sync.WaitGroup
	for _, b := range p.buttons {
		wg.Go(func() { p.watch(ctx, b) })
	}
	if p.cfg.Emulate && p.env.StateDir != "" {
		// An emulated pad is pressed by writing a level (1–5) to its pipe.
		wg.Go(func() {
			err := pins.ServeControl(ctx, filepath.Join(p.env.StateDir, "press"), func(line string) error {
				lv, err := strconv.Atoi(line)
				if err != nil {
					return err
				}
				for _, b := range p.buttons {
					if b.level == lv {
						return pins.Press(ctx, p.env.Clock, b.line, 100*time.Millisecond)
					}
				}
				return fmt.Errorf("no button for level %d", lv)
			})
			if err != nil {
				p.log.Warn("emulated pad control", "err", err)
			}
		})
	}
	wg.Wait()
	p.closeSession("")
	return nil
}

func (p *Pad) watch(ctx context.Context, b button) {
	clock := p.env.Clock
	pressed := b.pin.Read() == b.pin.Active() // held at start-up: watch for stuck
	pressedAt := clock.Now()
	stuck := false
	for {
		wait := time.Duration(-1)
		if pressed && !stuck {
			wait = max(0, p.stuckFor-clock.Since(pressedAt))
		}
		lvl, changed, err := b.pin.Next(ctx, wait)
		if err != nil {
			return
		}
		switch {
		case changed && lvl == b.pin.Active():
			pressed, pressedAt = true, clock.Now()
			p.press(ctx, b.level)
		case changed:
			pressed = false
			if stuck {
				stuck = false
				p.setStuck(b.level, false)
			}
		case pressed && !stuck && clock.Since(pressedAt) >= p.stuckFor:
			stuck = true
			p.setStuck(b.level, true)
		}
	}
}

func (p *Pad) press(ctx context.Context, level int) {
	p.mu.Lock()
	s := p.session
	if s == nil {
		p.stats.Ignored++
		p.mu.Unlock()
		p.log.Debug("press outside a session ignored", "level", level)
		return
	}
	p.session = nil
	s.timer.Stop()
	p.stats.Rated++
	p.mu.Unlock()
	p.log.Info("rating", "session", s.id, "level", level)
	if err := p.env.Events.Emit(ctx, wire.EvtRating, wire.Rating{Session: s.id, Level: level}); err != nil {
		p.log.Warn("rating not sent", "session", s.id, "err", err)
	}
}

func (p *Pad) setStuck(level int, on bool) {
	p.mu.Lock()
	if on {
		p.stuck[level] = true
	} else {
		delete(p.stuck, level)
	}
	p.mu.Unlock()
	if on {
		p.log.Warn("button stuck", "level", level)
	} else {
		p.log.Info("stuck button released", "level", level)
	}
	p.setStatus()
}

func (p *Pad) setStatus() {
	if p.env.Status == nil {
		return
	}
	p.mu.Lock()
	var held []string
	for lv := range p.stuck {
		held = append(held, strconv.Itoa(lv))
	}
	p.mu.Unlock()
	if len(held) == 0 {
		p.env.Status.SetStatus(wire.DevStatusMsg{State: wire.StateOnline})
		return
	}
	slices.Sort(held)
	p.env.Status.SetStatus(wire.DevStatusMsg{State: wire.StateFault, Code: CodeStuckButton,
		Detail: fmt.Sprintf("button held longer than %s: level %s", p.stuckFor, strings.Join(held, ","))})
}

// Handle takes rating-open and rating-close.
func (p *Pad) Handle(ctx context.Context, name string, args []byte) device.Result {
	switch name {
	case wire.CmdRatingOpen:
		var a wire.RatingOpen
		if err := wire.DecodeArgs(args, &a); err != nil {
			return device.Rejected(CodeBadArgs, err)
		}
		if a.Window != 0 && p.cfg.Window != 0 && a.Window != p.cfg.Window {
			return device.Rejected(CodeWrongWindow, fmt.Errorf("session for window %d, pad is at window %d", a.Window, p.cfg.Window))
		}
		d := p.timeout
		if a.TimeoutS > 0 {
			d = time.Duration(a.TimeoutS) * time.Second
		}
		p.openSession(a.Session, d)
		return device.Done
	case wire.CmdRatingClose:
		var a wire.RatingClose
		if err := wire.DecodeArgs(args, &a); err != nil {
			return device.Rejected(CodeBadArgs, err)
		}
		p.closeSession(a.Session)
		return device.Done
	}
	return device.Rejected(CodeUnknownCmd, fmt.Errorf("rating-pad has no command %q", name))
}

func (p *Pad) openSession(id string, d time.Duration) {
	s := &session{id: id}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.session; old != nil {
		old.timer.Stop()
		p.log.Info("session replaced", "old", old.id, "new", id)
	}
	p.session = s
	s.timer = p.env.Clock.AfterFunc(d, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.session == s {
			p.session = nil
			p.stats.TimedOut++
			p.log.Info("session timed out", "session", s.id)
		}
	})
}

// closeSession closes session id, or any session when id is "".
func (p *Pad) closeSession(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.session == nil || (id != "" && p.session.id != id) {
		return
	}
	p.session.timer.Stop()
	p.session = nil
}

var (
	_ device.Device    = (*Pad)(nil)
	_ device.Commander = (*Pad)(nil)
)
