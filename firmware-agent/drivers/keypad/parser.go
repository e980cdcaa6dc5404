package keypad

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/servicehall/servicehall/wire"
)

// Framings of the keypad line.
const (
	FramingByte = "byte" // one byte per key (default)
	FramingLine = "line" // one ASCII line per key: "NEXT", "XFER 12"
)

// DefaultKeys map the codes of the servicehall keypad protocol to actions.
// Single letters serve byte framing, words serve line framing; both work in
// either (a word never arrives in byte framing, so it is harmless there).
var DefaultKeys = map[string]string{
	"N": wire.KeyCallNext, "R": wire.KeyRecall, "X": wire.KeyNoShow, "S": wire.KeyStart,
	"F": wire.KeyFinish, "P": wire.KeyPause, "C": wire.KeyResume, "T": wire.KeyTransfer,
	"NEXT": wire.KeyCallNext, "RECALL": wire.KeyRecall, "NOSHOW": wire.KeyNoShow, "START": wire.KeyStart,
	"FINISH": wire.KeyFinish, "PAUSE": wire.KeyPause, "RESUME": wire.KeyResume, "XFER": wire.KeyTransfer,
	"TRANSFER": wire.KeyTransfer,
}

// Options are the keypad's `options:`; zero fields take DefaultOptions.
type Options struct {
	// Framing is "byte" (default) or "line".
	Framing string `yaml:"framing"`
	// Keys maps received key codes to actions (call-next, recall, no-show,
	// start, finish, pause, resume, transfer). A code is a printable ASCII
	// word ("N", "NEXT") or one byte in hex ("0x81"). Giving keys replaces
	// the whole default map.
	Keys map[string]string `yaml:"keys" default:"N R X S F P C T and NEXT RECALL NOSHOW START FINISH PAUSE RESUME XFER TRANSFER"`
	// Clear is the key that clears typed digits; default "*".
	Clear string `yaml:"clear"`
	// MaxDigits bounds a typed argument; default 6.
	MaxDigits int `yaml:"max_digits"`
	// DigitTimeoutS forgets typed digits after this long; default 10.
	DigitTimeoutS int `yaml:"digit_timeout_s"`
	// ArgActions are the actions that take the typed digits as arg;
	// default [transfer]. One of them without digits is dropped (counted).
	ArgActions []string `yaml:"arg_actions"`
	// MaxLine bounds a line in line framing; default 64.
	MaxLine int `yaml:"max_line"`
}

// DefaultOptions are the defaults.
var DefaultOptions = Options{Framing: FramingByte, Clear: "*", MaxDigits: 6, DigitTimeoutS: 10, ArgActions: []string{wire.KeyTransfer}, MaxLine: 64}

// Stats count what the parser saw.
type Stats struct {
	Keys     uint64 // key events produced
	Garbage  uint64 // bytes or lines that are no key
	Overlong uint64 // lines longer than MaxLine, dropped
	NoArg    uint64 // arg actions pressed without digits, dropped
}

// Parser turns keypad bytes into key events. It is not safe for
// concurrent use; it never panics on any input.
type Parser struct {
	line      bool
	keys      map[string]string // normalised code → action
	clear     string
	maxDigits int
	digitTTL  time.Duration
	argAct    map[string]bool
	maxLine   int

	digits   []byte
	digitsAt time.Time
	buf      []byte
	overlong bool
	stats    Stats
}

// ErrBadOptions wraps every option problem.
var ErrBadOptions = errors.New("bad keypad options")

// parseCode turns a configured code into what arrives on the line.
func parseCode(code string) (string, error) {
	if strings.HasPrefix(code, "0x") || strings.HasPrefix(code, "0X") {
		v, err := strconv.ParseUint(code[2:], 16, 8)
		if err != nil || len(code) != 4 {
			return "", fmt.Errorf("key %q is not a hex byte 0xNN", code)
		}
		return string([]byte{byte(v)}), nil
	}
	if code == "" {
		return "", errors.New("empty key code")
	}
	for i := 0; i < len(code); i++ {
		if code[i] <= ' ' || code[i] > '~' {
			return "", fmt.Errorf("key %q must be printable ASCII without spaces (or 0xNN)", code)
		}
	}
	return strings.ToUpper(code), nil
}

