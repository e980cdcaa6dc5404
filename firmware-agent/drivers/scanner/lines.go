package scanner

import (
	"bytes"
	"unicode/utf8"
)

// LineStats count what the line splitter dropped.
type LineStats struct {
	Lines    uint64 // codes produced
	Empty    uint64 // empty or blank lines (a CRLF's LF, a stray CR)
	Overlong uint64 // lines longer than the limit, dropped whole
	Invalid  uint64 // lines with control bytes or bad UTF-8, dropped
}

// Lines splits a scanner's byte stream into codes. A line ends at CR, LF or
// CRLF; leading and trailing blanks are trimmed; empty lines are skipped; a
// line longer than max bytes is dropped up to its terminator, never cut
// and sent; a line with control bytes or invalid UTF-8 is dropped. It is
// not safe for concurrent use and never panics.
type Lines struct {
	max      int
	buf      []byte
	dropping bool
	stats    LineStats
}

// NewLines makes a splitter for lines of at most max bytes (max ≥ 1).
func NewLines(max int) *Lines {
	if max < 1 {
		max = 1
	}
	return &Lines{max: max}
}

// Stats returns the counters.
func (l *Lines) Stats() LineStats { return l.stats }

// Reset drops a partial line (after an unplug).
func (l *Lines) Reset() { l.buf, l.dropping = l.buf[:0], false }

// Feed consumes bytes and returns the codes they complete, in order.
func (l *Lines) Feed(b []byte) []string {
	var out []string
	for _, c := range b {
		if c != '\r' && c != '\n' {
			if l.dropping {
				continue
			}
			if len(l.buf) >= l.max {
				l.dropping = true
				l.stats.Overlong++
				l.buf = l.buf[:0]
				continue
			}
			l.buf = append(l.buf, c)
			continue
		}
		if l.dropping {
			l.dropping = false
			continue
		}
		line := bytes.Trim(l.buf, " \t")
		switch {
		case len(line) == 0:
			l.stats.Empty++
		case !valid(line):
			l.stats.Invalid++
		default:
			l.stats.Lines++
			out = append(out, string(line))
		}
		l.buf = l.buf[:0]
	}
	return out
}

func valid(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
