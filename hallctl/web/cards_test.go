package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/servicehall/servicehall/wire"
)

// Findings "anyone on the hall network can take the card just read at a
// kiosk" and "an anonymous, cross-origin websocket receives every card
// read": the read reaches only the kiosk's card session; the public
// stream carries no card; a second client gets no_card (and cannot open a
// session of its own for the reader) while the kiosk gets its ticket.
func TestCardGoesOnlyToItsKioskSession(t *testing.T) {
	h := startHall(t)
	kiosk := newDevice(t, h, "kiosk-1", []wire.DeviceInfo{
		{ID: "printer-1", Kind: wire.KindPrinter}, {ID: "reader-1", Kind: wire.KindIDReader}})
	ws := strings.Replace(h.base, "http", "ws", 1)
	public, _, err := websocket.DefaultDialer.Dial(ws+"/api/v1/stream?agent=kiosk-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer public.Close()

	r := h.do(t, "POST", "/api/v1/kiosk/card-session", "", map[string]any{"agent": "kiosk-1"})
	if r.status != 201 {
		t.Fatalf("card session: %d %s", r.status, r.body)
	}
	var cs struct{ Session, Secret string }
	r.decode(t, &cs)
	if r := h.do(t, "POST", "/api/v1/kiosk/card-session", "", map[string]any{"agent": "kiosk-1"}); r.status != 409 || r.problem(t).Code != "card_session_busy" {
		t.Fatalf("a second session for the reader: %d %s", r.status, r.body)
	}
	cards, _, err := websocket.DefaultDialer.Dial(ws+"/api/v1/kiosk/cards", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cards.Close()
	_ = cards.WriteJSON(map[string]string{"session": cs.Session, "secret": cs.Secret})
	var hello StreamMsgT
	_ = cards.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := cards.ReadJSON(&hello); err != nil || hello.Kind != "hello" {
		t.Fatalf("card socket hello: %+v %v", hello, err)
	}
	sum := sha256.Sum256([]byte("11010519480101002X"))
	kiosk.emit(t, "reader-1", wire.EvtCard, wire.Card{IDHash: hex.EncodeToString(sum[:]), MaskedID: "110105********002X", MaskedName: "张*三", BirthYear: 1948})
	var got StreamMsgT
	if err := cards.ReadJSON(&got); err != nil || got.Kind != "card" {
		t.Fatalf("card socket: %+v %v", got, err)
	}
	if strings.Contains(string(got.Card), "1948") || !strings.Contains(string(got.Card), `"elderly":true`) {
		t.Fatalf("the kiosk's card carries the birth year or no elderly flag: %s", got.Card)
	}
	// Another client on the hall network: no card without the session.
	if r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001", "agent": "kiosk-1", "card": true}); r.status != 409 || r.problem(t).Code != "no_card" {
		t.Fatalf("thief: %d %s", r.status, r.body)
	}
	if r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001", "agent": "kiosk-1", "card": true,
		"card_session": cs.Session, "card_secret": "guess"}); r.status != 409 || r.problem(t).Code != "no_card" {
		t.Fatalf("thief with a guessed secret: %d %s", r.status, r.body)
	}
	r = h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001", "agent": "kiosk-1", "card": true,
		"card_session": cs.Session, "card_secret": cs.Secret})
	if r.status != 201 || !strings.Contains(string(r.body), "张*三") {
		t.Fatalf("the kiosk's own ticket: %d %s", r.status, r.body)
	}
	// The public stream saw the ticket but never the card.
	_ = public.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m StreamMsgT
		if err := public.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Kind == "card" || len(m.Card) > 0 {
			t.Fatalf("the public stream carried a card: %+v", m)
		}
		if m.Kind == "queue" {
			break
		}
	}
}

// StreamMsgT is what the tests read of a stream message.
type StreamMsgT struct {
	Kind string          `json:"kind"`
	Card json.RawMessage `json:"card"`
}

