package netguard

import (
	"errors"
	"net"
	"testing"
	"time"
)

// A connection over the per-address cap is closed at once and counted;
// closing an admitted one gives its slot back (once, however often it
// is closed).
func TestPerIPCapAndRelease(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(inner, Limits{Total: 10, PerIP: 2}, nil)
	defer l.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	a, b := <-accepted, <-accepted
	third := dial()
	_ = third.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = third.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("third connection not closed: %v", err)
	}
	if l.Refused("per_ip") != 1 {
		t.Fatalf("refused %v", l.Refused("per_ip"))
	}
	a.Close()
	a.Close()
	if total, ip := l.Open("127.0.0.1"); total != 1 || ip != 1 {
		t.Fatalf("open after a close: %d %d", total, ip)
	}
	dial()
	c := <-accepted
	b.Close()
	c.Close()
	if total, _ := l.Open("127.0.0.1"); total != 0 {
		t.Fatalf("open at the end: %d", total)
	}
}

// With Hold, a refused connection is kept open (unread) that long, so a
// client that redials at once cannot make the server accept and close
// in a tight loop; past MaxHeld, refusals close at once again.
func TestRefusedConnectionHeld(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(inner, Limits{Total: 10, PerIP: 1, Hold: 300 * time.Millisecond}, nil)
	defer l.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	first, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	<-accepted
	second, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	start := time.Now()
	_ = second.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = second.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("refused connection never closed: %v", err)
	}
	if held := time.Since(start); held < 250*time.Millisecond {
		t.Fatalf("refused connection closed after %v, want it held ~300ms", held)
	}
	if l.Refused("per_ip") != 1 || l.Held() != 0 {
		t.Fatalf("refused %v, held now %d", l.Refused("per_ip"), l.Held())
	}
}
