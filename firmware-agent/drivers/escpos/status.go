package escpos

import "fmt"

// ReplyKind says what a status byte (or block) from the printer is.
type ReplyKind int

// Reply kinds, from the identification table of DEVICES.md §1.3.
const (
	ReplyGarbage  ReplyKind = iota // matches no pattern (line noise, a stray byte)
	ReplyRealtime                  // DLE EOT n reply: 0xx1xx10
	ReplyBuffered                  // GS r (or GS I) reply: 0xx0xxxx
	ReplyASB                       // Automatic Status Back: 4 bytes, first 0xx1xx00
	ReplyXON                       // 0x11: resume sending
	ReplyXOFF                      // 0x13: pause sending
)

func (k ReplyKind) String() string {
	switch k {
	case ReplyRealtime:
		return "dle-eot"
	case ReplyBuffered:
		return "gs-r"
	case ReplyASB:
		return "asb"
	case ReplyXON:
		return "xon"
	case ReplyXOFF:
		return "xoff"
	}
	return "garbage"
}

// Reply is one demultiplexed unit of the printer's byte stream. B[0] holds
// the byte of a 1-byte reply; ASB uses all four.
type Reply struct {
	Kind ReplyKind
	B    [4]byte
	// N is how many bytes of B are meaningful (4 for ASB, else 1).
	N int
}

func (r Reply) String() string { return fmt.Sprintf("%s % X", r.Kind, r.B[:r.N]) }

// Patterns (mask, value) of the table.
func isRealtime(b byte) bool { return b&0x93 == 0x12 }
func isASBFirst(b byte) bool { return b&0x93 == 0x10 }
func isBuffered(b byte) bool { return b&0x90 == 0x00 }

// StatusParser splits the printer's byte stream into Replies. The
// demultiplexing rule, from the Citizen "Identification of Send Status"
// table (DEVICES.md §1.3):
//
//   - 0x11 is XON and 0x13 XOFF, wherever they appear (they fit none of the
//     reply patterns: bit 4 set, bits 0–1 not 10 or 00), so flow control
//     is recognised even inside an ASB block and skipped there;
//   - a byte 0xx1xx10 (b&0x93 == 0x12) is a DLE EOT reply;
//   - a byte 0xx1xx00 (b&0x93 == 0x10) starts an ASB block: the next three
//     bytes that are not XON/XOFF complete it;
//   - a byte 0xx0xxxx (b&0x90 == 0) is a GS r / GS I reply;
//   - anything else (bit 7 set, or 0xx1xx01/0xx1xx11 other than XON/XOFF)
//     is garbage.
//
// ASB bytes 2–4 must match 0xx0xxxx. If one does not, the block is broken
// (the printer was reset, or noise): the partial block is reported as
// garbage and that byte is classified afresh, so the parser resynchronises
// on the next reply instead of swallowing it.
//
// The zero StatusParser is ready; it keeps at most three pending bytes.
type StatusParser struct {
	asb  [4]byte
	have int // bytes of an ASB block collected; 0 = none in progress
}

// Feed parses p and appends the completed replies to out.
func (s *StatusParser) Feed(p []byte, out []Reply) []Reply {
	for _, b := range p {
		out = s.push(b, out)
	}
	return out
}

// Pending reports whether an ASB block is incomplete.
func (s *StatusParser) Pending() bool { return s.have > 0 }

func (s *StatusParser) push(b byte, out []Reply) []Reply {
	switch b {
	case XON:
		return append(out, Reply{Kind: ReplyXON, B: [4]byte{b}, N: 1})
	case XOFF:
		return append(out, Reply{Kind: ReplyXOFF, B: [4]byte{b}, N: 1})
	}
	if s.have > 0 {
		if isBuffered(b) {
			s.asb[s.have] = b
			s.have++
			if s.have == 4 {
				s.have = 0
				return append(out, Reply{Kind: ReplyASB, B: s.asb, N: 4})
			}
			return out
		}
		var g Reply
		g.Kind, g.N = ReplyGarbage, s.have
		copy(g.B[:], s.asb[:s.have])
		s.have = 0
		out = append(out, g)
	}
	switch {
	case isRealtime(b):
		return append(out, Reply{Kind: ReplyRealtime, B: [4]byte{b}, N: 1})
	case isASBFirst(b):
		s.asb = [4]byte{b}
		s.have = 1
		return out
	case isBuffered(b):
		return append(out, Reply{Kind: ReplyBuffered, B: [4]byte{b}, N: 1})
	}
	return append(out, Reply{Kind: ReplyGarbage, B: [4]byte{b}, N: 1})
}

// Status is what the printer last told us. The zero Status is a healthy,
// online printer with paper.
type Status struct {
	Offline         bool // DLE EOT 1 bit 3, ASB 1 bit 3
	CoverOpen       bool // DLE EOT 2 bit 2, ASB 1 bit 5
	PaperEnd        bool // DLE EOT 2 bit 5, DLE EOT 4 bits 5–6, GS r bits 2–3, ASB 3 bits 2–3
	PaperNearEnd    bool // DLE EOT 4 bits 2–3, GS r bits 0–1, ASB 3 bits 0–1
	CutterError     bool // DLE EOT 3 bit 3, ASB 2 bit 3
	Unrecoverable   bool // DLE EOT 3 bit 5, ASB 2 bit 5
	AutoRecoverable bool // DLE EOT 3 bit 6 (e.g. head overheat), ASB 2 bit 6
	Error           bool // DLE EOT 2 bit 6 (an error occurred)
}

