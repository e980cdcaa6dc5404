package web

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// Browser sessions (docs/security.md, "Browser"): the clerk and manager
// consoles never carry a token in a URL or in page storage. Staff sign in
// with a staff id and password (signin.go); the console's token field
// posts a pasted token to POST /api/v1/session, which
// verifies it and sets it as the sh_session cookie — HttpOnly (page
// scripts cannot read it), SameSite=Strict (another site's pages never
// send it), Path=/, Secure over TLS, expiring with the token. wrap
// accepts the cookie when a call has no Authorization header. DELETE
// /api/v1/session signs out.

// SessionCookie is the browser session's cookie name.
const SessionCookie = "sh_session"

// verifyToken checks a bearer token: the one verification wrap and the
// session use.
func (s *server) verifyToken(tok string) (Claims, error) {
	return s.authenticate(tok)
}

// requestToken is the call's token: the Authorization header's bearer
// token, else the session cookie.
func requestToken(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		return strings.TrimSpace(tok), ok
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// SessionRequest signs a browser in: with a token (pasted), or with a
// staff id and password of the hall config's staff: section and, for a
// clerk, the window signed in at (signin.go).
type SessionRequest struct {
	Token    string `json:"token,omitempty"`
	Staff    string `json:"staff,omitempty"`
	Password string `json:"password,omitempty"`
	Window   int    `json:"window,omitempty"`
}

func (s *server) mountSession(api apiFunc) {
	s.staff = newStaffAuth(s.o.Registry)
	if cfg := s.c.Config(); len(cfg.Staff) > 0 {
		go dummyHash(typicalCost(cfg)) // ready before the first unknown id (signin.go)
	}
	api("POST", "/api/v1/session", "", s.postSession)
	api("DELETE", "/api/v1/session", "", s.deleteSession)
}

func (s *server) postSession(w http.ResponseWriter, r *http.Request, _ Claims) {
	var req SessionRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.Staff != "" || req.Password != "" {
		s.postStaffSession(w, r, req)
		return
	}
	tok := strings.TrimSpace(req.Token)
	cl, err := s.verifyToken(tok)
	switch {
	case err == nil:
	case errors.Is(err, ErrTokenExpired):
		writeProblem(w, "token_expired", "")
		return
	default:
		writeProblem(w, "unauthorized", "")
		return
	}
	s.setSession(w, r, tok, cl)
}

// setSession sets tok as the browser's session cookie and answers who
// signed in.
func (s *server) setSession(w http.ResponseWriter, r *http.Request, tok string, cl Claims) {
	c := &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
	if cl.Expires != 0 {
		c.Expires = time.Unix(cl.Expires, 0)
		c.MaxAge = max(1, int(cl.Expires-s.c.Now().Unix()))
	}
	http.SetCookie(w, c)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"role": cl.Role, "window": cl.Window, "subject": cl.Subject,
		"name": s.c.Config().StaffName(cl.Subject), "expires": time.Unix(cl.Expires, 0).UTC()})
}

func (s *server) deleteSession(w http.ResponseWriter, r *http.Request, _ Claims) {
	s.endSession(r) // a staff session's token is refused from now on (signin.go)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}
