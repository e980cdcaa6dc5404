package ctl

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/wire"
)

// hashOf is a well-formed id_hash for tests.
func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Finding "anyone on the hall network can take the card just read at a
// kiosk": the read goes only to the kiosk's card session; another client
// can neither open a second session for the reader nor take the card
// without the session's secret, and the kiosk's ticket gets it.
func TestCardOnlyForItsSession(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	cs, err := r.c.OpenCardSession("kiosk-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.OpenCardSession("kiosk-1"); err != ErrCardSessionBusy {
		t.Fatalf("a second session for a live reader: %v", err)
	}
	if _, _, err := r.c.CardReads(cs.ID, "guess", 1); err != ErrCardSession {
		t.Fatalf("listener with a wrong secret: %v", err)
	}
	cards, stop, err := r.c.CardReads(cs.ID, cs.Secret, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	k.emit("id-1", wire.EvtCard, wire.Card{IDHash: hashOf("elder"), MaskedID: "110105********002X", MaskedName: "张*三", BirthYear: 1948})
	select {
	case <-cards:
	case <-time.After(guard):
		t.Fatal("the kiosk's session got no card")
	}
	if _, ok := r.c.TakeCard("kiosk-1", "", ""); ok {
		t.Fatal("a card taken without the session")
	}
	if _, ok := r.c.TakeCard("kiosk-1", cs.ID, "guess"); ok {
		t.Fatal("a card taken with a wrong secret")
	}
	ce, ok := r.c.TakeCard("kiosk-1", cs.ID, cs.Secret)
	if !ok || !ce.Elderly {
		t.Fatalf("the kiosk's own take: %+v %v", ce, ok)
	}
	if _, ok := r.c.TakeCard("kiosk-1", cs.ID, cs.Secret); ok {
		t.Fatal("a card was used twice")
	}
	// A read with nobody's session open goes nowhere.
	stop()
	r.clock.Advance(cardSessionIdle + time.Second)
	k.emit("id-1", wire.EvtCard, wire.Card{IDHash: hashOf("late"), MaskedName: "李*"})
	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	k.next()
	cs2, err := r.c.OpenCardSession("kiosk-1")
	if err != nil {
		t.Fatalf("a new session after the old one went idle: %v", err)
	}
	if _, ok := r.c.TakeCard("kiosk-1", cs2.ID, cs2.Secret); ok {
		t.Fatal("a session took a card read before it was opened")
	}
	if _, err := r.c.OpenCardSession("win-9"); err != ErrNoReader {
		t.Fatalf("a session for an agent without a reader: %v", err)
	}
}

// Finding "unmasked numbers and names sent by a device are stored and
// broadcast": a card whose masked_id is a raw ID number, or whose
// masked_name is a full name, is refused and counted; it reaches no card
// session and appears in no log line and no stored record.
func TestUnmaskedCardRefused(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", kioskDevices...)
	cs, err := r.c.OpenCardSession("kiosk-1")
	if err != nil {
		t.Fatal(err)
	}
	cards, stop, err := r.c.CardReads(cs.ID, cs.Secret, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	const rawID, rawName = "11010519491231002X", "张小三"
	k.emit("id-1", wire.EvtCard, wire.Card{IDHash: hashOf("a"), MaskedID: rawID, MaskedName: "张*三", BirthYear: 1949})
	k.emit("id-1", wire.EvtCard, wire.Card{IDHash: hashOf("b"), MaskedID: "110105********002X", MaskedName: rawName})
	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	k.next()
	if n := r.counter(r.c.metrics.rejected.WithLabelValues("event", "handler")); n != 2 {
		t.Fatalf("refused cards %v, want 2", n)
	}
	if len(cards) != 0 {
		t.Fatal("an unmasked card reached the kiosk")
	}
	if _, ok := r.c.TakeCard("kiosk-1", cs.ID, cs.Secret); ok {
		t.Fatal("an unmasked card can be taken")
	}
	if logs := r.logs.String(); strings.Contains(logs, rawID) || strings.Contains(logs, rawName) {
		t.Fatalf("the raw value was logged:\n%s", logs)
	}
	for _, f := range []string{r.path, r.path + "-wal"} {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(rawID)) || bytes.Contains(b, []byte(rawName)) {
			t.Fatalf("the raw value is in %s", f)
		}
	}
}
