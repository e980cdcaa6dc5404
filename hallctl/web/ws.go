package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/queue"
)

// StreamMsg is one websocket message: a hall event, a kiosk's ID card
// (sent only to that kiosk's stream), or "hello"/"lagged" control
// messages. On "lagged" the client reloads its snapshot (the server then
// closes the connection; the client reconnects).
type StreamMsg struct {
	Kind   string             `json:"kind"` // queue | device | rating | notice | card | hello | lagged
	Type   string             `json:"type,omitempty"`
	At     time.Time          `json:"at"`
	Queue  *queue.Event       `json:"queue,omitempty"`
	Call   *CallRecord        `json:"call,omitempty"`
	Agent  string             `json:"agent,omitempty"`
	Device string             `json:"device,omitempty"`
	Status any                `json:"status,omitempty"`
	Rating *ctl.Rating        `json:"rating,omitempty"`
	Card   *ctl.CardEvent     `json:"card,omitempty"`
	Hall   string             `json:"hall,omitempty"`
	Extra  map[string]float64 `json:"extra,omitempty"`
	Notice string             `json:"notice,omitempty"` // kind notice: the hall screen's new notice
}

// Stream tuning.
const (
	streamBuffer = 256              // events a connection may fall behind
	writeWait    = 5 * time.Second  // a write slower than this drops the client
	pingEvery    = 20 * time.Second // keeps proxies and dead peers honest
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 4096,
	// The apps are served from the same origin; kiosks and screens on the
	// hall network may also be opened from file or another host.
	CheckOrigin: func(*http.Request) bool { return true },
}

func (s *server) stream(w http.ResponseWriter, r *http.Request, _ Claims) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeProblem(w, "bad_request", "this is a websocket endpoint")
		return
	}
	agent := r.URL.Query().Get("agent")
	// Subscribe before the handshake completes, so that nothing published
	// after the client sees "open" is missed.
	sub := s.c.Subscribe(streamBuffer)
	var cards <-chan ctl.CardEvent
	stopCards := func() {}
	if agent != "" {
		cards, stopCards = s.c.CardsOf(agent, 4)
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		sub.Close()
		stopCards()
		return // Upgrade answered already
	}
	done := make(chan struct{})
	// Reader: only control frames and close; any data ends nothing.
	go func() {
		defer close(done)
		conn.SetReadLimit(4096)
		_ = conn.SetReadDeadline(time.Now().Add(3 * pingEvery))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(3 * pingEvery)) })
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	// The one writer of this connection.
	go func() {
		defer func() {
			sub.Close()
			stopCards()
			_ = conn.Close()
		}()
		send := func(m StreamMsg) bool {
			b, _ := json.Marshal(m)
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			return conn.WriteMessage(websocket.TextMessage, b) == nil
		}
		if !send(StreamMsg{Kind: "hello", At: s.c.Now(), Hall: s.c.Config().Hall.ID}) {
			return
		}
		ping := time.NewTicker(pingEvery)
		defer ping.Stop()
		for {
			select {
			case <-done:
				return
			case <-s.o.Context.Done():
				_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server stopping"), time.Now().Add(time.Second))
				return
			case ev := <-sub.C:
				if sub.Lagged() {
					// Too slow: tell it, and drop it rather than slow the hall.
					send(StreamMsg{Kind: "lagged", At: s.c.Now()})
					_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "too slow"), time.Now().Add(time.Second))
					return
				}
				if !send(s.toMsg(ev)) {
					return
				}
			case ce := <-cards:
				c := ce
				if !send(StreamMsg{Kind: "card", At: c.At, Agent: c.Agent, Device: c.Device, Card: &c}) {
					return
				}
			case <-ping.C:
				if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)) != nil {
					return
				}
			}
		}
	}()
}

func (s *server) toMsg(ev ctl.HallEvent) StreamMsg {
	m := StreamMsg{Kind: ev.Kind, Type: ev.Type, At: ev.At, Agent: ev.Agent, Device: ev.Device, Rating: ev.Rating, Notice: ev.Notice}
	if ev.Status != nil {
		m.Status = ev.Status
	}
	if ev.Queue != nil {
		q := *ev.Queue
		q.Person = "" // the keyed hash stays on the server
		m.Queue = &q
		if q.Type == queue.EvCalled || q.Type == queue.EvRecalled {
			call := s.c.CallOf(q)
			m.Call = &call
		}
	}
	return m
}
