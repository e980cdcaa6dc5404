package keyrate

import (
	"strconv"
	"testing"
	"time"
)

// A key gets its burst, then waits for the refill; other keys are not
// affected; memory stays at max keys however many keys come.
func TestSet(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := New(60, 3, 100) // one a second, bursts of 3
	for i := range 3 {
		if ok, _ := s.Allow("a", t0); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := s.Allow("a", t0)
	if ok || wait != time.Second {
		t.Fatalf("over the burst: ok=%v wait=%v, want refused for 1s", ok, wait)
	}
	if ok, _ := s.Allow("b", t0); !ok {
		t.Fatal("another key was refused")
	}
	if ok, _ := s.Allow("a", t0.Add(time.Second)); !ok {
		t.Fatal("refused after the refill")
	}
	for i := range 10_000 {
		s.Allow("k"+strconv.Itoa(i), t0)
	}
	if n := s.Len(); n != 100 {
		t.Fatalf("%d keys tracked, want at most 100", n)
	}
}