// Issue 10 item 2, the ID-swipe path: at a kiosk the holder of a ticket
// taken by ID card rates it by swiping the same card. Another person's
// card, or a ticket taken without a card, rates nothing.
func TestRateByIDSwipe(t *testing.T) {
	h := startHall(t)
	kiosk := newDevice(t, h, "kiosk-1", []wire.DeviceInfo{
		{ID: "printer-1", Kind: wire.KindPrinter}, {ID: "reader-1", Kind: wire.KindIDReader}})
	ws := strings.Replace(h.base, "http", "ws", 1)
	r := h.do(t, "POST", "/api/v1/kiosk/card-session", "", map[string]any{"agent": "kiosk-1"})
	if r.status != 201 {
		t.Fatalf("card session: %d %s", r.status, r.body)
	}
	var cs struct{ Session, Secret string }
	r.decode(t, &cs)
	cards, _, err := websocket.DefaultDialer.Dial(ws+"/api/v1/kiosk/cards", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cards.Close()
	_ = cards.WriteJSON(map[string]string{"session": cs.Session, "secret": cs.Secret})
	_ = cards.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m StreamMsgT
	if err := cards.ReadJSON(&m); err != nil || m.Kind != "hello" {
		t.Fatalf("hello: %+v %v", m, err)
	}
	swipe := func(id string) {
		t.Helper()
		sum := sha256.Sum256([]byte(id))
		kiosk.emit(t, "reader-1", wire.EvtCard, wire.Card{IDHash: hex.EncodeToString(sum[:]), MaskedID: id[:6] + "********" + id[14:], MaskedName: "张*", BirthYear: 1980})
		var got StreamMsgT
		if err := cards.ReadJSON(&got); err != nil || got.Kind != "card" {
			t.Fatalf("card socket: %+v %v", got, err)
		}
	}
	withCard := map[string]any{"agent": "kiosk-1", "card": true, "card_session": cs.Session, "card_secret": cs.Secret}
	with := func(extra map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range withCard {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	const holder, other = "11010519800101002X", "110105198202020031"
	swipe(holder)
	if r := h.do(t, "POST", "/api/v1/tickets", "", with(map[string]any{"item": "HR-001"})); r.status != 201 {
		t.Fatalf("ticket by card: %d %s", r.status, r.body)
	}
	if r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"}); r.status != 201 {
		t.Fatalf("walk-in ticket: %d %s", r.status, r.body)
	}
	clerk := h.token(t, "clerk", 1)
	for _, a := range []string{"call-next", "start", "finish", "call-next", "start", "finish"} {
		if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]any{"action": a}); r.status != 200 {
			t.Fatalf("%s: %d %s", a, r.status, r.body)
		}
	}
	// Without a fresh read there is no card to use.
	if r := h.do(t, "POST", "/api/v1/tickets/A001/rating", "", with(map[string]any{"level": 5})); r.status != 409 || r.problem(t).Code != "no_card" {
		t.Fatalf("rating with no card read: %d %s", r.status, r.body)
	}
	swipe(other)
	if r := h.do(t, "POST", "/api/v1/tickets/A001/rating", "", with(map[string]any{"level": 1})); r.status != 404 || r.problem(t).Code != "bad_ticket_check" {
		t.Fatalf("another person's card rated A001: %d %s", r.status, r.body)
	}
	swipe(holder)
	if r := h.do(t, "POST", "/api/v1/tickets/A002/rating", "", with(map[string]any{"level": 1})); r.status != 404 || r.problem(t).Code != "bad_ticket_check" {
		t.Fatalf("a card rated a ticket taken without it: %d %s", r.status, r.body)
	}
	swipe(holder)
	if r := h.do(t, "POST", "/api/v1/tickets/A001/rating", "", with(map[string]any{"level": 5})); r.status != 201 {
		t.Fatalf("the holder's swipe: %d %s", r.status, r.body)
	}
}
