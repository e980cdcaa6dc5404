package web

import (
	"errors"
	"net/http"

	"github.com/servicehall/servicehall/hallctl/ctl"
)

// Token revocation for admins (docs/tokens.md): disabling a subject
// refuses every token that carries it, at once and after restarts, with
// 401 token_revoked; enabling lifts it. Both are audited. `hallctl token
// disable|enable SUBJECT` calls these routes.
func (s *server) mountSubjects(api apiFunc) {
	api("GET", "/api/v1/admin/subjects", RoleAdmin, s.getSubjects)
	api("POST", "/api/v1/admin/subjects/{subject}/disable", RoleAdmin, s.postSubject(true))
	api("POST", "/api/v1/admin/subjects/{subject}/enable", RoleAdmin, s.postSubject(false))
}

func (s *server) getSubjects(w http.ResponseWriter, _ *http.Request, _ Claims) {
	writeJSON(w, 200, map[string]any{"disabled": s.c.DisabledSubjects()})
}

func (s *server) postSubject(disable bool) func(http.ResponseWriter, *http.Request, Claims) {
	return func(w http.ResponseWriter, r *http.Request, cl Claims) {
		subject := r.PathValue("subject")
		set := s.c.EnableSubject
		if disable {
			set = s.c.DisableSubject
		}
		changed, err := set(r.Context(), subject, actor(cl), cl.Role)
		switch {
		case errors.Is(err, ctl.ErrBadSubject):
			writeProblem(w, "bad_request", err.Error())
			return
		case err != nil:
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, map[string]any{"subject": subject, "disabled": disable, "changed": changed})
	}
}
