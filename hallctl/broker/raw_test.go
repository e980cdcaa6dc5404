package broker_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// rawClient is an MQTT 3.1.1 client on a bare TCP connection: it can stop
// reading (a slow consumer) and pipeline packets (an attacker), which paho
// cannot.
type rawClient struct {
	net.Conn
	nextID uint16
}

// rawDial connects and sends CONNECT; it does not wait for the CONNACK.
func rawDial(t testing.TB, addr, id, user, pass string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, guard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{Conn: nc}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: id, Clean: true, Keepalive: 60}}
	if user != "" {
		pk.Connect.Username, pk.Connect.UsernameFlag = []byte(user), true
		pk.Connect.Password, pk.Connect.PasswordFlag = []byte(pass), true
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	return c
}

// connack reads the CONNACK and returns its return code (0 = accepted).
func (c *rawClient) connack(t testing.TB) byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(guard))
	defer c.SetReadDeadline(time.Time{})
	var b [4]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatalf("connack: %v", err)
	}
	if b[0] != 0x20 {
		t.Fatalf("connack: got packet %#x", b[0])
	}
	return b[3]
}

func (c *rawClient) subscribe(t testing.TB, filter string, qos byte) {
	t.Helper()
	c.nextID++
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 4,
		PacketID: c.nextID, Filters: packets.Subscriptions{{Filter: filter, Qos: qos}}}
	var buf bytes.Buffer
	if err := pk.SubscribeEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// publishBytes encodes a QoS 0 PUBLISH.
func publishBytes(t testing.TB, topic string, retain bool, payload []byte) []byte {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: retain}, ProtocolVersion: 4,
		TopicName: topic, Payload: payload}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pingreq is a PINGREQ: its PINGRESP marks that everything before it was
// processed.
var pingreq = []byte{0xc0, 0x00}

// drain reads until the broker closes the connection (true) or a PINGRESP
// ends what was read (false).
func (c *rawClient) drain(t testing.TB) (closed bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(4 * guard))
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if len(got) >= 2 && got[len(got)-2] == 0xd0 && got[len(got)-1] == 0x00 {
			return false
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("drain: neither a PINGRESP nor a close")
			}
			return true
		}
	}
}
