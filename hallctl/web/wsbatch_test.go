package web

import (
	"bytes"
	"net"
	"testing"
)

type countConn struct {
	net.Conn
	writes int
	got    bytes.Buffer
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes++
	return c.got.Write(p)
}

// A burst written inside a batch reaches the socket in one write, bytes
// and order unchanged; outside a batch every write goes through at once.
func TestBatchConnOneWritePerBurst(t *testing.T) {
	cc := &countConn{}
	bc := &batchConn{Conn: cc}
	if _, err := bc.Write([]byte("hello|")); err != nil || cc.writes != 1 {
		t.Fatalf("unbatched write: %d writes, %v", cc.writes, err)
	}
	bc.begin()
	for _, m := range []string{"a|", "b|", "c|"} {
		if _, err := bc.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if cc.writes != 1 {
		t.Fatalf("a batch wrote before its flush: %d writes", cc.writes)
	}
	if err := bc.flush(); err != nil {
		t.Fatal(err)
	}
	if cc.writes != 2 || cc.got.String() != "hello|a|b|c|" {
		t.Fatalf("after flush: %d writes, %q", cc.writes, cc.got.String())
	}
	// A batch over maxBatch is written as it goes, never lost or reordered.
	bc.begin()
	big := bytes.Repeat([]byte{'x'}, maxBatch-1)
	_, _ = bc.Write(big)
	_, _ = bc.Write([]byte("yz"))
	_ = bc.flush()
	if want := "hello|a|b|c|" + string(big) + "yz"; cc.got.String() != want {
		t.Fatalf("overflowing batch reordered or lost bytes (%d bytes, want %d)", cc.got.Len(), len(want))
	}
}
