package keypad

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/wire"
)

var t0 = time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)

func mustParser(t testing.TB, mod func(*Options)) *Parser {
	t.Helper()
	o := DefaultOptions
	if mod != nil {
		mod(&o)
	}
	p, err := NewParser(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestByteFraming(t *testing.T) {
	cases := []struct {
		in   string
		want []wire.Key
	}{
		{"N", []wire.Key{{Action: wire.KeyCallNext}}},
		{"nrxsfpc", []wire.Key{{Action: "call-next"}, {Action: "recall"}, {Action: "no-show"}, {Action: "start"}, {Action: "finish"}, {Action: "pause"}, {Action: "resume"}}},
		{"12T", []wire.Key{{Action: wire.KeyTransfer, Arg: "12"}}},
		{"T", nil}, // transfer without target: dropped
		{"12*3T", []wire.Key{{Action: "transfer", Arg: "3"}}},   // clear key
		{"12NT", []wire.Key{{Action: "call-next"}}},             // digits consumed by next
		{"1\x002T", []wire.Key{{Action: "transfer", Arg: "2"}}}, // garbage clears digits
		{"\r\nN\r\n", []wire.Key{{Action: "call-next"}}},
		{"12345678T", []wire.Key{{Action: "transfer", Arg: "123456"}}}, // max 6 digits
	}
	for _, c := range cases {
		p := mustParser(t, nil)
		got := p.Feed([]byte(c.in), t0)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %+v want %+v", c.in, got, c.want)
		}
	}
}

func TestBytesSplitAcrossReads(t *testing.T) {
	p := mustParser(t, nil)
	var got []wire.Key
	for _, b := range []byte("3") {
		got = append(got, p.Feed([]byte{b}, t0)...)
	}
	got = append(got, p.Feed([]byte("4"), t0.Add(time.Second))...)
	got = append(got, p.Feed([]byte("T"), t0.Add(2*time.Second))...)
	if !reflect.DeepEqual(got, []wire.Key{{Action: "transfer", Arg: "34"}}) {
		t.Fatalf("got %+v", got)
	}
}

func TestStaleDigitsForgotten(t *testing.T) {
	p := mustParser(t, nil)
	p.Feed([]byte("12"), t0)
	if got := p.Feed([]byte("T"), t0.Add(11*time.Second)); len(got) != 0 {
		t.Fatalf("stale digits used: %+v", got)
	}
	if s := p.Stats(); s.NoArg != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCustomHexKeyMap(t *testing.T) {
	p := mustParser(t, func(o *Options) {
		o.Keys = map[string]string{"0x81": "call-next", "0x82": "recall", "0x8A": "transfer", "n": "no-show"}
	})
	got := p.Feed([]byte{0x81, 'N', '7', 0x8a, 0x82, 'S'}, t0)
	want := []wire.Key{{Action: "call-next"}, {Action: "no-show"}, {Action: "transfer", Arg: "7"}, {Action: "recall"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v want %+v", got, want)
	}
	if s := p.Stats(); s.Garbage != 1 || s.Keys != 4 {
		t.Fatalf("stats %+v", s)
	}
}

func TestLineFraming(t *testing.T) {
	p := mustParser(t, func(o *Options) { o.Framing = FramingLine })
	in := "NEXT\r\nrecall\n\r\nXFER 12\r\n34\nT\rT\nNEXT 5\nBOGUS\n" + strings.Repeat("A", 100) + "\nPAUSE\n"
	got := p.Feed([]byte(in), t0)
	want := []wire.Key{{Action: "call-next"}, {Action: "recall"}, {Action: "transfer", Arg: "12"}, {Action: "transfer", Arg: "34"}, {Action: "pause"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	s := p.Stats()
	if s.Garbage != 2 || s.Overlong != 1 || s.NoArg != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBadOptions(t *testing.T) {
	bad := []func(*Options){
		func(o *Options) { o.Framing = "frames" },
		func(o *Options) { o.Keys = map[string]string{"N": "dance"} },
		func(o *Options) { o.Keys = map[string]string{"5": "call-next"} },
		func(o *Options) { o.Keys = map[string]string{"*": "call-next"} },
		func(o *Options) { o.Keys = map[string]string{"0xZZ": "call-next"} },
		func(o *Options) { o.Keys = map[string]string{"A B": "call-next"} },
		func(o *Options) { o.MaxDigits = 0 },
		func(o *Options) { o.MaxLine = 1 },
		func(o *Options) { o.DigitTimeoutS = 0 },
		func(o *Options) { o.ArgActions = []string{"fly"} },
	}
	for i, mod := range bad {
		o := DefaultOptions
		mod(&o)
		if _, err := NewParser(o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("case %d: err = %v", i, err)
		}
	}
}

func FuzzParser(f *testing.F) {
	f.Add([]byte("12T"), false)
	f.Add([]byte("NEXT\r\nXFER 12\r\n"), true)
	f.Add([]byte{0x00, 0xff, 'N', '1', '*', 'T'}, false)
	f.Add([]byte(strings.Repeat("9", 70)+"\n"), true)
	f.Fuzz(func(t *testing.T, in []byte, line bool) {
		o := DefaultOptions
		if line {
			o.Framing = FramingLine
		}
		p, err := NewParser(o)
		if err != nil {
			t.Fatal(err)
		}
		// Feeding in two pieces must give what feeding at once gives.
		whole := p.Feed(in, t0)
		q, _ := NewParser(o)
		half := len(in) / 2
		split := append(q.Feed(in[:half], t0), q.Feed(in[half:], t0)...)
		if !reflect.DeepEqual(whole, split) {
			t.Fatalf("split feed differs: %+v vs %+v", whole, split)
		}
		for _, k := range whole {
			if err := k.Check(); err != nil {
				t.Fatal(err)
			}
			if k.Arg != "" && (!isDigits(k.Arg) || len(k.Arg) > o.MaxDigits) {
				t.Fatalf("bad arg %q", k.Arg)
			}
			if k.Action == wire.KeyTransfer && k.Arg == "" {
				t.Fatal("transfer without arg")
			}
		}
		if p.Stats().Keys != uint64(len(whole)) {
			t.Fatal("key count off")
		}
	})
}
