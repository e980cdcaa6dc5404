// Package keyrate keeps one token bucket (golang.org/x/time/rate) per key
// — a client address, a dispenser — in bounded memory: at most Max keys
// are tracked, and the least recently seen key is forgotten to make room
// for a new one. Times are passed in, so callers use their own clock
// (a fake one in tests).
package keyrate

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Set is a bounded set of per-key token buckets. The zero value is not
// usable; see New.
type Set struct {
	limit rate.Limit
	burst int
	max   int

	mu   sync.Mutex
	keys map[string]*list.Element
	lru  *list.List // of *entry, most recently seen first
}

type entry struct {
	key string
	lim *rate.Limiter
}

// New returns a Set that lets each key make perMin requests a minute
// with bursts of burst, tracking at most max keys (at least 1).
func New(perMin, burst, max int) *Set {
	if burst < 1 {
		burst = 1
	}
	if max < 1 {
		max = 1
	}
	return &Set{limit: rate.Limit(float64(perMin) / 60), burst: burst, max: max,
		keys: map[string]*list.Element{}, lru: list.New()}
}

// Allow spends one token of key's bucket at now. When the bucket is
// empty it spends nothing and says how long until a token is there.
func (s *Set) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lim *rate.Limiter
	if el, found := s.keys[key]; found {
		s.lru.MoveToFront(el)
		lim = el.Value.(*entry).lim
	} else {
		for s.lru.Len() >= s.max {
			old := s.lru.Back()
			s.lru.Remove(old)
			delete(s.keys, old.Value.(*entry).key)
		}
		lim = rate.NewLimiter(s.limit, s.burst)
		s.keys[key] = s.lru.PushFront(&entry{key: key, lim: lim})
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len is how many keys are tracked now.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// ClientKey is the key a client address is limited by: the IP, or its /64
// for IPv6 (one host may hold a whole /64). A string that is not an IP is
// its own key.
func ClientKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	if a = a.Unmap(); a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}
