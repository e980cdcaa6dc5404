package web

import (
	"net/http"

	"github.com/servicehall/servicehall/hallctl/casesys"
)

// The manager's dead letters (issue 14): case events the case system
// could not take, each holding back its case's later events.
//
//	GET  /api/v1/manager/dead-letters               → {dead_letters: [entry]}
//	GET  /api/v1/manager/dead-letters/{key}         → entry
//	POST /api/v1/manager/dead-letters/{key}/replay  → {replayed: 1}
//	POST /api/v1/manager/dead-letters/replay        → {replayed: n} (every one)
//	POST /api/v1/manager/dead-letters/{key}/discard {reason} → entry
//
// Replays and discards are audited with the token's subject. Every route
// takes ?outbox=supervision for the 电子监察 platform's outbox (default
// cases, the case system's webhook).

// DeadLetterList is the list answer.
type DeadLetterList struct {
	DeadLetters []casesys.Entry `json:"dead_letters"`
}

// DiscardRequest gives a discard's reason (required, audited).
type DiscardRequest struct {
	Reason string `json:"reason"`
}

func (s *server) getDeadLetters(w http.ResponseWriter, r *http.Request, _ Claims) {
	es, err := s.c.DeadLettersIn(r.Context(), r.URL.Query().Get("outbox"))
	if err != nil {
		writeErr(w, err)
		return
	}
	if es == nil {
		es = []casesys.Entry{}
	}
	writeJSON(w, 200, DeadLetterList{DeadLetters: es})
}

func (s *server) getDeadLetter(w http.ResponseWriter, r *http.Request, _ Claims) {
	e, err := s.c.DeadLetterIn(r.Context(), r.URL.Query().Get("outbox"), r.PathValue("key"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, e)
}

func (s *server) replayDeadLetter(w http.ResponseWriter, r *http.Request, cl Claims) {
	n, err := s.c.ReplayDeadLettersIn(r.Context(), r.URL.Query().Get("outbox"), r.PathValue("key"), actor(cl), cl.Role)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]int{"replayed": n})
}

func (s *server) discardDeadLetter(w http.ResponseWriter, r *http.Request, cl Claims) {
	var req DiscardRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	e, err := s.c.DiscardDeadLetterIn(r.Context(), r.URL.Query().Get("outbox"), r.PathValue("key"), req.Reason, actor(cl), cl.Role)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, e)
}
