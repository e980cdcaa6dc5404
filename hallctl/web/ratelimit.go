package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/internal/keyrate"
)

// Per-client rate limits (docs/limits.md). Every public route — the API
// routes without a role, the ticket page /t/{number} and the case page
// /c/{serial} — takes from its client address's bucket of
// limits.public_per_min requests a minute (bursts of limits.public_burst);
// ticket issue (POST /api/v1/tickets) also takes from a bucket of
// limits.tickets_per_client_per_min tickets a minute. A client over a
// limit gets 429 with Retry-After (codes rate_limited and
// too_many_tickets) and is counted in hallctl_http_rate_limited_total by
// route pattern and limit; other clients are served as before.
//
// The client is the TCP peer (RemoteAddr; IPv6 by its /64).
// X-Forwarded-For is not trusted: anyone can send it. Behind a reverse
// proxy every client counts as the proxy, so raise the limits there or
// keep the kiosks and phones on direct connections.

// maxTrackedClients bounds the addresses each limit remembers (the least
// recently seen is forgotten first): memory stays bounded however many
// addresses a flood uses.
const maxTrackedClients = 8192

// rateLimits are the web layer's per-client limits.
type rateLimits struct {
	public, tickets *keyrate.Set
	limited         *prometheus.CounterVec
	now             func() time.Time
	// delay holds a public refusal before it is answered (refusal_delay_ms).
	delay time.Duration
}

func newRateLimits(c *ctl.Controller) *rateLimits {
	l := c.Limits()
	rl := &rateLimits{
		public:  keyrate.New(l.PublicPerMin, l.PublicBurst, maxTrackedClients),
		tickets: keyrate.New(l.TicketsPerClientPerMin, l.TicketsPerClientPerMin, maxTrackedClients),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_http_rate_limited_total",
			Help: "HTTP requests refused with 429 by a per-client limit, by route pattern and limit (public, tickets)."},
			[]string{"route", "limit"}),
		now:   c.Now,
		delay: time.Duration(l.RefusalDelayMS) * time.Millisecond,
	}
	if err := c.Registry().Register(rl.limited); err != nil {
		// A second web layer on the same controller (tests) shares the
		// first one's counter.
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			rl.limited = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return rl
}

// allow takes one token of the client's bucket in set; over the limit it
// answers 429 (code) with Retry-After and reports false. A public refusal
// is held rl.delay first (at most until Retry-After, and no longer than
// the client stays connected): a client that asks again at once is slowed
// to one refusal per connection and delay.
func (rl *rateLimits) allow(w http.ResponseWriter, r *http.Request, set *keyrate.Set, route, limit, code string) bool {
	ok, wait := set.Allow(clientKey(r), rl.now())
	if ok {
		return true
	}
	rl.limited.WithLabelValues(route, limit).Inc()
	if d := min(rl.delay, wait); limit == "public" && d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
	writeProblem(w, code, "")
	return false
}

// allowPublic takes the per-client public limit for r (by its route
// pattern); a server built without limits (unit tests of wrap) allows all.
func (s *server) allowPublic(w http.ResponseWriter, r *http.Request) bool {
	if s.rl == nil {
		return true
	}
	return s.rl.allow(w, r, s.rl.public, r.Pattern, "public", "rate_limited")
}

// staffRole: clerk, manager and admin tokens are not held to the
// per-client limits of anonymous clients and kiosks.
func staffRole(role string) bool {
	return role == RoleClerk || role == RoleManager || role == RoleAdmin
}

// publicLimited wraps a public page's handler (role "") with the
// per-client limit (the API's public routes get it in wrap); other
// routes are returned as they are.
func (s *server) publicLimited(role, route string, h http.Handler) http.Handler {
	if role != "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.rl.allow(w, r, s.rl.public, route, "public", "rate_limited") {
			h.ServeHTTP(w, r)
		}
	})
}

// allowTicket spends one of the client's tickets this minute (kiosks and
// anonymous clients; staff tokens are not limited here).
func (s *server) allowTicket(w http.ResponseWriter, r *http.Request, cl Claims) bool {
	if staffRole(cl.Role) {
		return true
	}
	return s.rl.allow(w, r, s.rl.tickets, "POST /api/v1/tickets", "tickets", "too_many_tickets")
}

// clientKey is the address a request is counted against (the TCP peer;
// keyrate.ClientKey).
func clientKey(r *http.Request) string { return keyrate.ClientKey(clientIP(r)) }
