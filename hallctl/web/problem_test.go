package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Every 500 web answers is logged with its cause, and the applicant sees
// only the generic problem (no internals).
func TestInternalErrorsAreLogged(t *testing.T) {
	var buf bytes.Buffer
	s := &server{log: slog.New(slog.NewTextHandler(&buf, nil))}
	cause := fmt.Errorf("simulate: %w", errors.New("engine exploded"))
	cases := []struct {
		name string
		h    func(http.ResponseWriter, *http.Request, Claims)
		want string
	}{
		{"writeErr", func(w http.ResponseWriter, _ *http.Request, _ Claims) { writeErr(w, cause) }, "engine exploded"},
		{"unknown code", func(w http.ResponseWriter, _ *http.Request, _ Claims) { writeProblem(w, "no_such_code", "x") }, "unknown problem code"},
		{"panic", func(http.ResponseWriter, *http.Request, Claims) { panic("boom") }, "panic: boom"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			rec := httptest.NewRecorder()
			s.wrap("", tc.h).ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/manager/preview", nil))
			if rec.Code != 500 {
				t.Fatalf("status %d", rec.Code)
			}
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != "internal" || p.Detail != "" {
				t.Errorf("problem %+v (%v): want internal without detail", p, err)
			}
			log := buf.String()
			if !strings.Contains(log, "internal error answered 500") || !strings.Contains(log, tc.want) ||
				!strings.Contains(log, "/api/v1/manager/preview") {
				t.Errorf("log %q lacks the cause %q or the path", log, tc.want)
			}
		})
	}
	// A 4xx is not logged as an internal error.
	buf.Reset()
	rec := httptest.NewRecorder()
	s.wrap("", func(w http.ResponseWriter, _ *http.Request, _ Claims) { writeProblem(w, "bad_request", "x") }).
		ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/hall", nil))
	if rec.Code != 400 || buf.Len() != 0 {
		t.Errorf("bad_request: status %d, log %q", rec.Code, buf.String())
	}
}
