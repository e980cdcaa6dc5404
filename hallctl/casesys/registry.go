package casesys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
)

// Registry errors.
var (
	ErrUnknownCase = errors.New("unknown case")
	ErrBadStatus   = errors.New("unknown case status")
	ErrStale       = errors.New("stale status: order or time goes backwards")
	// ErrStatusFuture: a status time more than MaxSkew ahead of the
	// hall's clock (it wraps ErrBadStatus for callers that only know that).
	ErrStatusFuture = fmt.Errorf("%w: status time in the future", ErrBadStatus)
)

// Registry is the hall's case registry: the built-in case system of a
// small hall, and the progress that kiosks read when an external case
// system pushes statuses. It lives in the store's keyed table (CasesBucket)
// and every status change is also a CaseStream record.
type Registry struct {
	st store.Store
	mu sync.Mutex // serialises read-modify-write of a case and the nonces

	// nonces are the push nonces accepted within MaxSkew (NonceBucket),
	// loaded on the first push: nonce → its signed timestamp.
	nonces map[string]time.Time
}

// NonceBucket keeps the nonces of accepted status pushes (value: the
// signed timestamp, RFC 3339), written in the commit of the change the
// push made; a nonce older than MaxSkew is deleted by a later push.
const NonceBucket = "casesys-nonces"

// NewRegistry uses st's keyed table.
func NewRegistry(st store.Store) *Registry { return &Registry{st: st} }

// Get returns the case with serial.
func (r *Registry) Get(ctx context.Context, serial string) (Case, error) {
	b, err := r.st.Get(ctx, CasesBucket, serial)
	if errors.Is(err, store.ErrNotFound) {
		return Case{}, fmt.Errorf("%w: %q", ErrUnknownCase, serial)
	}
	if err != nil {
		return Case{}, err
	}
	var c Case
	if err := json.Unmarshal(b, &c); err != nil {
		return Case{}, fmt.Errorf("case %s: %w", serial, err)
	}
	return c, nil
}

// Accept stores a new case outside a controller unit (tests, tools).
func (r *Registry) Accept(ctx context.Context, c Case) error {
	return acceptWrites(c).Commit(ctx, r.st)
}

// CheckStatus decides whether ch may follow c: it returns changed=false
// with a nil error for an exact repeat (idempotent), ErrBadStatus for an
// unknown status, ErrStale when the change is not after the current one.
//
// The order is the case system's, never the order of arrival: a change
// with a Seq (the case system's own sequence, per case) must have a higher
// Seq than the case's current one and may then set any status (a rejected
// case sent back to review); a change without one must not be before the
// current status time and must rise in rank (accepted < in_review <
// approved = rejected < ready_for_pickup).
func CheckStatus(c Case, ch StatusChange) (changed bool, err error) {
	if ch.Status.Rank() == 0 {
		return false, fmt.Errorf("%w: %q (accepted, in_review, approved, rejected, ready_for_pickup)", ErrBadStatus, ch.Status)
	}
	if ch.Seq < 0 {
		return false, fmt.Errorf("%w: seq %d is negative", ErrBadRequest, ch.Seq)
	}
	if ch.Status == c.Status && ch.At.Equal(c.StatusAt) && ch.Seq == c.StatusSeq {
		return false, nil
	}
	if ch.Seq > 0 {
		if ch.Seq <= c.StatusSeq {
			return false, fmt.Errorf("%w: seq %d is not after the current seq %d (%s)", ErrStale, ch.Seq, c.StatusSeq, c.Status)
		}
		return true, nil
	}
	if ch.At.Before(c.StatusAt) {
		return false, fmt.Errorf("%w: %s at %s is before the current %s at %s", ErrStale, ch.Status,
			ch.At.UTC().Format(time.RFC3339), c.Status, c.StatusAt.UTC().Format(time.RFC3339))
	}
	if ch.Status.Rank() <= c.Status.Rank() {
		return false, fmt.Errorf("%w: %s cannot follow %s", ErrStale, ch.Status, c.Status)
	}
	return true, nil
}

// CheckStatusTime refuses a status time more than MaxSkew ahead of now:
// a case cannot have changed in the future, and a future time would make
// every real change after it look stale.
func CheckStatusTime(at, now time.Time) error {
	if d := at.Sub(now); d > MaxSkew {
		return fmt.Errorf("%w: %s is %s ahead of the hall's clock (at most %s)", ErrStatusFuture,
			at.UTC().Format(time.RFC3339), d.Round(time.Second), MaxSkew)
	}
	return nil
}

// statusRecord is the CaseStream record of an accepted change; with a seq
// its key carries it (a status may then come back: rejected → in_review).
func statusRecord(ch StatusChange) store.Record {
	key := ch.Serial + "/" + string(ch.Status)
	if ch.Seq > 0 {
		key += "/" + strconv.FormatInt(ch.Seq, 10)
	}
	return store.Record{Stream: CaseStream, Type: "status", Key: key, At: ch.At, Data: mustJSON(ch)}
}

// apply makes ch the case's current status.
func (c *Case) apply(ch StatusChange) {
	c.Status, c.StatusAt = ch.Status, ch.At
	if ch.Seq > 0 {
		c.StatusSeq = ch.Seq
	}
	c.History = append(c.History, ch)
}

