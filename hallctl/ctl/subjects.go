package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// Token revocation: an admin disables a token subject (a staff id such as
// 工号1024, or clerk@3), and every token carrying it is refused at once,
// whatever its expiry. The state lives in the event log (stream
// SubjectStream, records "disable" and "enable", each with an audit entry
// in the same unit), projected into memory at start from the latest
// snapshot and the records after it.
//
// A staff sign-out ends that one session: its token id (jti) is refused
// until the token would have expired anyway. Ended sessions are records of
// the same stream ("end_session"), so a restart does not bring a
// signed-out session back; they are dropped from memory (and from the
// stream's snapshot) once past their expiry.

// SubjectStream is the log stream of token subject changes.
const SubjectStream = "subjects"

// subjectSnapshotEvery: a start that replays more records saves a snapshot.
const subjectSnapshotEvery = 500

// ErrBadSubject is returned for a subject that no token could carry.
var ErrBadSubject = errors.New("bad token subject")

// SubjectRecord is a subject change as the log keeps it.
type SubjectRecord struct {
	Subject string    `json:"subject"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// EndedSession is a signed-out session as the log keeps it.
type EndedSession struct {
	Session string    `json:"session"` // the token's jti
	Subject string    `json:"subject"`
	Until   time.Time `json:"until"` // the token's expiry: refused until then
	At      time.Time `json:"at"`
}

// subjectSnapshot is the SubjectStream snapshot: the disabled subjects
// and the ended sessions not yet expired.
type subjectSnapshot struct {
	Disabled []SubjectRecord `json:"disabled"`
	Ended    []EndedSession  `json:"ended,omitempty"`
}

// subjects is the projection: disabled subject → its record, ended
// session → its expiry. Its own lock, not c.mu: every authenticated
// request reads it.
type subjects struct {
	mu       sync.RWMutex
	disabled map[string]SubjectRecord
	ended    map[string]time.Time
}

func (c *Controller) loadSubjects(ctx context.Context) (*subjects, error) {
	s := &subjects{disabled: map[string]SubjectRecord{}, ended: map[string]time.Time{}}
	now := c.clock.Now()
	replayed := 0
	last, err := store.Replay(ctx, c.store, SubjectStream, func(snap store.Snapshot) error {
		var d subjectSnapshot
		if err := json.Unmarshal(snap.Data, &d); err != nil {
			return err
		}
		for _, r := range d.Disabled {
			s.disabled[r.Subject] = r
		}
		for _, e := range d.Ended {
			s.endSession(e, now)
		}
		return nil
	}, func(r store.Record) error {
		if r.Type == "end_session" {
			var e EndedSession
			if err := json.Unmarshal(r.Data, &e); err != nil {
				return err
			}
			s.endSession(e, now)
			replayed++
			return nil
		}
		var sr SubjectRecord
		if err := json.Unmarshal(r.Data, &sr); err != nil {
			return err
		}
		s.apply(r.Type, sr)
		replayed++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load token subjects: %w", err)
	}
	if replayed > subjectSnapshotEvery {
		if err := c.store.SaveSnapshot(ctx, SubjectStream, last, mustJSON(subjectSnapshot{Disabled: s.list(), Ended: s.endedList()})); err != nil {
			return nil, fmt.Errorf("token subject snapshot: %w", err)
		}
	}
	return s, nil
}

func (s *subjects) apply(typ string, r SubjectRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch typ {
	case "disable":
		s.disabled[r.Subject] = r
	case "enable":
		delete(s.disabled, r.Subject)
	}
}

// endSession adds an ended session, and drops those past their expiry.
func (s *subjects) endSession(e EndedSession, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, until := range s.ended {
		if until.Before(now) {
			delete(s.ended, k)
		}
	}
	if !e.Until.Before(now) {
		s.ended[e.Session] = e.Until
	}
}

func (s *subjects) endedList() []EndedSession {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]EndedSession, 0, len(s.ended))
	for k, until := range s.ended {
		out = append(out, EndedSession{Session: k, Until: until})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Session < out[j].Session })
	return out
}

func (s *subjects) list() []SubjectRecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]SubjectRecord, 0, len(s.disabled))
	for _, r := range s.disabled {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subject < out[j].Subject })
	return out
}

// SubjectDisabled reports whether tokens of subject are revoked.
func (c *Controller) SubjectDisabled(subject string) bool {
	c.subjects.mu.RLock()
	defer c.subjects.mu.RUnlock()
	_, ok := c.subjects.disabled[subject]
	return ok
}

// DisabledSubjects lists the revoked subjects, by subject.
func (c *Controller) DisabledSubjects() []SubjectRecord { return c.subjects.list() }

// DisableSubject revokes every token of subject, recording who did it in
// the log and the audit log in one unit; it returns once durable, and from
// then on (also after a restart) the subject's tokens are refused.
// changed is false when the subject was already disabled (nothing written).
func (c *Controller) DisableSubject(ctx context.Context, subject, actor, role string) (changed bool, err error) {
	return c.setSubject(ctx, "disable", subject, actor, role)
}

// EnableSubject lifts DisableSubject; tokens of subject that have not
// expired are accepted again.
func (c *Controller) EnableSubject(ctx context.Context, subject, actor, role string) (changed bool, err error) {
	return c.setSubject(ctx, "enable", subject, actor, role)
}

func (c *Controller) setSubject(ctx context.Context, typ, subject, actor, role string) (bool, error) {
	if !auth.ValidSubject(subject) {
		return false, fmt.Errorf("%w: %w", ErrBadSubject, auth.ErrBadSubject)
	}
	changed := false
	err := c.inUnit(ctx, func(u *unit) error {
		if c.SubjectDisabled(subject) == (typ == "disable") {
			return nil
		}
		changed = true
		now := c.clock.Now()
		r := SubjectRecord{Subject: subject, By: actor, At: now}
		u.Append(store.Record{Stream: SubjectStream, Type: typ, At: now, Data: wire.Marshal(r)})
		e := AuditEntry{At: now, Actor: actor, Role: role, Action: ManagerAction{Type: typ + "_subject"}, Detail: subject}
		u.Append(store.Record{Stream: AuditStream, Type: typ + "_subject", At: now, Data: wire.Marshal(e)})
		// Memory follows at once, under c.mu like every unit: a commit
		// that fails stops the controller, and a restart replays the log.
		c.subjects.apply(typ, r)
		return nil
	})
	return changed, err
}

// SessionEnded reports whether a staff session (a token's jti) was
// signed out; "" (a machine token) never is.
func (c *Controller) SessionEnded(session string) bool {
	if session == "" {
		return false
	}
	c.subjects.mu.RLock()
	defer c.subjects.mu.RUnlock()
	until, ok := c.subjects.ended[session]
	return ok && !until.Before(c.clock.Now())
}

// EndSession records a staff sign-out: the session's token is refused
// from when this returns (durable) until until, also after a restart.
func (c *Controller) EndSession(ctx context.Context, session, subject string, until time.Time) error {
	if session == "" {
		return nil
	}
	return c.inUnit(ctx, func(u *unit) error {
		now := c.clock.Now()
		e := EndedSession{Session: session, Subject: subject, Until: until.UTC(), At: now}
		u.Append(store.Record{Stream: SubjectStream, Type: "end_session", At: now, Data: wire.Marshal(e)})
		c.subjects.endSession(e, now)
		return nil
	})
}
