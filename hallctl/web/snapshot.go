package web

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/servicehall/servicehall/hallctl/queue"
)

// GET /api/v1/snapshot is public and polled: parallel callers once pushed
// RSS to 1.27 GB and stalled issuance for seconds, each building and
// encoding its own copy under the controller's lock. Now the encoded
// snapshot is built once per state change (ctl.StateVersion) and clock
// second, concurrent callers share that one build (singleflight), and
// its waiting list is bounded. In a busy hall the state changes with
// every ticket, so builds are also paced (snapshotBuilds: 2 a second, 4
// at once; one costs tens of milliseconds at 10,000 waiting, BenchmarkSnapshotBuild): a caller then waits for
// the next build rather than getting an older state than it asked at.

// maxSnapshotWaiting bounds the waiting tickets a snapshot lists for
// staff (a busy hall's whole day fits: the manager's preview needs the
// list); waiting_total says how many there are. Anonymous callers (the
// kiosks read the item counts, nobody the list) get at most
// maxPublicSnapshotWaiting: a public snapshot is then cheap to build and
// send, however many an attacker asks for.
const (
	maxSnapshotWaiting       = 5000
	maxPublicSnapshotWaiting = 100
)

// PublicSnapshot is the snapshot as /api/v1/snapshot answers it.
type PublicSnapshot struct {
	queue.Snapshot
	// WaitingTotal is how many tickets wait; Waiting lists at most
	// 5,000 of them (WaitingTruncated then).
	WaitingTotal     int  `json:"waiting_total"`
	WaitingTruncated bool `json:"waiting_truncated,omitempty"`
}

type snapKey struct {
	version uint64
	sec     int64
}

// snapshotCache holds the last encoded snapshot.
type snapshotCache struct {
	mu    sync.Mutex
	key   snapKey
	body  []byte
	sf    singleflight.Group
	pace  *rate.Limiter // builds
	paced atomic.Uint64 // builds that waited for the pace
}

// snapshotBuilds paces snapshot builds: per second, and at once.
const snapshotBuildsPerS, snapshotBuildBurst = 2, 4

// snapshotJSON is the encoded snapshot of now, built at most once per
// state version and second however many callers ask; staff get the long
// waiting list, others the short one (separate caches).
func (s *server) snapshotJSON(staff bool) ([]byte, error) {
	key := snapKey{s.c.StateVersion(), s.c.Now().Unix()}
	sc, limit := &s.pubSnap, maxPublicSnapshotWaiting
	if staff {
		sc, limit = &s.snap, maxSnapshotWaiting
	}
	sc.mu.Lock()
	if sc.body != nil && sc.key == key {
		b := sc.body
		sc.mu.Unlock()
		return b, nil
	}
	sc.mu.Unlock()
	v, err, _ := sc.sf.Do("snapshot", func() (any, error) {
		sc.mu.Lock()
		if sc.body != nil && sc.key == key {
			b := sc.body
			sc.mu.Unlock()
			return b, nil
		}
		sc.mu.Unlock()
		if d := sc.pace.Reserve().Delay(); d > 0 {
			// Whoever joined this build waits with it, whether or not the
			// caller that started it is still there.
			sc.paced.Add(1)
			time.Sleep(d)
		}
		key = snapKey{s.c.StateVersion(), s.c.Now().Unix()} // the state now, after the wait
		snap, total := s.c.SnapshotN(limit)
		ps := PublicSnapshot{Snapshot: snap, WaitingTotal: total, WaitingTruncated: total > len(snap.Waiting)}
		b, err := json.Marshal(ps)
		if err != nil {
			return nil, err
		}
		b = append(b, '\n')
		sc.mu.Lock()
		sc.key, sc.body = key, b
		sc.mu.Unlock()
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

func (s *server) getSnapshot(w http.ResponseWriter, _ *http.Request, cl Claims) {
	b, err := s.snapshotJSON(staffRole(cl.Role))
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
