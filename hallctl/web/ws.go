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
// (only on its card session's socket, cards.go), or "hello"/"lagged" control
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
	streamBuffer = 512 // events a connection may fall behind
	// streamFlushWait is how long a stream gathers events after the first
	// one before it writes them (invisible on a screen; a burst of a busy
	// hall then costs one write), and streamBatchMax how many at most.
	streamFlushWait = 20 * time.Millisecond
	streamBatchMax  = 512
	writeWait       = 5 * time.Second  // a write slower than this drops the client
	pingEvery       = 20 * time.Second // keeps proxies and dead peers honest
)

// upgrader answers the stream's handshake. Origin: the apps are served
// from the hall's own origin; a page of another site is refused (gate's
// checkOrigin, stream_limit.go), a client without Origin is not a
// browser and is allowed.
func (s *server) upgrader() *websocket.Upgrader {
	return &websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 4096, CheckOrigin: s.ws.checkOrigin}
}

func (s *server) stream(w http.ResponseWriter, r *http.Request, cl Claims) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeProblem(w, "bad_request", "this is a websocket endpoint")
		return
	}
	release, ok := s.ws.admit(w, r, cl)
	if !ok {
		return
	}
	// Subscribe before the handshake completes, so that nothing published
	// after the client sees "open" is missed.
	sub := s.c.Subscribe(streamBuffer)
	hj := &batchHijacker{ResponseWriter: w}
	conn, err := s.upgrader().Upgrade(hj, r, nil)
	if err != nil {
		release()
		sub.Close()
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
			_ = conn.Close()
			<-done // the reader ends once the connection is closed
			release()
		}()
		send := func(m StreamMsg) bool {
			b, _ := json.Marshal(m)
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			return conn.WriteMessage(websocket.TextMessage, b) == nil
		}
		// An event is encoded once for all the streams
		// (ctl.HallEvent.Shared), not once per stream; each stream frames
		// it in its own write buffer (a websocket.PreparedMessage would
		// allocate a connection and a 4 KB buffer per event to share a
		// frame header of a few bytes). The write deadline is set once
		// per batch, before the batch's first event.
		sendEvent := func(ev ctl.HallEvent) bool {
			b, _ := ev.Shared.Do(func() any {
				b, _ := json.Marshal(s.toMsg(ev))
				return b
			}).([]byte)
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
				// This event and those that follow within streamFlushWait
				// go to the socket in one write (wsbatch.go): in a busy
				// hall a burst costs each stream one wake-up and one
				// system call, not one per event.
				hj.conn.begin()
				_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
				if !sendEvent(ev) {
					return
				}
				wait := time.NewTimer(streamFlushWait)
				select {
				case <-wait.C:
				case <-done:
					wait.Stop()
					return
				case <-s.o.Context.Done():
					wait.Stop()
					_ = hj.conn.flush()
					return
				}
				for n, more := 1, true; more && n < streamBatchMax; n++ {
					select {
					case ev = <-sub.C:
						if !sendEvent(ev) {
							return
						}
					default:
						more = false
					}
				}
				if sub.Lagged() {
					// Too slow: tell it, and drop it rather than slow the hall.
					send(StreamMsg{Kind: "lagged", At: s.c.Now()})
					_ = hj.conn.flush()
					_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "too slow"), time.Now().Add(time.Second))
					return
				}
				_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
				if hj.conn.flush() != nil {
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
	if ev.Rating != nil && ev.Rating.Clerk != "" {
		rt := *ev.Rating
		rt.Clerk = "" // the public stream does not say who served (staff sign-in, signin.go)
		m.Rating = &rt
	}
	if ev.Queue != nil {
		q := *ev.Queue
		q.Person = "" // the keyed hash stays on the server
		q.Clerk = ""  // nor which staff id acted
		m.Queue = &q
		if q.Type == queue.EvCalled || q.Type == queue.EvRecalled {
			call := s.c.CallOf(q)
			m.Call = &call
		}
	}
	return m
}
