// Package lograte bounds how fast a program logs: a slog.Handler that
// passes at most PerSecond lines a second (bursts of Burst) to the
// handler it wraps, drops the rest, counts what it dropped per level, and
// once per Interval emits one summary line ("suppressed N log lines").
// A flood of lines (20,000 a second from bad input) then costs bounded
// disk and CPU while the lines that matter still get through:
//
//   - ERROR lines have a bucket of their own (same rate and burst), so a
//     flood of INFO or WARN lines never hides them;
//   - lines above ERROR, and ERROR lines whose message starts with
//     "fatal", are never dropped.
package lograte

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"
)

// Options configure a Handler.
type Options struct {
	// PerSecond and Burst bound the lines passed (each at least 1).
	PerSecond, Burst int
	// Interval is how often a summary of suppressed lines is written, at
	// most (default 10 s); it is written with the next line logged after
	// the interval, or by Flush.
	Interval time.Duration
	// Clock is the time source (default the real clock).
	Clock clockwork.Clock
	// Message, when set, is the summary line's message (the counts are
	// its attributes); default "suppressed N log lines (…)".
	Message string
}

// Handler is the rate-limited slog.Handler.
type Handler struct {
	next slog.Handler
	st   *state
}

// state is shared by a Handler and its WithAttrs/WithGroup children.
type state struct {
	root     slog.Handler // the summary goes here, without attrs or groups
	o        Options
	mu       sync.Mutex
	lines    *rate.Limiter
	errors   *rate.Limiter
	dropped  map[slog.Level]int
	total    uint64    // dropped since New
	since    time.Time // start of the current summary interval
	lastSent time.Time
}

// New wraps next.
func New(next slog.Handler, o Options) *Handler {
	o.PerSecond, o.Burst = max(1, o.PerSecond), max(1, o.Burst)
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	now := o.Clock.Now()
	return &Handler{next: next, st: &state{root: next, o: o,
		lines:   rate.NewLimiter(rate.Limit(o.PerSecond), o.Burst),
		errors:  rate.NewLimiter(rate.Limit(o.PerSecond), o.Burst),
		dropped: map[slog.Level]int{}, since: now, lastSent: now}}
}

// Enabled reports whether the wrapped handler takes the level.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// WithAttrs returns a handler with attrs that shares h's limit.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(as), st: h.st}
}

// WithGroup returns a handler in group name that shares h's limit.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), st: h.st}
}

// Handle passes r on if the limit allows it, else counts it.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	now := h.st.o.Clock.Now()
	pass := h.st.allow(r, now)
	if sum, ok := h.st.summary(now, false); ok {
		_ = h.st.root.Handle(ctx, sum)
	}
	if !pass {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// Flush writes the summary of lines suppressed so far, if any.
func (h *Handler) Flush(ctx context.Context) {
	if sum, ok := h.st.summary(h.st.o.Clock.Now(), true); ok {
		_ = h.st.root.Handle(ctx, sum)
	}
}

// Total is how many lines were dropped since New (a counter for
// metrics).
func (h *Handler) Total() uint64 {
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	return h.st.total
}

// Suppressed is how many lines of each level were dropped since the last
// summary.
func (h *Handler) Suppressed() map[slog.Level]int {
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	out := make(map[slog.Level]int, len(h.st.dropped))
	for l, n := range h.st.dropped {
		out[l] = n
	}
	return out
}

func (s *state) allow(r slog.Record, now time.Time) bool {
	if r.Level > slog.LevelError || r.Level == slog.LevelError && strings.HasPrefix(r.Message, "fatal") {
		return true
	}
	lim := s.lines
	if r.Level >= slog.LevelError {
		lim = s.errors
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if lim.AllowN(now, 1) {
		return true
	}
	s.dropped[r.Level]++
	s.total++
	return false
}

// summary is the summary record when one is due (or forced) and lines
// were dropped; it resets the counts.
func (s *state) summary(now time.Time, force bool) (slog.Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.dropped) == 0 || !force && now.Sub(s.lastSent) < s.o.Interval {
		return slog.Record{}, false
	}
	total := 0
	attrs := []slog.Attr{}
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if n := s.dropped[l]; n > 0 {
			total += n
			attrs = append(attrs, slog.Int(strings.ToLower(l.String()), n))
		}
	}
	for l, n := range s.dropped { // levels in between
		switch l {
		case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
		default:
			total += n
			attrs = append(attrs, slog.Int(strings.ToLower(l.String()), n))
		}
	}
	msg := "suppressed " + strconv.Itoa(total) + " log lines (limits.log_lines_per_s)"
	if s.o.Message != "" {
		msg = s.o.Message
		attrs = append(attrs, slog.Int("lines", total))
	}
	r := slog.NewRecord(now, slog.LevelWarn, msg, 0)
	r.AddAttrs(slog.Duration("over", now.Sub(s.since)))
	r.AddAttrs(attrs...)
	s.dropped = map[slog.Level]int{}
	s.since, s.lastSent = now, now
	return r, true
}
