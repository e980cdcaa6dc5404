package escposemu

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
)

// Fault words for ApplyFaults and fault files.
const (
	FaultPaperOut   = "paper_out"
	FaultNearEnd    = "paper_near_end"
	FaultCoverOpen  = "cover_open"
	FaultCutter     = "cutter_error"
	FaultMute       = "mute"     // no replies at all
	FaultSlowPrefix = "slow="    // slow=2s: every reply delayed
	FaultGarbPrefix = "garbage=" // garbage=FF80: bytes sent once when the set changes
)

// ApplyFaults sets the emulator to exactly the faults named (words as in
// the Fault constants); faults not named are cleared. An unknown word is an
// error and changes nothing.
func (e *Emulator) ApplyFaults(words []string) error {
	var paper, near, cover, cutter, mute bool
	var slow time.Duration
	var garbage []byte
	for _, w := range words {
		switch {
		case w == FaultPaperOut:
			paper = true
		case w == FaultNearEnd:
			near = true
		case w == FaultCoverOpen:
			cover = true
		case w == FaultCutter:
			cutter = true
		case w == FaultMute:
			mute = true
		case strings.HasPrefix(w, FaultSlowPrefix):
			d, err := time.ParseDuration(strings.TrimPrefix(w, FaultSlowPrefix))
			if err != nil || d < 0 {
				return fmt.Errorf("escposemu: fault %q: bad duration", w)
			}
			slow = d
		case strings.HasPrefix(w, FaultGarbPrefix):
			h := strings.TrimPrefix(w, FaultGarbPrefix)
			if _, err := fmt.Sscanf(h, "%X", &garbage); err != nil || len(garbage) == 0 {
				return fmt.Errorf("escposemu: fault %q: bad hex", w)
			}
		default:
			return fmt.Errorf("escposemu: unknown fault %q", w)
		}
	}
	e.SetPaperOut(paper)
	if !paper {
		e.SetPaperNearEnd(near)
	}
	e.SetCoverOpen(cover)
	e.SetCutterError(cutter)
	e.SetMute(mute)
	e.SetReplyDelay(slow)
	if garbage != nil {
		e.Garbage(garbage)
	}
	return nil
}

// WatchFaultFile applies the faults listed in path (whitespace-separated
// words; a missing or empty file means none) whenever its content changes,
// checking every period on clock, until ctx ends. The demo hall and
// black-box tests of the agent binary inject faults into an emulate: true
// printer this way: `echo paper_out > STATE_DIR/faults`.
func (e *Emulator) WatchFaultFile(ctx context.Context, clock clockwork.Clock, path string, every time.Duration) {
	last := ""
	var tk clockwork.Ticker
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			b = nil
		}
		if s := strings.TrimSpace(string(b)); s != last {
			if err := e.ApplyFaults(strings.Fields(s)); err != nil {
				e.log.Warn("fault file", "path", path, "err", err)
			} else {
				e.log.Info("emulator faults", "faults", s)
			}
			last = s
		}
		if tk == nil { // created after the first check, so tests can wait for it
			tk = clock.NewTicker(every)
			defer tk.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.Chan():
		}
	}
}
