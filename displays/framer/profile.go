// Package framer builds and parses frames for LED display controllers from
// a declarative profile, for vendor screens that have no dedicated driver
// (DEVICES.md §3.3). A profile says what a frame is made of, in order,
// with a small token template:
//
//	frame: "{preamble} {addr} {len} {cmd} {payload} {sum} {trailer}"
//
// Tokens: hex bytes ("A5", "3D3D"), {preamble}, {trailer}, {addr},
// {cmd}, {row} (the line number, scaled by row.base/stride, e.g. a Modbus
// start register), {len} or {len:NAME} (a length field), {payload} (the
// encoded text) and {sum} (the checksum). Length fields and the checksum
// cover a span of tokens given by the names of its first and last token.
//
// The same tokens describe the controller's replies: ack.pattern and
// ack.nak are matched against what comes back ("??" = any byte, {sum} =
// a checksum over the bytes matched before it), and ack.reply is what an
// emulator answers. Profiles are plain structs with yaml and json tags;
// the caller decodes YAML (this package needs only the standard library
// and x/text) and calls Compile, which lists every problem.
package framer

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/servicehall/servicehall/displays/checksum"
	"github.com/servicehall/servicehall/displays/textenc"
)

// Profile describes one vendor's frame format.
type Profile struct {
	Name     string `yaml:"name" json:"name"`
	Preamble string `yaml:"preamble,omitempty" json:"preamble,omitempty"` // hex, e.g. "A5 A5"
	Trailer  string `yaml:"trailer,omitempty" json:"trailer,omitempty"`   // hex, e.g. "0D 0A"
	Command  string `yaml:"command,omitempty" json:"command,omitempty"`   // hex
	// Frame is the token template; default
	// "{preamble} {addr} {len} {cmd} {payload} {sum} {trailer}" with the
	// tokens of absent parts left out.
	Frame    string        `yaml:"frame,omitempty" json:"frame,omitempty"`
	Address  IntField      `yaml:"address,omitempty" json:"address,omitempty"`
	Row      RowField      `yaml:"row,omitempty" json:"row,omitempty"`
	Lengths  []LengthField `yaml:"lengths,omitempty" json:"lengths,omitempty"`
	Payload  PayloadSpec   `yaml:"payload,omitempty" json:"payload,omitempty"`
	Checksum ChecksumSpec  `yaml:"checksum,omitempty" json:"checksum,omitempty"`
	// Lines is "per-frame" (default: one frame per display row, {row}
	// tells the controller which) or "joined" (one frame, rows joined by
	// Separator).
	Lines     string    `yaml:"lines,omitempty" json:"lines,omitempty"`
	Separator string    `yaml:"separator,omitempty" json:"separator,omitempty"`
	Ack       ReplySpec `yaml:"ack,omitempty" json:"ack,omitempty"`
	// MaxFrame bounds a frame when parsing (default 512 bytes).
	MaxFrame int `yaml:"max_frame,omitempty" json:"max_frame,omitempty"`
}

// IntField is a fixed-width integer on the wire. Width 0 = absent.
type IntField struct {
	Width  int    `yaml:"width,omitempty" json:"width,omitempty"`   // 1, 2 or 4 bytes
	Endian string `yaml:"endian,omitempty" json:"endian,omitempty"` // big (default) or little
}

// RowField is the line selector: value = base + row*stride.
type RowField struct {
	IntField `yaml:",inline" json:",inline"`
	Base     int `yaml:"base,omitempty" json:"base,omitempty"`
	Stride   int `yaml:"stride,omitempty" json:"stride,omitempty"` // default 1
}

// LengthField counts the bytes of the span From..To (token names,
// inclusive), divided by Unit (rounded up), plus Adjust.
type LengthField struct {
	Name     string `yaml:"name,omitempty" json:"name,omitempty"`
	IntField `yaml:",inline" json:",inline"`
	From     string `yaml:"from,omitempty" json:"from,omitempty"` // default payload
	To       string `yaml:"to,omitempty" json:"to,omitempty"`     // default = From
	Unit     int    `yaml:"unit,omitempty" json:"unit,omitempty"` // bytes per count, default 1 (2 = Modbus registers)
	Adjust   int    `yaml:"adjust,omitempty" json:"adjust,omitempty"`
}

