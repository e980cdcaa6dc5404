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
	"github.com/prometheus/client_golang/prometheus"
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
	// Metrics registers servicehall_case_status_pushes_total{outcome};
	// nil = not registered.
	Metrics prometheus.Registerer
}

// NewAPI is the inbound case API, an http.Handler to mount at opts.Prefix:
//
//	POST {prefix}/{serial}/status  the case system pushes {status, at, note}, signed
//
// The signature binds the method, the path (with the serial), the time, a
// single-use nonce and the body (VerifyPush; the nonce is kept durably in
// NonceBucket by Registry.SetStatusOnce). Errors are
// application/problem+json {type, title, status, detail, code} with codes
// bad_request, unsigned, bad_signature, signature_skew, signature_future,
// replayed_nonce, unknown_case, bad_status, status_in_future (a status
// time more than MaxSkew ahead), stale_status (not after the current
// change by seq, or by time and rank), pushes_disabled; a refused push
// changes nothing. Every push is counted by outcome. The public progress
// look-up (GET {prefix}/{serial}) is not here: it needs the receipt's
// check code and a rate limit (hallctl/ctl CaseLookup).
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
	a := &api{reg: reg, o: opts, pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "servicehall_case_status_pushes_total",
		Help: "Case status pushes by outcome: changed, repeat, or the refusal code.",
	}, []string{"outcome"})}
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(a.pushes)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+opts.Prefix+"/{serial}/status", a.push)
	return mux
}

type api struct {
	reg    *Registry
	o      APIOpts
	pushes *prometheus.CounterVec
}

// maxBody bounds a status push.
const maxBody = 64 << 10

// StatusPush is the body of a status push.
type StatusPush struct {
	Status Status    `json:"status"`
	At     time.Time `json:"at"` // when the case system changed it; zero = now; at most MaxSkew ahead
	Note   string    `json:"note,omitempty"`
	// Seq is the case system's own sequence number of the change, per
	// case, strictly increasing; optional (without it pushes are ordered
	// by At and status rank).
	Seq int64 `json:"seq,omitempty"`
}

func (a *api) push(w http.ResponseWriter, r *http.Request) {
	if a.o.Key == nil {
		a.pushes.WithLabelValues("pushes_disabled").Inc()
		problem(w, http.StatusForbidden, "pushes_disabled", "no inbound secret is configured: change statuses in the manager console")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		a.pushes.WithLabelValues("bad_request").Inc()
		problem(w, http.StatusRequestEntityTooLarge, "bad_request", "body too large or unreadable")
		return
	}
	now := a.o.Clock.Now()
	signed, err := VerifyPush(r.Header, a.o.Key, r.Method, r.URL.EscapedPath(), now, body)
	if err != nil {
		a.o.Logger.Warn("case status push refused", "code", Code(err), "remote", r.RemoteAddr)
		a.fail(w, err)
		return
	}
	serial := r.PathValue("serial")
	if _, err := ParseSerial(serial); err != nil {
		a.pushes.WithLabelValues("bad_request").Inc()
		problem(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	p, err := DecodeStatusPush(body)
	if err != nil {
		a.fail(w, err)
		return
	}
	if p.At.IsZero() {
		p.At = now
	}
	if err := CheckStatusTime(p.At, now); err != nil {
		a.o.Logger.Warn("case status push refused", "code", Code(err), "remote", r.RemoteAddr)
		a.fail(w, err)
		return
	}
	c, changed, err := a.reg.SetStatusOnce(r.Context(), StatusChange{Serial: serial, Status: p.Status, At: p.At, Note: p.Note, By: "case-system", Seq: p.Seq}, signed, now)
	if err != nil {
		if Code(err) == "replayed_nonce" {
			a.o.Logger.Warn("case status push refused", "code", "replayed_nonce", "remote", r.RemoteAddr)
		}
		a.fail(w, err)
		return
	}
	if changed {
		a.pushes.WithLabelValues("changed").Inc()
	} else {
		a.pushes.WithLabelValues("repeat").Inc()
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
	if p.Seq < 0 {
		return StatusPush{}, fmt.Errorf("%w: seq %d is negative", ErrBadRequest, p.Seq)
	}
	if len(p.Note) > 1000 {
		return StatusPush{}, fmt.Errorf("%w: note longer than 1000 bytes", ErrBadRequest)
	}
	return p, nil
}

func (a *api) fail(w http.ResponseWriter, err error) {
	code := Code(err)
	a.pushes.WithLabelValues(code).Inc()
	status := http.StatusInternalServerError
	switch code {
	case "bad_request", "bad_status", "status_in_future":
		status = http.StatusBadRequest
	case "unsigned", "bad_signature", "signature_skew", "signature_future":
		status = http.StatusUnauthorized
	case "replayed_nonce":
		status = http.StatusConflict
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
	case errors.Is(err, ErrFuture):
		return "signature_future"
	case errors.Is(err, ErrSkew):
		return "signature_skew"
	case errors.Is(err, ErrReplayed):
		return "replayed_nonce"
	case errors.Is(err, ErrUnknownCase):
		return "unknown_case"
	case errors.Is(err, ErrStatusFuture):
		return "status_in_future"
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