// SetStatus records a status change of a case: a CaseStream "status"
// record and the updated registry entry, in one commit. A refused change
// writes nothing.
func (r *Registry) SetStatus(ctx context.Context, ch StatusChange) (Case, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.Get(ctx, ch.Serial)
	if err != nil {
		return Case{}, false, err
	}
	ch.At = ch.At.UTC()
	changed, err := CheckStatus(c, ch)
	if err != nil || !changed {
		return c, false, err
	}
	c.apply(ch)
	var b store.Batch
	b.Append(statusRecord(ch))
	b.Put(CasesBucket, c.Serial, mustJSON(c))
	if _, err := r.st.Commit(ctx, &b); err != nil {
		return Case{}, false, err
	}
	return c, true, nil
}

// SetStatusOnce applies a signed status push: ErrReplayed when its
// nonce was accepted before (also before a restart); else as SetStatus,
// and an accepted push (changed or an exact repeat) stores its nonce in
// the same commit. Nonces older than MaxSkew at now are dropped in it.
// A refused push writes nothing.
func (r *Registry) SetStatusOnce(ctx context.Context, ch StatusChange, p SignedPush, now time.Time) (Case, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nonces == nil {
		kvs, err := r.st.List(ctx, NonceBucket)
		if err != nil {
			return Case{}, false, fmt.Errorf("load push nonces: %w", err)
		}
		r.nonces = make(map[string]time.Time, len(kvs))
		for _, kv := range kvs {
			var ts time.Time
			if err := ts.UnmarshalText(kv.Val); err == nil {
				r.nonces[kv.Key] = ts
			}
		}
	}
	if _, used := r.nonces[p.Nonce]; used {
		return Case{}, false, fmt.Errorf("%w: %s was accepted before", ErrReplayed, HeaderNonce)
	}
	c, err := r.Get(ctx, ch.Serial)
	if err != nil {
		return Case{}, false, err
	}
	ch.At = ch.At.UTC()
	changed, err := CheckStatus(c, ch)
	if err != nil {
		return c, false, err
	}
	var b store.Batch
	if changed {
		c.apply(ch)
		b.Append(statusRecord(ch))
		b.Put(CasesBucket, c.Serial, mustJSON(c))
	}
	at, _ := p.At.UTC().MarshalText()
	b.Put(NonceBucket, p.Nonce, at)
	var old []string
	for n, ts := range r.nonces {
		if now.Sub(ts) > MaxSkew {
			old = append(old, n)
			b.Delete(NonceBucket, n)
		}
	}
	if _, err := r.st.Commit(ctx, &b); err != nil {
		return Case{}, false, err
	}
	for _, n := range old {
		delete(r.nonces, n)
	}
	r.nonces[p.Nonce] = p.At
	return c, changed, nil
}

// Progress is the manager's view of a case, notes included (the public
// look-up answers PublicProgress).
type Progress struct {
	Serial     string         `json:"serial"`
	Item       string         `json:"item"`
	ItemName   string         `json:"item_name"`
	AcceptedAt time.Time      `json:"accepted_at"`
	Due        string         `json:"due,omitempty"`
	Status     Status         `json:"status"`
	StatusAt   time.Time      `json:"status_at"`
	History    []StatusChange `json:"history"`
}

// PublicProgress is what the public look-up answers (a kiosk, the
// receipt's QR page): the case's item, status and dates — never the notes
// of the case system or the manager, nor who changed a status.
type PublicProgress struct {
	Serial     string       `json:"serial"`
	Item       string       `json:"item"`
	ItemName   string       `json:"item_name"`
	AcceptedAt time.Time    `json:"accepted_at"`
	Due        string       `json:"due,omitempty"`
	Status     Status       `json:"status"`
	StatusAt   time.Time    `json:"status_at"`
	History    []StatusStep `json:"history"`
}

// StatusStep is one status of a case's public history.
type StatusStep struct {
	Status Status    `json:"status"`
	At     time.Time `json:"at"`
}

// PublicProgressOf is the public view of a case.
func PublicProgressOf(c Case) PublicProgress {
	h := make([]StatusStep, len(c.History))
	for i, x := range c.History {
		h[i] = StatusStep{Status: x.Status, At: x.At}
	}
	return PublicProgress{Serial: c.Serial, Item: c.Item, ItemName: c.ItemName, AcceptedAt: c.AcceptedAt, Due: c.Due,
		Status: c.Status, StatusAt: c.StatusAt, History: h}
}

// ProgressOf is the manager's view of a case (with notes).
func ProgressOf(c Case) Progress {
	h := make([]StatusChange, len(c.History))
	for i, x := range c.History {
		h[i] = StatusChange{Serial: x.Serial, Status: x.Status, At: x.At, Note: x.Note, Seq: x.Seq}
	}
	return Progress{Serial: c.Serial, Item: c.Item, ItemName: c.ItemName, AcceptedAt: c.AcceptedAt, Due: c.Due,
		Status: c.Status, StatusAt: c.StatusAt, History: h}
}
