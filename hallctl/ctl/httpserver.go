package ctl

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/servicehall/servicehall/hallctl/netguard"
)

// WrapHTTP puts mw around every answer of the HTTP server (the web
// layer's security headers and cross-site checks, hallctl/web). Call it
// before Run; a later call wraps the earlier middleware.
func (c *Controller) WrapHTTP(mw func(http.Handler) http.Handler) {
	if prev := c.httpMW; prev != nil {
		c.httpMW = func(h http.Handler) http.Handler { return mw(prev(h)) }
		return
	}
	c.httpMW = mw
}

// httpServer builds the HTTP server and its listener from limits: the
// header, body, answer and idle timeouts, and the connection caps in all
// and per client address (netguard; refusals are counted). Websocket
// streams are not cut by the write timeout: gorilla's Upgrade clears the
// deadlines the server set once it hijacks the connection, and the
// stream sets its own per write.
func (c *Controller) httpServer(ln net.Listener) (*http.Server, net.Listener) {
	lim := c.cfg.Limits
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	var h http.Handler = c.httpHandler()
	if c.httpMW != nil {
		h = c.httpMW(h)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: sec(lim.HTTPReadHeaderTimeoutS),
		ReadTimeout:       sec(lim.HTTPReadTimeoutS),
		WriteTimeout:      sec(lim.HTTPWriteTimeoutS),
		IdleTimeout:       sec(lim.HTTPIdleTimeoutS),
		MaxHeaderBytes:    64 << 10,
	}
	ln = netguard.Listen(ln, netguard.Limits{Total: lim.HTTPConns, PerIP: lim.HTTPConnsPerIP, Hold: time.Duration(lim.RefusalDelayMS) * time.Millisecond}, c.o.Registry)
	if c.o.HTTPTLS != nil {
		// HTTPS only: the handshake runs in the connection's own
		// goroutine (bounded by the read-header timeout), and a plain HTTP
		// request gets net/http's "400 Bad Request" for an HTTPS server.
		srv.TLSConfig = c.o.HTTPTLS
		ln = tls.NewListener(ln, c.o.HTTPTLS)
	}
	return srv, ln
}
