package framer

import "bytes"

// Result is what a reply matcher found.
type Result int

// Match results.
const (
	NeedMore Result = iota // no complete ACK or NAK yet
	Ack
	Nak
)

func (r Result) String() string {
	switch r {
	case Ack:
		return "ack"
	case Nak:
		return "nak"
	}
	return "need-more"
}

// MatchReply looks for the profile's ACK or NAK pattern in buf from the
// controller at addr (addr < 0: any). It is tolerant: bytes before a match
// are skipped as line noise. It returns the earliest complete match and how
// many bytes of buf it used; with no complete match, NeedMore and how many
// leading bytes can be dropped because no pattern can start there.
func (f *Framer) MatchReply(buf []byte, addr int) (Result, int) {
	keep := len(buf)
	for s := range buf {
		for _, p := range []struct {
			toks []token
			res  Result
		}{{f.ack, Ack}, {f.nak, Nak}} {
			if len(p.toks) == 0 {
				continue
			}
			n, complete := f.matchAt(p.toks, buf[s:], addr)
			if complete {
				return p.res, s + n
			}
			if n >= 0 && s < keep {
				keep = s
			}
		}
	}
	return NeedMore, keep
}

// matchAt matches toks at the start of b. It returns (length, true) for a
// full match, (0, false) when b ends before the pattern does but what is
// there fits, and (-1, false) on a mismatch.
func (f *Framer) matchAt(toks []token, b []byte, addr int) (int, bool) {
	o := 0
	for _, t := range toks {
		w := f.width(t)
		if o+w > len(b) {
			// Partial: what is there must fit the literal parts.
			if t.kind == tLit || t.kind == tCmd {
				if !bytes.HasPrefix(t.lit, b[o:]) {
					return -1, false
				}
			}
			return 0, false
		}
		v := b[o : o+w]
		switch t.kind {
		case tLit, tCmd:
			if !bytes.Equal(v, t.lit) {
				return -1, false
			}
		case tAddr:
			if addr >= 0 && f.addr.get(v) != uint64(addr) {
				return -1, false
			}
		case tSum:
			want := f.sumKind.Compute(b[:o])
			if (intCodec{width: w, order: f.sumOrder}).get(v) != uint64(want) {
				return -1, false
			}
		}
		o += w
	}
	return o, true
}
