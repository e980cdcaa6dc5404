package wire

import (
	"testing"
	"time"
)

func BenchmarkParseTopic(b *testing.B) {
	s := Event("sz-civic", "kiosk-1", "btn-1", EvtPress)
	for b.Loop() {
		if _, err := ParseTopic(s, "sz-civic"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	p := Marshal(NewEvent(time.Now(), "s", 1, Press{Item: "HR-001"}))
	for b.Loop() {
		if _, err := DecodeEvent(p); err != nil {
			b.Fatal(err)
		}
	}
}
