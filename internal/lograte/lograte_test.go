package lograte

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// Finding (issue 10, item 9): logs could be flooded at 20,000 lines/s.
// Over the limit lines are dropped and counted per level, one summary
// line says how many; an INFO flood does not hide ERROR lines, and fatal
// lines always pass.
func TestFloodIsBoundedAndSummarised(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
	var out bytes.Buffer
	h := New(slog.NewTextHandler(&out, nil), Options{PerSecond: 10, Burst: 20, Interval: 10 * time.Second, Clock: clock})
	log := slog.New(h).With("part", "web")
	for i := range 20_000 {
		log.Info("flood", "i", i)
	}
	log.Error("disk write failed")
	log.Error("fatal: the controller stops")
	lines := strings.Count(out.String(), "\n")
	if lines != 22 {
		t.Fatalf("%d lines written, want the burst of 20 + the error + the fatal line", lines)
	}
	if n := h.Suppressed()[slog.LevelInfo]; n != 19_980 {
		t.Fatalf("suppressed INFO counted %d, want 19980", n)
	}
	// Past the interval the next line brings the summary (once).
	clock.Advance(10 * time.Second)
	log.Info("after")
	log.Info("after again")
	got := out.String()
	if strings.Count(got, "suppressed 19980 log lines") != 1 || !strings.Contains(got, "info=19980") {
		t.Fatalf("no single summary line:\n%s", got[strings.LastIndex(got[:len(got)-1], "fatal"):])
	}
	if len(h.Suppressed()) != 0 {
		t.Fatalf("counts not reset: %v", h.Suppressed())
	}
	// The ERROR bucket is its own: an ERROR flood is bounded too.
	out.Reset()
	for range 1000 {
		log.Error("bad")
	}
	h.Flush(context.Background())
	if n := strings.Count(out.String(), "level=ERROR"); n != 20 {
		t.Fatalf("%d ERROR lines of a flood written, want the burst of 20", n)
	}
	if !strings.Contains(out.String(), "error=980") {
		t.Fatalf("flush wrote no summary: %s", out.String())
	}
}
