package escpos

import (
	"reflect"
	"testing"
)

func TestRealtimeTable(t *testing.T) {
	// Values from DEVICES.md §1.3.
	cases := []struct {
		n    int
		b    byte
		code string
	}{
		{1, 0x12, ""},
		{1, 0x1A, CodeOffline},
		{2, 0x12, ""},
		{2, 0x16, CodeCoverOpen},
		{2, 0x32, CodePaperOut},
		{3, 0x12, ""},
		{3, 0x1A, CodeCutterError},
		{4, 0x12, ""},
		{4, 0x1E, CodePaperNearEnd},
		{4, 0x72, CodePaperOut},
		{4, 0x7E, CodePaperOut},
	}
	for _, c := range cases {
		var s Status
		if err := s.ApplyRealtime(c.n, c.b); err != nil {
			t.Fatal(err)
		}
		if s.Code() != c.code {
			t.Errorf("DLE EOT %d = %02X: code %q want %q", c.n, c.b, s.Code(), c.code)
		}
	}
	// The docs.rs example: out of paper answers 1/2/4 with 1A 32 7E.
	var s Status
	for i, b := range []byte{0x1A, 0x32, 0x7E} {
		if err := s.ApplyRealtime([]int{1, 2, 4}[i], b); err != nil {
			t.Fatal(err)
		}
	}
	if !s.PaperEnd || !s.PaperNearEnd || !s.Offline || s.Code() != CodePaperOut || s.CanPrint() {
		t.Errorf("out of paper: %+v", s)
	}
	if err := s.ApplyRealtime(1, 0x00); err == nil {
		t.Error("00 is not a DLE EOT reply")
	}
	if err := s.ApplyRealtime(5, 0x12); err == nil {
		t.Error("n=5 accepted")
	}
}

func TestPaperAndASB(t *testing.T) {
	for b, code := range map[byte]string{0x00: "", 0x03: CodePaperNearEnd, 0x0C: CodePaperOut, 0x0F: CodePaperOut} {
		var s Status
		if err := s.ApplyPaper(b); err != nil || s.Code() != code {
			t.Errorf("GS r %02X: %q %v", b, s.Code(), err)
		}
	}
	for blk, code := range map[[4]byte]string{
		{0x10, 0, 0, 0}:       "",
		{0x38, 0, 0, 0}:       CodeCoverOpen,
		{0x18, 0, 0x0C, 0}:    CodePaperOut,
		{0x18, 0, 0x0F, 0}:    CodePaperOut,
		{0x10, 0, 0x03, 0}:    CodePaperNearEnd,
		{0x10, 0x08, 0x00, 0}: CodeCutterError,
	} {
		var s Status
		if err := s.ApplyASB(blk); err != nil || s.Code() != code {
			t.Errorf("ASB % X: %q %v", blk, s.Code(), err)
		}
	}
}

// The emulator's reply functions and the parser agree for every state.
func TestRepliesRoundTrip(t *testing.T) {
	states := []Status{{}, {CoverOpen: true, Offline: true}, {PaperEnd: true, PaperNearEnd: true, Offline: true},
		{PaperNearEnd: true}, {CutterError: true}, {AutoRecoverable: true}}
	for _, want := range states {
		var got Status
		for n := 1; n <= 4; n++ {
			if err := got.ApplyRealtime(n, want.RealtimeReply(n)); err != nil {
				t.Fatal(err)
			}
		}
		if got.Code() != want.Code() {
			t.Errorf("realtime %+v → %+v", want, got)
		}
		var a Status
		if err := a.ApplyASB(want.ASBBlock()); err != nil || a.Code() != want.Code() {
			t.Errorf("asb %+v → %+v %v", want, a, err)
		}
	}
}

func TestStatusParserDemux(t *testing.T) {
	in := []byte{
		0x12,                         // DLE EOT ok
		0x10, 0x13, 0x00, 0x0C, 0x00, // ASB with an XOFF inside
		0x11,       // XON
		0x0F,       // GS r paper out
		0x7E,       // DLE EOT paper end
		0x38, 0x00, // ASB start, then broken by
		0x16,       // DLE EOT cover open (resync)
		0xFF,       // garbage
		0x18, 0x00, // ASB, incomplete at the end
	}
	var p StatusParser
	got := p.Feed(in, nil)
	want := []Reply{
		{Kind: ReplyRealtime, B: [4]byte{0x12}, N: 1},
		{Kind: ReplyXOFF, B: [4]byte{0x13}, N: 1},
		{Kind: ReplyASB, B: [4]byte{0x10, 0x00, 0x0C, 0x00}, N: 4},
		{Kind: ReplyXON, B: [4]byte{0x11}, N: 1},
		{Kind: ReplyBuffered, B: [4]byte{0x0F}, N: 1},
		{Kind: ReplyRealtime, B: [4]byte{0x7E}, N: 1},
		{Kind: ReplyGarbage, B: [4]byte{0x38, 0x00}, N: 2},
		{Kind: ReplyRealtime, B: [4]byte{0x16}, N: 1},
		{Kind: ReplyGarbage, B: [4]byte{0xFF}, N: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	if !p.Pending() {
		t.Error("incomplete ASB not pending")
	}
	// Split across reads: same replies as one read.
	var q StatusParser
	var split []Reply
	for _, b := range in {
		split = q.Feed([]byte{b}, split)
	}
	if !reflect.DeepEqual(split, want) {
		t.Errorf("byte-wise feed differs: %v", split)
	}
}

// FuzzStatusStream checks that the parser never panics, accounts for every
// byte exactly once (replies + pending), and classifies each reply by the
// table's patterns.
func FuzzStatusStream(f *testing.F) {
	f.Add([]byte{0x12, 0x1A, 0x16, 0x32, 0x1E, 0x72, 0x7E})
	f.Add([]byte{0x10, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x18, 0x00, 0x0C, 0x00})
	f.Add([]byte{0x10, 0x13, 0x00, 0x11, 0x0F, 0x00, 0x0F, 0xFF})
	f.Fuzz(func(t *testing.T, in []byte) {
		var p StatusParser
		out := p.Feed(in, nil)
		n := 0
		for _, r := range out {
			n += r.N
			switch r.Kind {
			case ReplyRealtime:
				if r.N != 1 || !isRealtime(r.B[0]) {
					t.Fatalf("bad realtime %v", r)
				}
				var s Status
				if err := s.ApplyRealtime(2, r.B[0]); err != nil {
					t.Fatal(err)
				}
			case ReplyBuffered:
				if r.N != 1 || !isBuffered(r.B[0]) {
					t.Fatalf("bad buffered %v", r)
				}
			case ReplyASB:
				var s Status
				if r.N != 4 || s.ApplyASB(r.B) != nil {
					t.Fatalf("bad asb %v", r)
				}
			case ReplyXON, ReplyXOFF:
				if r.N != 1 {
					t.Fatalf("bad flow %v", r)
				}
			case ReplyGarbage:
				if r.N < 1 || r.N > 3 {
					t.Fatalf("bad garbage %v", r)
				}
			}
		}
		if p.Pending() {
			n += p.have
		}
		if n != len(in) {
			t.Fatalf("accounted %d of %d bytes", n, len(in))
		}
	})
}
