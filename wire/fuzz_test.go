package wire

import (
	"errors"
	"testing"
)

// sentinels every decoder error must wrap.
var sentinels = []error{ErrOutsideRoot, ErrBadTopic, ErrTooLarge, ErrMalformed, ErrVersion, ErrMissingID, ErrInvalid}

func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{
		"hall/v1/h/ctl/status", "hall/v1/h/agent/a/info", "hall/v1/h/agent/a/dev/d/evt/press",
		"hall/v1/h/agent/a/dev/d/cmd/print", "hall/v1/h/agent/a/dev/d/ack", "hall/v1/h/agent/a/dev/d/desired",
		"hall/v1//agent", "hall/v1/h/agent/a/dev/d/evt/press/x", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := ParseTopic(s, "")
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("%q: error without a sentinel: %v", s, err)
			}
			return
		}
		// Whatever parses must build back to the same string.
		if tp.String() != s {
			t.Fatalf("%q parsed to %+v which builds %q", s, tp, tp.String())
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"0190a0b0-0000-7000-8000-000000000001","ts":"2026-11-21T09:30:00.000Z","session":"s","seq":1,"data":{"item":"HR-001"}}`))
	f.Add([]byte(`{"v":1,"id":"x","data":[]}`))
	f.Add([]byte(`{"v":9}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEvent(b)
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if ev.V != Version || !ValidUUID(ev.ID) || ev.TS.IsZero() || len(ev.Data) == 0 {
			t.Fatalf("accepted an invalid event: %+v", ev)
		}
		// Args decoding of any accepted data never panics.
		var p Press
		_ = DecodeArgs(ev.Data, &p)
		var k Key
		_ = DecodeArgs(ev.Data, &k)
		var r Rating
		_ = DecodeArgs(ev.Data, &r)
	})
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"0190a0b0-0000-7000-8000-000000000001","ts":"2026-11-21T09:30:00Z","exp":"2026-11-21T09:31:00Z","args":{"template":"ticket","fields":{"number":"A001"}}}`))
	f.Add([]byte(`{"v":1,"id":"0190a0b0-0000-7000-8000-000000000001"}`))
	f.Add([]byte(`{"v":1,"id":"0190a0b0-0000-7000-8000-000000000001","args":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if c.V != Version || !ValidUUID(c.ID) || len(c.Args) == 0 || c.Args[0] != '{' {
			t.Fatalf("accepted an invalid command: %+v", c)
		}
		var p Print
		_ = DecodeArgs(c.Args, &p)
		var o RatingOpen
		_ = DecodeArgs(c.Args, &o)
	})
}

func FuzzDecodeOthers(f *testing.F) {
	f.Add([]byte(`{"id":"0190a0b0-0000-7000-8000-000000000001","status":"done"}`))
	f.Add([]byte(`{"v":1,"agent":"kiosk-1","devices":[{"id":"p","kind":"escpos-printer"}]}`))
	f.Add([]byte(`{"state":"fault","code":"paper_out"}`))
	f.Add([]byte(`{"version":3,"lines":["A012","请到8号窗口"]}`))
	f.Add([]byte(`online`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, dec := range []func([]byte) error{
			func(b []byte) error { _, err := DecodeAck(b); return err },
			func(b []byte) error { _, err := DecodeInfo(b); return err },
			func(b []byte) error { _, err := DecodeDevStatus(b); return err },
			func(b []byte) error { _, err := DecodeDesired(b); return err },
			func(b []byte) error { _, err := DecodeReported(b); return err },
			func(b []byte) error { _, err := DecodeAvailability(b); return err },
		} {
			if err := dec(b); err != nil && !wrapsSentinel(err) {
				t.Fatalf("error without a sentinel: %v", err)
			}
		}
	})
}