// NewParser checks o (already holding defaults) and builds a parser.
func NewParser(o Options) (*Parser, error) {
	var errs []error
	p := &Parser{keys: map[string]string{}, argAct: map[string]bool{}, maxDigits: o.MaxDigits, maxLine: o.MaxLine,
		digitTTL: time.Duration(o.DigitTimeoutS) * time.Second}
	switch o.Framing {
	case FramingByte, "":
	case FramingLine:
		p.line = true
	default:
		errs = append(errs, fmt.Errorf("framing %q is not byte or line", o.Framing))
	}
	keys := o.Keys
	if len(keys) == 0 {
		keys = DefaultKeys
	}
	clear, err := parseCode(o.Clear)
	if err != nil {
		errs = append(errs, fmt.Errorf("clear: %w", err))
	}
	p.clear = clear
	for code, action := range keys {
		if !slices.Contains(wire.KeyActions, action) {
			errs = append(errs, fmt.Errorf("key %q: action %q is not one of %v", code, action, wire.KeyActions))
			continue
		}
		c, err := parseCode(code)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !p.line && len(c) == 1 && (isDigit(c[0]) || c == clear) {
			errs = append(errs, fmt.Errorf("key %q collides with digits or the clear key", code))
			continue
		}
		if p.line && isDigits(c) {
			errs = append(errs, fmt.Errorf("key %q collides with typed digits", code))
			continue
		}
		if prev, dup := p.keys[c]; dup && prev != action {
			errs = append(errs, fmt.Errorf("key %q is mapped twice", code))
			continue
		}
		p.keys[c] = action
	}
	for _, a := range o.ArgActions {
		if !slices.Contains(wire.KeyActions, a) {
			errs = append(errs, fmt.Errorf("arg_actions: %q is not an action", a))
		}
		p.argAct[a] = true
	}
	if o.MaxDigits < 1 || o.MaxDigits > 16 {
		errs = append(errs, fmt.Errorf("max_digits %d is outside 1..16", o.MaxDigits))
	}
	if o.DigitTimeoutS < 1 {
		errs = append(errs, fmt.Errorf("digit_timeout_s %d must be > 0", o.DigitTimeoutS))
	}
	if o.MaxLine < 8 || o.MaxLine > 1024 {
		errs = append(errs, fmt.Errorf("max_line %d is outside 8..1024", o.MaxLine))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOptions, err)
	}
	return p, nil
}

// Stats returns the counters.
func (p *Parser) Stats() Stats { return p.stats }

// Reset forgets typed digits and a partial line (after an unplug).
func (p *Parser) Reset() {
	p.digits, p.buf, p.overlong = p.digits[:0], p.buf[:0], false
}

// Feed consumes bytes received at now and returns the key events they
// complete, in order.
func (p *Parser) Feed(b []byte, now time.Time) []wire.Key {
	var out []wire.Key
	for _, c := range b {
		var k *wire.Key
		if p.line {
			k = p.feedLine(c, now)
		} else {
			k = p.feedByte(c, now)
		}
		if k != nil {
			p.stats.Keys++
			out = append(out, *k)
		}
	}
	return out
}

func (p *Parser) staleDigits(now time.Time) {
	if len(p.digits) > 0 && now.Sub(p.digitsAt) > p.digitTTL {
		p.digits = p.digits[:0]
	}
}

func (p *Parser) typeDigit(c byte, now time.Time) {
	p.staleDigits(now)
	if len(p.digits) >= p.maxDigits {
		p.stats.Garbage++
		return
	}
	p.digits = append(p.digits, c)
	p.digitsAt = now
}

func (p *Parser) action(a, arg string, now time.Time) *wire.Key {
	p.staleDigits(now)
	typed := string(p.digits)
	p.digits = p.digits[:0]
	if !p.argAct[a] {
		return &wire.Key{Action: a}
	}
	if arg == "" {
		arg = typed
	}
	if arg == "" {
		p.stats.NoArg++
		return nil
	}
	return &wire.Key{Action: a, Arg: arg}
}

func (p *Parser) feedByte(c byte, now time.Time) *wire.Key {
	switch {
	case isDigit(c):
		p.typeDigit(c, now)
		return nil
	case c == '\r' || c == '\n' || c == ' ':
		return nil // separators some keypads add
	case string(c) == p.clear:
		p.digits = p.digits[:0]
		return nil
	}
	code := string([]byte{c})
	if a, ok := p.keys[code]; ok {
		return p.action(a, "", now)
	}
	if a, ok := p.keys[strings.ToUpper(code)]; ok {
		return p.action(a, "", now)
	}
	p.stats.Garbage++
	p.digits = p.digits[:0] // a line error may have eaten a key: start over
	return nil
}

func (p *Parser) feedLine(c byte, now time.Time) *wire.Key {
	if c != '\r' && c != '\n' {
		if p.overlong {
			return nil
		}
		if len(p.buf) >= p.maxLine {
			p.overlong = true
			p.stats.Overlong++
			p.buf = p.buf[:0]
			return nil
		}
		p.buf = append(p.buf, c)
		return nil
	}
	if p.overlong {
		p.overlong = false
		return nil
	}
	line := bytes.TrimSpace(p.buf)
	defer func() { p.buf = p.buf[:0] }()
	if len(line) == 0 {
		return nil
	}
	f := strings.Fields(string(line))
	if len(f) == 1 && isDigits(f[0]) && len(f[0]) <= p.maxDigits {
		p.digits = append(p.digits[:0], f[0]...)
		p.digitsAt = now
		return nil
	}
	if len(f) == 1 && f[0] == p.clear {
		p.digits = p.digits[:0]
		return nil
	}
	code := strings.ToUpper(f[0])
	a, ok := p.keys[code]
	if !ok || len(f) > 2 || (len(f) == 2 && (!isDigits(f[1]) || len(f[1]) > p.maxDigits || !p.argAct[a])) {
		p.stats.Garbage++
		p.digits = p.digits[:0]
		return nil
	}
	arg := ""
	if len(f) == 2 {
		arg = f[1]
	}
	return p.action(a, arg, now)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
