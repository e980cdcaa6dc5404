package broker

import (
	"context"
	"log/slog"
)

// mochiHandler adapts mochi's log lines to a supervised daemon's log: its
// start-up chatter goes to Debug, its per-connection end line (an empty
// message at Warn for every EOF) becomes a Debug "mqtt connection ended",
// and packet dumps ("pk", "packet": they hold payloads) are dropped.
type mochiHandler struct{ h slog.Handler }

func (m mochiHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return m.h.Enabled(ctx, l) // Handle only lowers levels
}

func (m mochiHandler) Handle(ctx context.Context, r slog.Record) error {
	level, msg := r.Level, r.Message
	if msg == "" {
		level, msg = slog.LevelDebug, "mqtt connection ended"
	} else if level == slog.LevelInfo {
		level = slog.LevelDebug
	}
	if !m.h.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(r.Time, level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "pk" && a.Key != "packet" {
			out.AddAttrs(a)
		}
		return true
	})
	return m.h.Handle(ctx, out)
}

func (m mochiHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return mochiHandler{m.h.WithAttrs(as)}
}

func (m mochiHandler) WithGroup(name string) slog.Handler {
	return mochiHandler{m.h.WithGroup(name)}
}

var _ slog.Handler = mochiHandler{}