// Stable status codes on the wire (dev/<d>/status code, ack code).
const (
	CodePaperOut     = "paper_out"
	CodePaperNearEnd = "paper_near_end"
	CodeCoverOpen    = "cover_open"
	CodeCutterError  = "cutter_error"
	CodeHeadError    = "printer_error" // unrecoverable or auto-recoverable (overheat) error
	CodeOffline      = "offline"
)

// Code returns the most important problem, or "" when the printer is
// fine. Order: cover open, paper out, cutter error, other error, offline,
// paper near end.
func (s Status) Code() string {
	switch {
	case s.CoverOpen:
		return CodeCoverOpen
	case s.PaperEnd:
		return CodePaperOut
	case s.CutterError:
		return CodeCutterError
	case s.Unrecoverable || s.AutoRecoverable || s.Error:
		return CodeHeadError
	case s.Offline:
		return CodeOffline
	case s.PaperNearEnd:
		return CodePaperNearEnd
	}
	return ""
}

// CanPrint reports whether a job sent now would print: paper near end
// still prints.
func (s Status) CanPrint() bool {
	c := s.Code()
	return c == "" || c == CodePaperNearEnd
}

// ErrNotStatus means a byte does not have the fixed bits of the reply it
// was taken for.
var ErrNotStatus = fmt.Errorf("not a status reply")

// ApplyRealtime folds the reply b to DLE EOT n into s. Each n owns a set of
// fields; those are overwritten, the rest kept.
func (s *Status) ApplyRealtime(n int, b byte) error {
	if !isRealtime(b) {
		return fmt.Errorf("%w: DLE EOT %d reply %02X", ErrNotStatus, n, b)
	}
	switch n {
	case 1:
		s.Offline = b&0x08 != 0
	case 2:
		s.CoverOpen = b&0x04 != 0
		s.PaperEnd = b&0x20 != 0
		s.Error = b&0x40 != 0
	case 3:
		s.CutterError = b&0x08 != 0
		s.Unrecoverable = b&0x20 != 0
		s.AutoRecoverable = b&0x40 != 0
	case 4:
		s.PaperNearEnd = b&0x0c != 0
		s.PaperEnd = b&0x60 != 0
	default:
		return fmt.Errorf("DLE EOT %d: n must be 1..4", n)
	}
	return nil
}

// ApplyPaper folds a GS r 1 reply into s.
func (s *Status) ApplyPaper(b byte) error {
	if !isBuffered(b) {
		return fmt.Errorf("%w: GS r 1 reply %02X", ErrNotStatus, b)
	}
	s.PaperNearEnd = b&0x03 != 0
	s.PaperEnd = b&0x0c != 0
	return nil
}

// ApplyASB folds a 4-byte Automatic Status Back block into s. Byte 2's
// error bits are model-dependent (some models leave them undefined); they
// are taken at the DLE EOT 3 positions.
func (s *Status) ApplyASB(b [4]byte) error {
	if !isASBFirst(b[0]) || !isBuffered(b[1]) || !isBuffered(b[2]) || !isBuffered(b[3]) {
		return fmt.Errorf("%w: ASB % X", ErrNotStatus, b)
	}
	s.Offline = b[0]&0x08 != 0
	s.CoverOpen = b[0]&0x20 != 0
	s.CutterError = b[1]&0x08 != 0
	s.Unrecoverable = b[1]&0x20 != 0
	s.AutoRecoverable = b[1]&0x40 != 0
	s.PaperNearEnd = b[2]&0x03 != 0
	s.PaperEnd = b[2]&0x0c != 0
	return nil
}

// RealtimeReply is the byte a printer in state s answers to DLE EOT n
// (the emulator's side of ApplyRealtime).
func (s Status) RealtimeReply(n int) byte {
	b := byte(0x12)
	set := func(cond bool, bits byte) {
		if cond {
			b |= bits
		}
	}
	switch n {
	case 1:
		set(s.Offline || s.CoverOpen || s.PaperEnd, 0x08)
	case 2:
		set(s.CoverOpen, 0x04)
		set(s.PaperEnd, 0x20)
		set(s.CutterError || s.Unrecoverable || s.AutoRecoverable || s.Error, 0x40)
	case 3:
		set(s.CutterError, 0x08)
		set(s.Unrecoverable, 0x20)
		set(s.AutoRecoverable, 0x40)
	case 4:
		set(s.PaperNearEnd, 0x0c)
		set(s.PaperEnd, 0x60)
	}
	return b
}

// PaperReply is the byte a printer in state s answers to GS r 1.
func (s Status) PaperReply() byte {
	var b byte
	if s.PaperNearEnd {
		b |= 0x03
	}
	if s.PaperEnd {
		b |= 0x0c
	}
	return b
}

// ASBBlock is the 4-byte block a printer in state s sends with ASB on.
func (s Status) ASBBlock() [4]byte {
	b := [4]byte{0x10, 0, 0, 0}
	if s.Offline || s.CoverOpen || s.PaperEnd {
		b[0] |= 0x08
	}
	if s.CoverOpen {
		b[0] |= 0x20
	}
	if s.CutterError {
		b[1] |= 0x08
	}
	if s.Unrecoverable {
		b[1] |= 0x20
	}
	if s.AutoRecoverable {
		b[1] |= 0x40
	}
	b[2] = s.PaperReply()
	return b
}
