package netguard

import "sync"

// Slots counts things held open (connections, websocket streams) in all
// and per client address against caps: the one counter behind the
// listener's connection caps and web's stream caps.
type Slots struct {
	mu    sync.Mutex
	open  int
	perIP map[string]int
}

// Take takes a slot for ip when fewer than total are open in all and
// fewer than perIP from ip (a cap ≤ 0 is no cap). It answers the cap that
// refused ("total" or "per_ip"), or "" and release, which gives the slot
// back (once, however often it is called).
func (s *Slots) Take(ip string, total, perIP int) (reason string, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP == nil {
		s.perIP = map[string]int{}
	}
	if total > 0 && s.open >= total {
		return "total", nil
	}
	if perIP > 0 && s.perIP[ip] >= perIP {
		return "per_ip", nil
	}
	s.open++
	s.perIP[ip]++
	var once sync.Once
	return "", func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.open--
			if s.perIP[ip]--; s.perIP[ip] <= 0 {
				delete(s.perIP, ip)
			}
		})
	}
}

// Open reports the slots held now, in all and by ip.
func (s *Slots) Open(ip string) (total, fromIP int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open, s.perIP[ip]
}
