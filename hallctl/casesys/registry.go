package casesys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
)

// Registry errors.
var (
	ErrUnknownCase = errors.New("unknown case")
	ErrBadStatus   = errors.New("unknown case status")
	ErrStale       = errors.New("stale status: order or time goes backwards")
)

// Registry is the hall's case registry: the built-in case system of a
// small hall, and the progress that kiosks read when an external case
// system pushes statuses. It lives in the store's keyed table (CasesBucket)
// and every status change is also a CaseStream record.
type Registry struct {
	st store.Store
	mu sync.Mutex // serialises read-modify-write of a case
}

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
// unknown status, ErrStale when the status rank or time goes backwards.
func CheckStatus(c Case, ch StatusChange) (changed bool, err error) {
	if ch.Status.Rank() == 0 {
		return false, fmt.Errorf("%w: %q (accepted, in_review, approved, rejected, ready_for_pickup)", ErrBadStatus, ch.Status)
	}
	if ch.Status == c.Status && ch.At.Equal(c.StatusAt) {
		return false, nil
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
	c.Status, c.StatusAt = ch.Status, ch.At
	c.History = append(c.History, ch)
	var b store.Batch
	b.Append(store.Record{Stream: CaseStream, Type: "status", Key: ch.Serial + "/" + string(ch.Status), At: ch.At, Data: mustJSON(ch)})
	b.Put(CasesBucket, c.Serial, mustJSON(c))
	if _, err := r.st.Commit(ctx, &b); err != nil {
		return Case{}, false, err
	}
	return c, true, nil
}

// Progress is what a kiosk shows for a case: no personal data.
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

// ProgressOf is the kiosk view of a case.
func ProgressOf(c Case) Progress {
	h := make([]StatusChange, len(c.History))
	for i, x := range c.History {
		h[i] = StatusChange{Serial: x.Serial, Status: x.Status, At: x.At, Note: x.Note}
	}
	return Progress{Serial: c.Serial, Item: c.Item, ItemName: c.ItemName, AcceptedAt: c.AcceptedAt, Due: c.Due,
		Status: c.Status, StatusAt: c.StatusAt, History: h}
}
