package web

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicehall/servicehall/hallctl/netguard"
)

// streamGate bounds the websocket streams (limits.websockets in all,
// limits.websockets_per_ip per client address) and checks their Origin:
// a browser page of another site may not open the hall's stream (a
// missing Origin — a device, a script — is allowed). Refusals answer
// 429 too_many_streams, 503 streams_full or 403 cross_origin and are
// counted in hallctl_websockets_refused_total{reason}.
type streamGate struct {
	s       *server
	refused *prometheus.CounterVec
	open    prometheus.Gauge

	slots netguard.Slots
}

func newStreamGate(s *server, reg prometheus.Registerer) *streamGate {
	g := &streamGate{s: s,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_websockets_refused_total",
			Help: "Websocket streams refused: reason per_ip, total or origin."}, []string{"reason"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hallctl_websockets_open", Help: "Websocket streams open now."})}
	for _, r := range []string{"per_ip", "total", "origin"} {
		g.refused.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(g.refused, g.open)
	}
	return g
}

// checkOrigin is the upgrader's CheckOrigin.
func (g *streamGate) checkOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o == "" || g.s.ownOrigin(r, o)
}

// admit takes a stream slot for r's client — its address, or for a
// client with a token (cl) the token's subject — or answers the refusal
// and returns ok false. release gives the slot back (call it once).
func (g *streamGate) admit(w http.ResponseWriter, r *http.Request, cl Claims) (release func(), ok bool) {
	if !g.checkOrigin(r) {
		g.refused.WithLabelValues("origin").Inc()
		writeProblem(w, "cross_origin", "")
		return nil, false
	}
	lim := g.s.c.Config().Limits
	key := clientIP(r)
	if cl.Role != "" {
		key = "sub:" + cl.Role + ":" + cl.Subject
	}
	reason, release := g.slots.Take(key, lim.Websockets, lim.WebsocketsPerIP)
	switch reason {
	case "per_ip":
		g.refused.WithLabelValues("per_ip").Inc()
		w.Header().Set("Retry-After", "5")
		writeProblem(w, "too_many_streams", "")
		return nil, false
	case "total":
		g.refused.WithLabelValues("total").Inc()
		writeProblem(w, "streams_full", "")
		return nil, false
	}
	g.open.Inc()
	var once sync.Once
	return func() {
		once.Do(func() {
			release()
			g.open.Dec()
		})
	}, true
}
