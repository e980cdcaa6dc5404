// Package web is hallctl's HTTP API (/api/v1, JSON, problem+json errors),
// its websocket stream of hall events, bearer tokens with roles, and the
// browser apps served from kiosk-ui.
//
// Kiosk and hall-screen calls need no token (they run on the hall
// network); clerk calls need a clerk token bound to the window (or an
// admin token); manager calls need a manager or admin token. Every call
// that changes the hall goes through the controller (Issue, Act, Manage,
// Rate), exactly as the hardware devices do.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/ctl"
	kioskui "github.com/servicehall/servicehall/kiosk-ui"
)

// Options configure the web layer.
type Options struct {
	Controller *ctl.Controller
	Logger     *slog.Logger
	// Keys verifies bearer tokens (the controller's token key ring; never
	// the hall secret, which kiosks hold).
	Keys *auth.Keys
	// Context ends the websocket streams when it is done (default:
	// they run for the process's life).
	Context context.Context
	// MaxBody bounds request bodies (default 16 KiB).
	MaxBody int64
	// Apps overrides the embedded browser apps (tests); default kiosk-ui.
	Apps fs.FS
	// Registry gets the web layer's counters (default: none).
	Registry prometheus.Registerer
}

// MaxBodyDefault is the request body limit.
const MaxBodyDefault = 16 << 10

// Route is one registered API route (docs/openapi.yaml lists the same).
type Route struct {
	Method, Path string
	Role         string // "" = public (hall network)
}

type server struct {
	o      Options
	c      *ctl.Controller
	log    *slog.Logger
	routes []Route
	rl     *rateLimits   // per-client limits (ratelimit.go)
	snap   snapshotCache // the encoded /snapshot for staff (snapshot.go)
	// pubSnap is the encoded /snapshot for everyone else.
	pubSnap snapshotCache
	ws      *streamGate // stream_limit.go
	staff   *staffAuth  // staff sign-in: signin.go
}

// Handler is the mounted web layer.
type Handler struct {
	routes []Route
}

// Routes lists the API routes Mount registered (the OpenAPI test checks
// docs/openapi.yaml against them).
func (h *Handler) Routes() []Route { return append([]Route(nil), h.routes...) }

// Mount adds the API, the websocket and the apps to mux.
func Mount(mux *http.ServeMux, o Options) (*Handler, error) {
	if o.Controller == nil {
		return nil, errors.New("web: no controller")
	}
	if o.Keys == nil {
		return nil, errors.New("web: no token key ring")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	if o.MaxBody <= 0 {
		o.MaxBody = MaxBodyDefault
	}
	if o.Apps == nil {
		o.Apps = kioskui.Apps()
	}
	s := &server{o: o, c: o.Controller, log: o.Logger.With("part", "web")}
	s.snap.pace = rate.NewLimiter(snapshotBuildsPerS, snapshotBuildBurst)
	s.pubSnap.pace = rate.NewLimiter(snapshotBuildsPerS, snapshotBuildBurst)
	if o.Registry != nil {
		o.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hallctl_snapshot_builds_paced_total",
			Help: "Public snapshot builds that waited for the build pace (2 a second) because the hall's state changed faster."},
			func() float64 { return float64(s.snap.paced.Load() + s.pubSnap.paced.Load()) }))
	}
	s.rl = newRateLimits(o.Controller)
	s.ws = newStreamGate(s, o.Registry)
	o.Controller.WrapHTTP(newGuard(s, o.Registry).wrap) // security headers, cross-site checks: headers.go

	api := func(method, path, role string, h func(w http.ResponseWriter, r *http.Request, cl Claims)) {
		s.routes = append(s.routes, Route{Method: method, Path: path, Role: role})
		mux.Handle(method+" "+path, s.wrap(role, h))
	}
	api("GET", "/api/v1/hall", "", s.getHall)
	api("GET", "/api/v1/snapshot", "", s.getSnapshot)
	api("GET", "/api/v1/screen", "", s.getScreen)
	api("POST", "/api/v1/tickets", "", s.postTicket)
	api("GET", "/api/v1/tickets/{number}", "", s.getTicket)
	api("POST", "/api/v1/tickets/{number}/reprint", "", s.postReprint)
	api("POST", "/api/v1/tickets/{number}/rating", "", s.postRating)
	api("POST", "/api/v1/appointments/{code}/checkin", "", s.postCheckin)
	api("GET", "/api/v1/t/{number}", "", s.getTicketPage)
	api("POST", "/api/v1/t/{number}/rating", "", s.postTicketPageRating)
	api("GET", "/api/v1/stream", "", s.stream)
	api("POST", "/api/v1/kiosk/card-session", "", s.postCardSession) // cards.go
	api("GET", "/api/v1/kiosk/cards", "", s.cardStream)
	api("GET", "/api/v1/whoami", "any", s.whoami)
	api("GET", "/api/v1/windows/{window}", RoleClerk, s.getWindow)
	api("POST", "/api/v1/windows/{window}/actions", RoleClerk, s.postAction)
	api("GET", "/api/v1/manager/hall", RoleManager, s.getManagerHall)
	api("POST", "/api/v1/manager/preview", RoleManager, s.postPreview)
	api("POST", "/api/v1/manager/actions", RoleManager, s.postManage)
	api("GET", "/api/v1/manager/audit", RoleManager, s.getAudit)
	api("GET", "/api/v1/manager/dead-letters", RoleManager, s.getDeadLetters) // deadletters.go
	api("GET", "/api/v1/manager/dead-letters/{key}", RoleManager, s.getDeadLetter)
	api("POST", "/api/v1/manager/dead-letters/replay", RoleManager, s.replayDeadLetter)
	api("POST", "/api/v1/manager/dead-letters/{key}/replay", RoleManager, s.replayDeadLetter)
	api("POST", "/api/v1/manager/dead-letters/{key}/discard", RoleManager, s.discardDeadLetter)
	api("GET", "/api/v1/manager/devices", RoleManager, s.getDevices)
	api("PUT", "/api/v1/manager/notice", RoleManager, s.putNotice)
	api("POST", "/api/v1/manager/appointments", RoleManager, s.postAppointment)
	s.mountSession(api)
	s.mountRecommend(api) // issue 11: recommendations (recommend.go)
	s.mountCases(mux, api)
	s.mountSubjects(api)
	s.mountAppointments(mux, api)
	s.mountPprof(mux)
	s.mountTicketPage(mux)
	s.mountManagerConsole(api) // issue 11, manager console: series.go
	s.mountKioskVoice(api)     // issue 11: kiosk voice guidance (kiosk_voice.go)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) { writeProblem(w, "not_found", r.Method+" "+r.URL.Path) })

	files := http.FileServerFS(o.Apps)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	return &Handler{routes: append([]Route(nil), s.routes...)}, nil
}

