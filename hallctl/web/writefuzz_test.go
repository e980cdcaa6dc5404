package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/web"
)

// FuzzWriteRoutes sends arbitrary bodies, path arguments, content types and
// roles to every route that changes the hall (issue 10, "a fuzz run over
// every write route"): no answer is a 5xx, nothing panics, and a refused
// request (4xx) leaves the event log exactly as it was. CI runs it for a
// bounded time (make fuzz); `go test` runs the seeds.
func FuzzWriteRoutes(f *testing.F) {
	h := startHall(f)
	var writes []web.Route
	for _, rt := range h.Web.Routes() {
		if rt.Method != http.MethodGet && rt.Method != http.MethodHead {
			writes = append(writes, rt)
		}
	}
	if len(writes) < 10 {
		f.Fatalf("only %d write routes: %v", len(writes), writes)
	}
	tokens := []string{"", h.token(f, web.RoleKiosk, 0), h.token(f, web.RoleClerk, 1), h.token(f, web.RoleManager, 0), h.token(f, web.RoleAdmin, 0), "garbage.token"}
	// A served ticket, so ratings, reprints and follow-ups have something
	// real to refuse or accept.
	issued := h.do(f, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001"})
	if issued.status != 201 && issued.status != 200 {
		f.Fatalf("issue: %d %s", issued.status, issued.body)
	}
	bodies := []string{
		`{}`, `{"item":"HR-001"}`, `{"level":5}`, `{"action":"call-next"}`, `{"type":"open","window":3}`,
		`{"actions":[{"type":"open","window":3}]}`, `{"text":"notice"}`, `{"status":"ready_for_pickup"}`,
		`{"token":"x"}`, `null`, `[]`, `{"item":"HR-001","class":"green"}`, "{\"item\":\"\xff\"}", `{"a":` + strings.Repeat("[", 200),
	}
	for i := range writes {
		for j, b := range bodies {
			f.Add(uint8(i), "A001", []byte(b), uint8(j%len(tokens)), uint8(0))
		}
		f.Add(uint8(i), "../../x", []byte(`{}`), uint8(4), uint8(1))
		f.Add(uint8(i), "1", []byte(`item=HR-001`), uint8(0), uint8(2))
	}
	ctypes := []string{"application/json", "text/plain", "application/x-www-form-urlencoded", "", "application/json; charset=utf-8"}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, route uint8, arg string, body []byte, role uint8, ctype uint8) {
		rt := writes[int(route)%len(writes)]
		path := rt.Path
		for {
			i := strings.Index(path, "{")
			j := strings.Index(path, "}")
			if i < 0 || j < i {
				break
			}
			path = path[:i] + url.PathEscape(arg) + path[j+1:]
		}
		req := httptest.NewRequest(rt.Method, "http://"+h.App.HTTPAddr()+path, bytes.NewReader(body))
		if ct := ctypes[int(ctype)%len(ctypes)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if tok := tokens[int(role)%len(tokens)]; tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		before, err := h.Store.LastSeq(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.mux.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s (%q) → %d %s", rt.Method, path, body, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 {
			after, err := h.Store.LastSeq(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Fatalf("%s %s (%q) was refused with %d but the log moved from %d to %d: %s", rt.Method, path, body, rec.Code, before, after, rec.Body.Bytes())
			}
		}
		if err := h.Controller.Err(); err != nil {
			t.Fatalf("controller failed: %v", err)
		}
	})
}
