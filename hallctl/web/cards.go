package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/servicehall/servicehall/hallctl/ctl"
)

// ID-card reads reach only the kiosk page that asked (docs/devices.md):
//
//	POST /api/v1/kiosk/card-session {"agent": "kiosk-1"}
//	  → 201 {"session", "secret", "agent", "idle_s"}
//	GET  /api/v1/kiosk/cards (websocket); first message {"session", "secret"}
//	  → {"kind": "card", "card": {masked_name, masked_id, elderly, ...}} per read
//	POST /api/v1/tickets {..., "card": true, "card_session", "card_secret"}
//
// The secret never travels in a URL; the public /api/v1/stream carries no
// card data.

// CardSessionRequest opens a kiosk's card session.
type CardSessionRequest struct {
	Agent string `json:"agent"`
}

// cardAuth is the first message on the card websocket.
type cardAuth struct {
	Session string `json:"session"`
	Secret  string `json:"secret"`
}

func (s *server) postCardSession(w http.ResponseWriter, r *http.Request, _ Claims) {
	var req CardSessionRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	cs, err := s.c.OpenCardSession(req.Agent)
	switch {
	case errors.Is(err, ctl.ErrNoReader):
		writeProblem(w, "unknown_agent", "no ID-card reader on this kiosk agent")
	case errors.Is(err, ctl.ErrCardSessionBusy):
		writeProblem(w, "card_session_busy", "")
	case err != nil:
		writeErr(w, err)
	default:
		writeJSON(w, http.StatusCreated, cs)
	}
}

// cardStream is the card session's websocket: it authenticates with the
// first message and then carries the reader's card reads.
func (s *server) cardStream(w http.ResponseWriter, r *http.Request, cl Claims) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeProblem(w, "bad_request", "this is a websocket endpoint")
		return
	}
	release, ok := s.ws.admit(w, r, cl) // the stream caps and the Origin check hold here too
	if !ok {
		return
	}
	defer release()
	conn, err := s.upgrader().Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetReadLimit(1024)
	_ = conn.SetReadDeadline(time.Now().Add(writeWait))
	var auth cardAuth
	_, b, err := conn.ReadMessage()
	if err != nil || json.Unmarshal(b, &auth) != nil {
		return
	}
	cards, stop, err := s.c.CardReads(auth.Session, auth.Secret, 4)
	if err != nil {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "card_session"), time.Now().Add(time.Second))
		return
	}
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = conn.SetReadDeadline(time.Now().Add(3 * pingEvery))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(3 * pingEvery)) })
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	send := func(m StreamMsg) bool {
		b, _ := json.Marshal(m)
		_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
		return conn.WriteMessage(websocket.TextMessage, b) == nil
	}
	if !send(StreamMsg{Kind: "hello", At: s.c.Now()}) {
		return
	}
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-done:
			return
		case <-s.o.Context.Done():
			return
		case ce, ok := <-cards:
			if !ok {
				return // another listener took the session over
			}
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
}
