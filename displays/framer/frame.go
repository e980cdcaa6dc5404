package framer

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/servicehall/servicehall/displays/textenc"
)

// Frames encodes the rows of a screen for the controller at addr: one
// frame per row, or one frame for all rows when the profile says "joined".
func (f *Framer) Frames(addr int, rows []string) ([][]byte, error) {
	if f.joined {
		b, err := f.Encode(addr, 0, strings.Join(rows, f.p.Separator))
		if err != nil {
			return nil, err
		}
		return [][]byte{b}, nil
	}
	out := make([][]byte, 0, len(rows))
	for i, r := range rows {
		b, err := f.Encode(addr, i, r)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i+1, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// EncodeText encodes text the way the payload carries it (template,
// charset, padding), without the rest of the frame.
func (f *Framer) EncodeText(row int, text string) ([]byte, error) {
	tmpl := f.p.Payload.Template
	if tmpl == "" {
		tmpl = "{text}"
	}
	s := strings.NewReplacer("{text}", text, "{row}", itoa(row+1)).Replace(tmpl)
	p := textenc.Encode(f.charset, s)
	if n := f.p.Payload.PadTo; n > 1 {
		for len(p)%n != 0 {
			p = append(p, f.padByte)
		}
	}
	if m := f.p.Payload.MaxBytes; m > 0 && len(p) > m {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLong, len(p), m)
	}
	return p, nil
}

// Encode builds one frame carrying text for row (0-based) of the
// controller at addr.
func (f *Framer) Encode(addr, row int, text string) ([]byte, error) {
	payload, err := f.EncodeText(row, text)
	if err != nil {
		return nil, err
	}
	if f.addr.width > 0 && (addr < 0 || uint64(addr) > f.addr.max()) {
		return nil, fmt.Errorf("%w: address %d does not fit %d byte(s)", ErrProfile, addr, f.addr.width)
	}
	rowVal := f.rowBase + row*f.rowStep
	if f.row.width > 0 && (rowVal < 0 || uint64(rowVal) > f.row.max()) {
		return nil, fmt.Errorf("%w: row value %d does not fit %d byte(s)", ErrProfile, rowVal, f.row.width)
	}
	parts := make([][]byte, len(f.tokens))
	for i, t := range f.tokens {
		switch t.kind {
		case tLit, tCmd:
			parts[i] = t.lit
		case tAddr:
			parts[i] = f.addr.put(nil, uint64(addr))
		case tRow:
			parts[i] = f.row.put(nil, uint64(rowVal))
		case tPayload:
			parts[i] = payload
		case tLen:
			parts[i] = make([]byte, f.lengths[t.len].Width)
		case tSum:
			parts[i] = make([]byte, f.sumKind.Width())
		}
	}
	for i, t := range f.tokens {
		if t.kind != tLen {
			continue
		}
		l := f.lengths[t.len]
		v, ok := l.value(spanLen(parts, l.span))
		c := intCodec{width: l.Width, order: l.order}
		if !ok || v > c.max() {
			return nil, fmt.Errorf("%w: length %s = %d does not fit", ErrTooLong, l.Name, v)
		}
		parts[i] = c.put(parts[i][:0], v)
	}
	if si := indexOf(f.tokens, tSum); si >= 0 {
		var covered []byte
		for i := f.sumSpan.from; i <= f.sumSpan.to; i++ {
			covered = append(covered, parts[i]...)
		}
		parts[si] = f.putSum(nil, f.sumKind.Compute(covered))
	}
	return bytes.Join(parts, nil), nil
}

func (f *Framer) putSum(b []byte, v uint16) []byte {
	return intCodec{width: f.sumKind.Width(), order: f.sumOrder}.put(b, uint64(v))
}

func spanLen(parts [][]byte, s span) int {
	n := 0
	for i := s.from; i <= s.to; i++ {
		n += len(parts[i])
	}
	return n
}

func (l lengthField) value(n int) (uint64, bool) {
	v := (n+l.Unit-1)/l.Unit + l.Adjust
	return uint64(v), v >= 0
}

// Frame is a request frame parsed back (by an emulator).
type Frame struct {
	Addr    uint64
	Row     int    // 0-based line, from the {row} field (0 without one)
	RowVal  uint64 // raw {row} value
	Payload []byte
	Text    string // payload decoded, padding and template text removed
	Raw     []byte
	lens    []uint64
}

func (f *Framer) fixedLen() int {
	n := 0
	for _, t := range f.tokens {
		n += f.width(t)
	}
	return n
}

func (f *Framer) width(t token) int {
	switch t.kind {
	case tLit, tCmd:
		return len(t.lit)
	case tAny:
		return 1
	case tAddr:
		return f.addr.width
	case tRow:
		return f.row.width
	case tLen:
		return f.lengths[t.len].Width
	case tSum:
		return f.sumKind.Width()
	}
	return 0
}

// Decode finds the first valid frame in buf for the controller at addr
// (addr < 0: any address). It returns the frame and how many bytes of
// buf it used, garbage before the frame included. Without a complete
// frame it returns ErrIncomplete and how many leading bytes are garbage
// for certain. A frame is valid when every literal, the command, the
// length fields and the checksum agree.
func (f *Framer) Decode(buf []byte, addr int) (Frame, int, error) {
	fixed := f.fixedLen()
	var first []byte
	switch t := f.tokens[0]; {
	case t.kind == tLit || t.kind == tCmd:
		first = t.lit
	case t.kind == tAddr && addr >= 0:
		first = f.addr.put(nil, uint64(addr))
	}
	keep := -1
	for s := 0; s < len(buf); s++ {
		rest := buf[s:]
		if len(first) > 0 {
			k := min(len(first), len(rest))
			if !bytes.Equal(rest[:k], first[:k]) {
				continue
			}
		}
		lo, hi := f.sizeRange(rest, fixed)
		for n := lo; n <= hi && n <= len(rest); n++ {
			if fr, ok := f.parse(rest[:n], addr); ok {
				return fr, s + n, nil
			}
		}
		if keep < 0 && len(rest) < f.maxFrame {
			keep = s
		}
	}
	if keep < 0 {
		keep = len(buf)
	}
	return Frame{}, keep, ErrIncomplete
}

// sizeRange bounds the frame size at the start of b. When a length field
// sits before the payload and counts it, its value gives the payload size
// (within one Unit), so only those sizes are tried; otherwise every size up
// to MaxFrame is.
func (f *Framer) sizeRange(b []byte, fixed int) (lo, hi int) {
	lo, hi = fixed, f.maxFrame
	pi := indexOf(f.tokens, tPayload)
	o := 0
	for i := 0; i < pi; i++ {
		t := f.tokens[i]
		w := f.width(t)
		if t.kind == tLen && o+w <= len(b) {
			l := f.lengths[t.len]
			if l.span.from <= pi && pi <= l.span.to {
				spanFixed := 0
				for j := l.span.from; j <= l.span.to; j++ {
					if j != pi {
						spanFixed += f.width(f.tokens[j])
					}
				}
				raw := l.getter().get(b[o : o+w])
				if raw > uint64(f.maxFrame)+uint64(max(l.Adjust, 0)) {
					return 1, 0 // longer than any frame we accept
				}
				v := int(raw) - l.Adjust
				pmax := v*l.Unit - spanFixed
				pmin := pmax - l.Unit + 1
				if pmax < 0 {
					return 1, 0
				}
				return fixed + max(pmin, 0), min(fixed+pmax, f.maxFrame)
			}
		}
		o += w
	}
	return lo, hi
}

func (f *Framer) parse(b []byte, addr int) (Frame, bool) {
	fr := Frame{lens: make([]uint64, len(f.lengths))}
	payloadLen := len(b) - f.fixedLen()
	offs := make([]int, len(f.tokens)+1)
	o := 0
	var sum uint64
	for i, t := range f.tokens {
		offs[i] = o
		w := f.width(t)
		if t.kind == tPayload {
			w = payloadLen
		}
		if o+w > len(b) {
			return fr, false
		}
		v := b[o : o+w]
		switch t.kind {
		case tLit, tCmd:
			if !bytes.Equal(v, t.lit) {
				return fr, false
			}
		case tAddr:
			fr.Addr = f.addr.get(v)
			if addr >= 0 && fr.Addr != uint64(addr) {
				return fr, false
			}
		case tRow:
			fr.RowVal = f.row.get(v)
			fr.Row = (int(fr.RowVal) - f.rowBase) / f.rowStep
		case tLen:
			fr.lens[t.len] = f.lengths[t.len].getter().get(v)
		case tPayload:
			fr.Payload = v
		case tSum:
			sum = intCodec{width: w, order: f.sumOrder}.get(v)
		}
		o += w
	}
	offs[len(f.tokens)] = o
	if o != len(b) {
		return fr, false
	}
	for i, l := range f.lengths {
		want, ok := l.value(offs[l.span.to+1] - offs[l.span.from])
		if !ok || want&l.getter().max() != fr.lens[i] {
			return fr, false
		}
	}
	if f.sumKind.Width() > 0 {
		got := f.sumKind.Compute(b[offs[f.sumSpan.from]:offs[f.sumSpan.to+1]])
		if uint64(got) != sum {
			return fr, false
		}
	}
	fr.Raw = bytes.Clone(b)
	fr.Payload = bytes.Clone(fr.Payload)
	fr.Text = f.decodeText(fr.Payload)
	return fr, true
}

func (l lengthField) getter() intCodec { return intCodec{width: l.Width, order: l.order} }

func (f *Framer) decodeText(p []byte) string {
	if f.p.Payload.PadTo > 1 {
		p = bytes.TrimRight(p, string([]byte{f.padByte}))
	}
	s := textenc.Decode(f.charset, p)
	tmpl := f.p.Payload.Template
	if i := strings.Index(tmpl, "{text}"); i >= 0 && !strings.Contains(tmpl, "{row}") {
		pre, suf := tmpl[:i], tmpl[i+len("{text}"):]
		s = strings.TrimSuffix(strings.TrimPrefix(s, pre), suf)
	}
	return s
}

// Reply builds the answer an emulated controller sends to fr (ack.reply).
func (f *Framer) Reply(fr Frame) []byte {
	var out []byte
	for _, t := range f.reply {
		switch t.kind {
		case tLit, tCmd:
			out = append(out, t.lit...)
		case tAddr:
			out = f.addr.put(out, fr.Addr)
		case tRow:
			out = f.row.put(out, fr.RowVal)
		case tLen:
			var v uint64
			if t.len < len(fr.lens) {
				v = fr.lens[t.len]
			}
			out = f.lengths[t.len].getter().put(out, v)
		case tSum:
			out = f.putSum(out, f.sumKind.Compute(out))
		}
	}
	return out
}
