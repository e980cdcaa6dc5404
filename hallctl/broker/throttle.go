package broker

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxThrottled bounds the addresses the login throttle remembers; past it,
// addresses whose budget has refilled are forgotten.
const maxThrottled = 4096

// authThrottle limits failed logins per client address: each address has
// a budget of perMin failures a minute (refilling continuously, perMin at
// once). An address with no budget left is refused before its password is
// checked, so guessing costs the broker nothing but a map look-up, and a
// correct login from another address is unaffected.
type authThrottle struct {
	perMin int
	mu     sync.Mutex
	addrs  map[string]*rate.Limiter
}

func newAuthThrottle(perMin int) *authThrottle {
	return &authThrottle{perMin: perMin, addrs: map[string]*rate.Limiter{}}
}

// allowed reports whether host may try a login at now.
func (t *authThrottle) allowed(host string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.addrs[host]
	return !ok || l.TokensAt(now) >= 1
}

// failed spends one of host's failures.
func (t *authThrottle) failed(host string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.addrs[host]
	if !ok {
		if len(t.addrs) >= maxThrottled {
			t.forgetRefilled(now)
		}
		l = rate.NewLimiter(rate.Limit(float64(t.perMin)/60), t.perMin)
		t.addrs[host] = l
	}
	l.AllowN(now, 1)
}

// forgetRefilled drops the addresses whose budget is full again: they are
// no different from addresses never seen.
func (t *authThrottle) forgetRefilled(now time.Time) {
	for h, l := range t.addrs {
		if l.TokensAt(now) >= float64(t.perMin) {
			delete(t.addrs, h)
		}
	}
}