// PayloadSpec says how text becomes payload bytes.
type PayloadSpec struct {
	Encoding string `yaml:"encoding,omitempty" json:"encoding,omitempty"` // gb2312 (default), gbk, gb18030, utf-8, ascii
	Template string `yaml:"template,omitempty" json:"template,omitempty"` // default "{text}"; also {row} (1-based)
	PadTo    int    `yaml:"pad_to,omitempty" json:"pad_to,omitempty"`     // pad to a multiple of this many bytes
	PadByte  string `yaml:"pad_byte,omitempty" json:"pad_byte,omitempty"` // hex, default "20"
	MaxBytes int    `yaml:"max_bytes,omitempty" json:"max_bytes,omitempty"`
	// Scroll says the controller scrolls text that does not fit by
	// itself; otherwise the driver truncates each row to the panel width.
	Scroll bool `yaml:"scroll,omitempty" json:"scroll,omitempty"`
}

// ChecksumSpec is the frame check.
type ChecksumSpec struct {
	Kind   string `yaml:"kind,omitempty" json:"kind,omitempty"`     // none, sum8, xor8, crc16-arc, crc16-modbus, crc16-xmodem
	Endian string `yaml:"endian,omitempty" json:"endian,omitempty"` // big (default) or little
	From   string `yaml:"from,omitempty" json:"from,omitempty"`     // default: the token after {preamble}
	To     string `yaml:"to,omitempty" json:"to,omitempty"`         // default: the token before {sum}
}

