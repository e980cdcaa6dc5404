package casesys

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
)

// APIOpts configure the inbound API.
type APIOpts struct {
	// Prefix is where the handler is mounted; default "/api/v1/cases".
	Prefix string
	// Key verifies status pushes (Config.InboundKey); nil = pushes refused
	// with 403 (use the manager console, which calls Registry.SetStatus).
	Key    []byte
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// NewAPI is the inbound case API, an http.Handler to mount at opts.Prefix:
//
//	GET  {prefix}/{serial}         case progress for kiosks (Progress JSON)
//	POST {prefix}/{serial}/status  the case system pushes {status, at, note}, signed
//
// Errors are application/problem+json {type, title, status, detail, code}
// with codes bad_request, unsigned, bad_signature, signature_skew,
// unknown_case, bad_status, stale_status, pushes_disabled; a refused push
// changes nothing.
func NewAPI(reg *Registry, opts APIOpts) http.Handler {
	if opts.Prefix == "" {
		opts.Prefix = "/api/v1/cases"
	}
	opts.Prefix = strings.TrimSuffix(opts.Prefix, "/")
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &api{reg: reg, o: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+opts.Prefix+"/{serial}", a.get)
	mux.HandleFunc("POST "+opts.Prefix+"/{serial}/status", a.push)
	return mux
}

type api struct {
	reg *Registry
	o   APIOpts
}

// maxBody bounds a status push.
const maxBody = 64 << 10

// StatusPush is the body of a status push.
type StatusPush struct {
	Status Status    `json:"status"`
	At     time.Time `json:"at"` // when the case system changed it; zero = now
	Note   string    `json:"note,omitempty"`
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	serial := r.PathValue("serial")
	if _, err := ParseSerial(serial); err != nil {
		problem(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	c, err := a.reg.Get(r.Context(), serial)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ProgressOf(c))
}

func (a *api) push(w http.ResponseWriter, r *http.Request) {
	if a.o.Key == nil {
		problem(w, http.StatusForbidden, "pushes_disabled", "no inbound secret is configured: change statuses in the manager console")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		problem(w, http.StatusRequestEntityTooLarge, "bad_request", "body too large or unreadable")
		return
	}
	if err := Verify(r.Header, a.o.Key, a.o.Clock.Now(), body); err != nil {
		a.o.Logger.Warn("case status push refused", "code", Code(err), "remote", r.RemoteAddr)
		a.fail(w, err)
		return
	}
	serial := r.PathValue("serial")
	if _, err := ParseSerial(serial); err != nil {
		problem(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	p, err := DecodeStatusPush(body)
	if err != nil {
		a.fail(w, err)
		return
	}
	if p.At.IsZero() {
		p.At = a.o.Clock.Now()
	}
	c, changed, err := a.reg.SetStatus(r.Context(), StatusChange{Serial: serial, Status: p.Status, At: p.At, Note: p.Note, By: "case-system"})
	if err != nil {
		a.fail(w, err)
		return
	}
	w.Header().Set("X-Servicehall-Changed", fmt.Sprint(changed))
	writeJSON(w, http.StatusOK, ProgressOf(c))
}

// ErrBadRequest marks a request body that cannot be read.
var ErrBadRequest = errors.New("bad request")

// DecodeStatusPush reads a status push body strictly (unknown fields are
// errors) and checks the status name.
func DecodeStatusPush(b []byte) (StatusPush, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var p StatusPush
	if err := dec.Decode(&p); err != nil {
		return StatusPush{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if dec.More() {
		return StatusPush{}, fmt.Errorf("%w: trailing data after the JSON object", ErrBadRequest)
	}
	if p.Status.Rank() == 0 {
		return StatusPush{}, fmt.Errorf("%w: %q", ErrBadStatus, p.Status)
	}
	if len(p.Note) > 1000 {
		return StatusPush{}, fmt.Errorf("%w: note longer than 1000 bytes", ErrBadRequest)
	}
	return p, nil
}

func (a *api) fail(w http.ResponseWriter, err error) {
	code := Code(err)
	status := http.StatusInternalServerError
	switch code {
	case "bad_request", "bad_status":
		status = http.StatusBadRequest
	case "unsigned", "bad_signature", "signature_skew":
		status = http.StatusUnauthorized
	case "unknown_case":
		status = http.StatusNotFound
	case "stale_status":
		status = http.StatusConflict
	}
	detail := err.Error()
	if status == http.StatusInternalServerError {
		a.o.Logger.Error("case API", "err", err)
		detail = "internal error"
	}
	problem(w, status, code, detail)
}

// Code maps an error of this package to its stable string code.
func Code(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrUnsigned):
		return "unsigned"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrSkew):
		return "signature_skew"
	case errors.Is(err, ErrUnknownCase):
		return "unknown_case"
	case errors.Is(err, ErrBadStatus):
		return "bad_status"
	case errors.Is(err, ErrStale):
		return "stale_status"
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrBadSerial):
		return "bad_request"
	case errors.Is(err, ErrConfig):
		return "bad_config"
	case errors.Is(err, ErrUnknownItem):
		return "unknown_item"
	}
	return "internal"
}

func problem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "https://servicehall.invalid/problems/" + code, "title": http.StatusText(status),
		"status": status, "detail": detail, "code": code,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
