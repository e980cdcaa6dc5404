package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/servicehall/servicehall/hallctl/ctl"
)

// The ticket page: GET /t/{number}?d=… is the phone page a ticket's QR
// code opens (kiosk-ui/static/t/); it reads /api/v1/t/{number}?d=… and
// rates through /api/v1/t/{number}/rating?d=…. The check value d binds
// both to the one printed ticket (ctl.TicketPage).

// mountTicketPage serves the page itself at /t/{number}; its scripts and
// styles are served from the apps at /t/….
func (s *server) mountTicketPage(mux *http.ServeMux) {
	files := http.FileServerFS(s.o.Apps)
	mux.Handle("GET /t/{number}", s.publicLimited("", "GET /t/{number}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !numberRe.MatchString(r.PathValue("number")) {
			w.Header().Set("Cache-Control", "no-cache")
			files.ServeHTTP(w, r) // t/t.js, t/t.css
			return
		}
		page, err := fs.ReadFile(s.o.Apps, "t/index.html")
		if err != nil {
			http.Error(w, "ticket page missing", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Referrer-Policy", "no-referrer") // d stays off other sites' logs
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(page)
	})))
}

// clientIP is the address failed checks are counted against: the TCP
// peer. Forwarded headers are not trusted (anyone can send them); behind
// a reverse proxy every phone counts as the proxy.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// writeTicketErr answers a ticket page error (429 with Retry-After when
// the client is rate-limited).
func writeTicketErr(w http.ResponseWriter, err error) {
	var re *ctl.RetryError
	switch {
	case errors.As(err, &re) && errors.Is(err, ctl.ErrRateLimited):
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((re.After+time.Second-1)/time.Second))))
		writeProblem(w, "rate_limited", "")
	case errors.Is(err, ctl.ErrBadTicketLink):
		writeProblem(w, "bad_ticket_link", "")
	default:
		writeErr(w, err)
	}
}

// getTicketPage answers the page's state; polled, so it carries an ETag
// and answers 304 when nothing changed.
func (s *server) getTicketPage(w http.ResponseWriter, r *http.Request, _ Claims) {
	p, err := s.c.TicketPage(r.PathValue("number"), r.URL.Query().Get("d"), clientIP(r))
	if err != nil {
		writeTicketErr(w, err)
		return
	}
	at := p.At
	p.At = time.Time{} // the ETag covers what the page shows, not the clock
	b, err := json.Marshal(p)
	if err != nil {
		writeErr(w, err)
		return
	}
	sum := sha256.Sum256(b)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	p.At = at
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(p)
}

// TicketRatingRequest rates a served ticket from its page.
type TicketRatingRequest struct {
	Level int `json:"level"`
	// Reasons (codes of ratings.reasons) and Comment (at most 200
	// characters, for the manager only) are for ratings 1–2.
	Reasons []string `json:"reasons,omitempty"`
	Comment string   `json:"comment,omitempty"`
}

func (s *server) postTicketPageRating(w http.ResponseWriter, r *http.Request, _ Claims) {
	var req TicketRatingRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.Level < 1 || req.Level > 5 {
		writeProblem(w, "bad_level", "")
		return
	}
	rt, err := s.c.RateTicketPage(r.Context(), r.PathValue("number"), r.URL.Query().Get("d"), clientIP(r), req.Level,
		ctl.RatingExtra{Reasons: req.Reasons, Comment: req.Comment})
	if err != nil {
		writeTicketErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rt.Public())
}