// wrap checks the bearer token against the route's role, logs every 500
// with its cause (reqLog) and answers a handler's panic with a logged 500.
func (s *server) wrap(role string, h func(http.ResponseWriter, *http.Request, Claims)) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &reqLog{ResponseWriter: rw, log: s.log, r: r}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeProblemCause(w, "internal", "", fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		var cl Claims
		if tok, ok := requestToken(r); ok { // bearer header or session cookie (session.go)
			c, err := s.verifyToken(tok)
			switch {
			case err == nil:
				cl = c
			case role == "":
				// A bad token on a public route is ignored.
			default:
				writeProblem(w, tokenProblem(err), "")
				return
			}
		}
		if role != "" && cl.Role == "" {
			writeProblem(w, "unauthorized", "")
			return
		}
		// Public routes: the per-client limit (ratelimit.go), which staff
		// tokens, accountable by subject and revocable, do not spend.
		if role == "" && !staffRole(cl.Role) && !s.allowPublic(w, r) {
			return
		}
		switch role {
		case RoleManager:
			if cl.Role != RoleManager && cl.Role != RoleAdmin {
				writeProblem(w, "forbidden", "needs role manager or admin, token has "+cl.Role)
				return
			}
		case RoleClerk:
			if cl.Role != RoleClerk && cl.Role != RoleAdmin {
				writeProblem(w, "forbidden", "needs role clerk or admin, token has "+cl.Role)
				return
			}
		case RoleKiosk:
			if cl.Role != RoleKiosk && cl.Role != RoleManager && cl.Role != RoleAdmin {
				writeProblem(w, "forbidden", "needs role kiosk, manager or admin, token has "+cl.Role)
				return
			}
		case RoleAdmin:
			if cl.Role != RoleAdmin {
				writeProblem(w, "forbidden", "needs role admin, token has "+cl.Role)
				return
			}
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.o.MaxBody)
		}
		h(w, r, cl)
	})
}

// decode reads a JSON body strictly (unknown fields are errors).
func (s *server) decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errCode("body_too_large", "limit "+strconv.FormatInt(mbe.Limit, 10)+" bytes")
		}
		if errors.Is(err, io.EOF) {
			return errCode("invalid_json", "empty body")
		}
		return errCode("invalid_json", err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errCode("body_too_large", "limit "+strconv.FormatInt(mbe.Limit, 10)+" bytes")
		}
		return errCode("invalid_json", "trailing data after the JSON value")
	}
	return nil
}

func (s *server) whoami(w http.ResponseWriter, _ *http.Request, cl Claims) { // name: the staff display name (signin.go)
	if cl.Role == "" {
		writeProblem(w, "unauthorized", "")
		return
	}
	writeJSON(w, 200, map[string]any{"role": cl.Role, "window": cl.Window, "subject": cl.Subject,
		"name": s.c.Config().StaffName(cl.Subject), "expires": time.Unix(cl.Expires, 0).UTC()})
}

// windowParam reads {window} and checks the clerk token is bound to it.
func windowParam(r *http.Request, cl Claims) (int, error) {
	n, err := strconv.Atoi(r.PathValue("window"))
	if err != nil || n <= 0 {
		return 0, errCode("bad_request", "window must be a positive number")
	}
	if cl.Role == RoleClerk && cl.Window != n {
		return 0, errCode("wrong_window", "token is bound to window "+strconv.Itoa(cl.Window))
	}
	return n, nil
}

func actor(cl Claims) string {
	if cl.Subject != "" {
		return cl.Subject
	}
	if cl.Role == RoleClerk {
		return "clerk@" + strconv.Itoa(cl.Window)
	}
	return cl.Role
}

// mountPprof serves Go's profiles at /debug/pprof/ to admin tokens only:
// they show the process's internals and cost CPU to take.
func (s *server) mountPprof(mux *http.ServeMux) {
	admin := func(h http.HandlerFunc) http.Handler {
		return s.wrap(RoleAdmin, func(w http.ResponseWriter, r *http.Request, _ Claims) { h(w, r) })
	}
	mux.Handle("GET /debug/pprof/", admin(pprof.Index))
	mux.Handle("GET /debug/pprof/cmdline", admin(pprof.Cmdline))
	mux.Handle("GET /debug/pprof/profile", admin(pprof.Profile))
	mux.Handle("GET /debug/pprof/symbol", admin(pprof.Symbol))
	mux.Handle("GET /debug/pprof/trace", admin(pprof.Trace))
}