// ReplySpec describes the controller's answers.
type ReplySpec struct {
	Pattern string `yaml:"pattern,omitempty" json:"pattern,omitempty"` // ACK; empty = the controller never answers
	Nak     string `yaml:"nak,omitempty" json:"nak,omitempty"`
	Reply   string `yaml:"reply,omitempty" json:"reply,omitempty"` // what an emulator sends; default = Pattern without wildcards
	// Timeout is how long to wait for the ACK (Go duration, default 500ms).
	Timeout string `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Sentinel errors.
var (
	ErrProfile    = errors.New("framer: bad profile")
	ErrTooLong    = errors.New("framer: text too long for the frame")
	ErrIncomplete = errors.New("framer: incomplete frame")
	ErrNoFrame    = errors.New("framer: no frame")
)

type tokKind int

const (
	tLit tokKind = iota
	tAny
	tAddr
	tCmd
	tRow
	tLen
	tPayload
	tSum
)

type token struct {
	kind tokKind
	lit  []byte
	len  int    // index into lengths for tLen
	name string // canonical name for spans
}

type span struct{ from, to int } // token indexes, inclusive

type lengthField struct {
	LengthField
	order  byteOrder
	span   span
	offset int
}

// Framer is a compiled profile.
type Framer struct {
	p        Profile
	tokens   []token
	addr     intCodec
	row      intCodec
	rowBase  int
	rowStep  int
	lengths  []lengthField
	sumKind  checksum.Kind
	sumOrder byteOrder
	sumSpan  span
	charset  textenc.Charset
	padByte  byte
	ack, nak []token
	reply    []token
	timeout  time.Duration
	maxFrame int
	joined   bool
}

type byteOrder bool // true = little endian

type intCodec struct {
	width int
	order byteOrder
}

func (c intCodec) put(b []byte, v uint64) []byte {
	for i := range c.width {
		shift := 8 * (c.width - 1 - i)
		if c.order {
			shift = 8 * i
		}
		b = append(b, byte(v>>shift))
	}
	return b
}

func (c intCodec) get(b []byte) uint64 {
	var v uint64
	for i := range c.width {
		shift := 8 * (c.width - 1 - i)
		if c.order {
			shift = 8 * i
		}
		v |= uint64(b[i]) << shift
	}
	return v
}

func (c intCodec) max() uint64 {
	if c.width >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*c.width) - 1
}

// ParseHex reads "A5 A5", "a5a5" or "0xA5 0xA5".
func ParseHex(s string) ([]byte, error) {
	var sb strings.Builder
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		f = strings.TrimPrefix(strings.TrimPrefix(f, "0x"), "0X")
		sb.WriteString(f)
	}
	return hex.DecodeString(sb.String())
}

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func parseOrder(s string, what string, ps *problems) byteOrder {
	switch strings.ToLower(s) {
	case "", "big", "be":
		return false
	case "little", "le":
		return true
	}
	ps.add("%s.endian: %q is not big or little", what, s)
	return false
}

func parseInt(f IntField, what string, ps *problems) intCodec {
	switch f.Width {
	case 0, 1, 2, 4:
	default:
		ps.add("%s.width: %d (want 1, 2 or 4)", what, f.Width)
	}
	return intCodec{width: f.Width, order: parseOrder(f.Endian, what, ps)}
}

// Compile checks a profile and prepares it. The error lists every problem.
func Compile(p Profile) (*Framer, error) {
	var ps problems
	f := &Framer{p: p}
	pre, err := ParseHex(p.Preamble)
	if err != nil {
		ps.add("preamble: %v", err)
	}
	trl, err := ParseHex(p.Trailer)
	if err != nil {
		ps.add("trailer: %v", err)
	}
	cmd, err := ParseHex(p.Command)
	if err != nil {
		ps.add("command: %v", err)
	}
	f.addr = parseInt(p.Address, "address", &ps)
	f.row = parseInt(p.Row.IntField, "row", &ps)
	f.rowBase, f.rowStep = p.Row.Base, p.Row.Stride
	if f.rowStep == 0 {
		f.rowStep = 1
	}
	if f.sumKind, err = checksum.Parse(p.Checksum.Kind); err != nil {
		ps.add("checksum.kind: %v", err)
	}
	f.sumOrder = parseOrder(p.Checksum.Endian, "checksum", &ps)
	if f.charset, err = textenc.Parse(p.Payload.Encoding); err != nil {
		ps.add("payload.encoding: %v", err)
	}
	f.padByte = ' '
	if p.Payload.PadByte != "" {
		if b, err := ParseHex(p.Payload.PadByte); err != nil || len(b) != 1 {
			ps.add("payload.pad_byte: %q is not one hex byte", p.Payload.PadByte)
		} else {
			f.padByte = b[0]
		}
	}
	if p.Payload.PadTo < 0 || p.Payload.MaxBytes < 0 {
		ps.add("payload: pad_to and max_bytes must not be negative")
	}
	switch p.Lines {
	case "", "per-frame":
	case "joined":
		f.joined = true
	default:
		ps.add("lines: %q (want per-frame or joined)", p.Lines)
	}
	f.maxFrame = p.MaxFrame
	if f.maxFrame == 0 {
		f.maxFrame = 512
	}
	f.timeout = 500 * time.Millisecond
	if p.Ack.Timeout != "" {
		if d, err := time.ParseDuration(p.Ack.Timeout); err != nil || d <= 0 {
			ps.add("ack.timeout: %q is not a positive duration", p.Ack.Timeout)
		} else {
			f.timeout = d
		}
	}
	lenIndex := map[string]int{}
	for i, l := range p.Lengths {
		lf := lengthField{LengthField: l}
		what := fmt.Sprintf("lengths[%d]", i)
		c := parseInt(l.IntField, what, &ps)
		if c.width == 0 {
			ps.add("%s.width: required", what)
		}
		lf.order = c.order
		if lf.Unit == 0 {
			lf.Unit = 1
		}
		if lf.Unit < 0 {
			ps.add("%s.unit: %d", what, lf.Unit)
		}
		if _, dup := lenIndex[l.Name]; dup {
			ps.add("%s.name: %q used twice", what, l.Name)
		}
		lenIndex[l.Name] = i
		f.lengths = append(f.lengths, lf)
	}

	tmpl := p.Frame
	if tmpl == "" {
		parts := []string{}
		add := func(ok bool, s string) {
			if ok {
				parts = append(parts, s)
			}
		}
		add(len(pre) > 0, "{preamble}")
		add(f.addr.width > 0, "{addr}")
		add(len(p.Lengths) > 0, "{len}")
		add(len(cmd) > 0, "{cmd}")
		parts = append(parts, "{payload}")
		add(f.sumKind != checksum.None, "{sum}")
		add(len(trl) > 0, "{trailer}")
		tmpl = strings.Join(parts, " ")
	}
	toks := f.tokenize(tmpl, "frame", pre, trl, cmd, lenIndex, false, &ps)
	f.tokens = toks
	count := map[tokKind]int{}
	for _, t := range toks {
		count[t.kind]++
	}
	if count[tPayload] != 1 {
		ps.add("frame: needs exactly one {payload}, has %d", count[tPayload])
	}
	if count[tSum] > 1 {
		ps.add("frame: more than one {sum}")
	}
	if (count[tSum] == 1) != (f.sumKind != checksum.None) {
		ps.add("frame: {sum} and checksum.kind must go together")
	}
	if count[tAddr] > 0 && f.addr.width == 0 {
		ps.add("frame: {addr} needs address.width")
	}
	if count[tRow] > 0 && f.row.width == 0 {
		ps.add("frame: {row} needs row.width")
	}
	shaped := len(toks) > 0 && count[tPayload] == 1 && count[tSum] <= 1
	for i, l := range f.lengths {
		if !shaped {
			break
		}
		if count[tLen] == 0 || !hasLen(toks, i) {
			ps.add("lengths[%d]: %q is not in the frame", i, l.Name)
		}
		from, to := l.From, l.To
		if from == "" {
			from = "payload"
		}
		if to == "" {
			to = from
		}
		f.lengths[i].span = f.findSpan(from, to, fmt.Sprintf("lengths[%d]", i), &ps)
	}
	if si := indexOf(toks, tSum); shaped && si >= 0 && f.sumKind != checksum.None {
		from, to := p.Checksum.From, p.Checksum.To
		fi, ti := 0, si-1
		if len(toks) > 0 && toks[0].name == "preamble" {
			fi = 1
		}
		if ti < fi && from == "" && to == "" {
			ps.add("checksum: covers nothing (set checksum.from/to)")
			ti = fi
		}
		sp := span{fi, ti}
		if from != "" || to != "" {
			if from == "" {
				from = toks[fi].name
			}
			if to == "" && ti >= 0 {
				to = toks[ti].name
			}
			sp = f.findSpan(from, to, "checksum", &ps)
		}
		if si >= 0 && sp.from <= si && si <= sp.to {
			ps.add("checksum: its span includes {sum}")
		}
		f.sumSpan = sp
	}
	if p.Ack.Pattern != "" {
		f.ack = f.tokenize(p.Ack.Pattern, "ack.pattern", pre, trl, cmd, lenIndex, true, &ps)
	}
	if p.Ack.Nak != "" {
		f.nak = f.tokenize(p.Ack.Nak, "ack.nak", pre, trl, cmd, lenIndex, true, &ps)
	}
	if p.Ack.Reply != "" {
		f.reply = f.tokenize(p.Ack.Reply, "ack.reply", pre, trl, cmd, lenIndex, false, &ps)
	} else if p.Ack.Pattern != "" {
		for _, t := range f.ack {
			if t.kind == tAny {
				ps.add("ack.reply: required when ack.pattern has wildcards")
				break
			}
		}
		f.reply = f.ack
	}
	for _, list := range [][]token{f.ack, f.nak, f.reply} {
		for _, t := range list {
			if t.kind == tPayload {
				ps.add("ack: {payload} is not allowed in replies")
			}
			if t.kind == tSum && f.sumKind == checksum.None {
				ps.add("ack: {sum} needs checksum.kind")
			}
		}
	}
	if len(ps) > 0 {
		name := p.Name
		if name == "" {
			name = "(unnamed)"
		}
		return nil, fmt.Errorf("%w %s: %s", ErrProfile, name, strings.Join(ps, "; "))
	}
	return f, nil
}

func hasLen(toks []token, i int) bool {
	for _, t := range toks {
		if t.kind == tLen && t.len == i {
			return true
		}
	}
	return false
}

func indexOf(toks []token, k tokKind) int {
	for i, t := range toks {
		if t.kind == k {
			return i
		}
	}
	return -1
}

func (f *Framer) findSpan(from, to, what string, ps *problems) span {
	find := func(name string) int {
		if name == "start" {
			return 0
		}
		if name == "end" {
			return len(f.tokens) - 1
		}
		for i, t := range f.tokens {
			if t.name == name {
				return i
			}
		}
		ps.add("%s: no token %q in the frame", what, name)
		return 0
	}
	s := span{find(from), find(to)}
	if s.from > s.to {
		ps.add("%s: %q comes after %q", what, from, to)
		s.to = s.from
	}
	return s
}

func (f *Framer) tokenize(tmpl, what string, pre, trl, cmd []byte, lenIndex map[string]int, pattern bool, ps *problems) []token {
	var out []token
	for _, w := range strings.Fields(tmpl) {
		switch {
		case w == "??":
			if !pattern {
				ps.add("%s: ?? only in ack patterns", what)
			}
			out = append(out, token{kind: tAny, name: "??"})
		case w == "{preamble}":
			out = append(out, token{kind: tLit, lit: pre, name: "preamble"})
		case w == "{trailer}":
			out = append(out, token{kind: tLit, lit: trl, name: "trailer"})
		case w == "{cmd}":
			out = append(out, token{kind: tCmd, lit: cmd, name: "cmd"})
		case w == "{addr}":
			out = append(out, token{kind: tAddr, name: "addr"})
		case w == "{row}":
			out = append(out, token{kind: tRow, name: "row"})
		case w == "{payload}":
			out = append(out, token{kind: tPayload, name: "payload"})
		case w == "{sum}":
			out = append(out, token{kind: tSum, name: "sum"})
		case w == "{len}" || strings.HasPrefix(w, "{len:") && strings.HasSuffix(w, "}"):
			name := ""
			if w != "{len}" {
				name = w[5 : len(w)-1]
			}
			i, ok := lenIndex[name]
			if w == "{len}" && len(f.lengths) > 0 {
				i, ok, name = 0, true, f.lengths[0].Name
			}
			if !ok {
				ps.add("%s: %s names no length field", what, w)
				continue
			}
			out = append(out, token{kind: tLen, len: i, name: "len:" + name})
		case strings.HasPrefix(w, "{"):
			ps.add("%s: unknown token %s", what, w)
		default:
			b, err := ParseHex(w)
			if err != nil || len(b) == 0 {
				ps.add("%s: %q is not hex", what, w)
				continue
			}
			out = append(out, token{kind: tLit, lit: b, name: strings.ToUpper(w)})
		}
	}
	// An empty {preamble}/{trailer} is dropped.
	kept := out[:0]
	for _, t := range out {
		if t.kind == tLit && len(t.lit) == 0 {
			continue
		}
		kept = append(kept, t)
	}
	return kept
}

// Name is the profile's name.
func (f *Framer) Name() string { return f.p.Name }

// Profile returns the profile the framer was compiled from.
func (f *Framer) Profile() Profile { return f.p }

// Timeout is how long to wait for an ACK.
func (f *Framer) Timeout() time.Duration { return f.timeout }

// WantsReply says whether the controller answers at all.
func (f *Framer) WantsReply() bool { return len(f.ack) > 0 }

// Scrolls says whether the controller scrolls long rows itself.
func (f *Framer) Scrolls() bool { return f.p.Payload.Scroll }

// Charset is the payload text encoding.
func (f *Framer) Charset() textenc.Charset { return f.charset }

// Joined says all rows go in one frame.
func (f *Framer) Joined() bool { return f.joined }

func itoa(i int) string { return strconv.Itoa(i) }
