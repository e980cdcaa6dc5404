package web

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Every answer of hallctl's HTTP server (apps, API, /t and /c pages,
// health and metrics) carries the security headers below, and the API's
// state-changing calls are refused when they come from another site
// (docs/security.md, "Browser"):
//
//   - Content-Security-Policy: scripts, styles, images and connections
//     from the hall's own origin only; no inline script or style (the
//     apps keep them in files), no plugins, no framing.
//   - X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer (a
//     ticket page's check value never leaves in a Referer), and
//     X-Frame-Options: DENY for browsers without frame-ancestors.
//   - POST, PUT, PATCH and DELETE on /api/ must send Content-Type
//     application/json (415 otherwise): an HTML form or a no-cors fetch
//     of another site can only send text/plain, form or multipart bodies
//     without a CORS preflight, which hallctl never grants. When the
//     call carries an Origin header it must be the hall's own (403
//     cross_origin otherwise).

// ContentSecurityPolicy is the policy every answer carries.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func init() {
	problems["cross_origin"] = problemText{403, "拒绝来自其他网站的请求", "requests from another site are refused"}
	problems["unsupported_media_type"] = problemText{415, "请求内容须为 application/json", "the request body must be sent as Content-Type: application/json"}
	problems["too_many_streams"] = problemText{429, "本机打开的实时连接过多", "too many live streams from this address"}
	problems["streams_full"] = problemText{503, "实时连接已满，请稍后再试", "the server has no room for another live stream"}
}

// guard is the middleware the web layer puts around the whole server
// (ctl.Controller.WrapHTTP).
type guard struct {
	s       *server
	refused *prometheus.CounterVec
}

func newGuard(s *server, reg prometheus.Registerer) *guard {
	g := &guard{s: s, refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallctl_http_cross_site_refused_total",
		Help: "API calls refused as cross-site: reason origin (another site's Origin) or content_type (not application/json)."}, []string{"reason"})}
	for _, r := range []string{"origin", "content_type"} {
		g.refused.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(g.refused)
	}
	return g
}

func (g *guard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if strings.HasPrefix(r.URL.Path, "/api/") && unsafeMethod(r.Method) {
			if o := r.Header.Get("Origin"); o != "" && !g.s.ownOrigin(r, o) {
				g.refused.WithLabelValues("origin").Inc()
				writeProblem(w, "cross_origin", "")
				return
			}
			// A call with no body and no Content-Type (e.g. an admin's
			// disable) carries nothing a form could forge; a cross-site
			// browser call sends an Origin, refused above.
			noBody := r.ContentLength == 0 && r.Header.Get("Content-Type") == ""
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); !noBody && (err != nil || mt != "application/json") {
				g.refused.WithLabelValues("content_type").Inc()
				writeProblem(w, "unsupported_media_type", "")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// ownOrigin reports whether origin (an Origin header) is the hall's own:
// the host the request came to, or server.public_url's scheme and host.
func (s *server) ownOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null" (sandboxed frames, file:) and garbage
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if pub, err := url.Parse(s.c.Config().Server.PublicURL); err == nil && pub.Host != "" {
		return strings.EqualFold(u.Scheme, pub.Scheme) && strings.EqualFold(u.Host, pub.Host)
	}
	return false
}
