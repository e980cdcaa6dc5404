package casesys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
)

// Alerts are computed from the log and the clock (Alerts); for 电子监察
// the moments an alert is raised and cleared must themselves be facts
// that leave the hall exactly once. The AlertLog turns each evaluation
// into SupervisionStream records, by the alert's stable ID: "alert.raised"
// when an alert appears, "alert.escalated" once when an open warning
// becomes critical, "alert.cleared" when it is gone; the open ones are
// kept in OpenAlertsBucket in the same commit. After a
// restart it reads the bucket, so an alert already raised (and exported)
// is not raised again. Record keys are "raised/<id>/<raised, Unix ms>"
// (and "escalated/…", "cleared/…" with the same suffix): unique in the log, and the same alert
// raised again after it cleared (a transferred ticket's threshold moved)
// is a new, distinct episode.

// SupervisionStream holds the alert transitions.
const SupervisionStream = "supervision"

// Alert transition record types (SupervisionStream).
const (
	AlertRaised    = "alert.raised"
	AlertEscalated = "alert.escalated" // an open warning became critical (once per episode)
	AlertCleared   = "alert.cleared"
)

// OpenAlertsBucket keeps the raised, not yet cleared alerts: ID → AlertRecord.
const OpenAlertsBucket = "casesys-alerts-open"

// AlertRecord is the data of an alert transition record.
type AlertRecord struct {
	ID     string    `json:"id"`
	Raised time.Time `json:"raised"` // when this episode was raised
	At     time.Time `json:"at"`     // when it was raised / escalated / cleared (the evaluation's time)
	// Alert is the alert as raised, or as escalated to critical; a
	// cleared record repeats the last of these.
	Alert Alert `json:"alert"`
}

// Key is the episode's key: "<id>/<raised, Unix ms>".
func (r AlertRecord) Key() string { return r.ID + "/" + strconv.FormatInt(r.Raised.UnixMilli(), 10) }

// AlertID is the alert's stable ID (set by Alerts): kind, subject and
// episode — long_wait/ticket-<id>/<calls so far>, window_paused/window-<n>/<pause start, Unix ms>,
// due_soon/<serial>, overdue/<serial>, no_show_rate/<day>/<clerk>.
func AlertID(a Alert) string {
	if a.ID != "" {
		return a.ID
	}
	return a.Kind + "/" + a.Clerk + "/" + a.Serial
}

// AlertLog records alert transitions. Safe for concurrent use.
type AlertLog struct {
	st     store.Store
	alerts func() []Alert
	now    func() time.Time
	loc    *time.Location
	log    *slog.Logger

	mu   sync.Mutex
	open map[string]AlertRecord // nil until loaded
}

// NewAlertLog records the transitions of alerts (e.g. Monitor.Alerts) in
// st; now is the clock, loc the hall's zone (a no_show_rate alert holds
// for the rest of its day).
func NewAlertLog(st store.Store, alerts func() []Alert, now func() time.Time, loc *time.Location, log *slog.Logger) *AlertLog {
	if loc == nil {
		loc = time.UTC
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &AlertLog{st: st, alerts: alerts, now: now, loc: loc, log: log}
}

func (al *AlertLog) load(ctx context.Context) error {
	if al.open != nil {
		return nil
	}
	kvs, err := al.st.List(ctx, OpenAlertsBucket)
	if err != nil {
		return fmt.Errorf("open alerts: %w", err)
	}
	al.open = make(map[string]AlertRecord, len(kvs))
	for _, kv := range kvs {
		var r AlertRecord
		if err := json.Unmarshal(kv.Val, &r); err != nil {
			al.log.Error("open alert unreadable: dropped", "key", kv.Key, "err", err)
			continue
		}
		al.open[kv.Key] = r
	}
	return nil
}

// Open lists the raised, not yet cleared alerts by ID.
func (al *AlertLog) Open(ctx context.Context) ([]AlertRecord, error) {
	al.mu.Lock()
	defer al.mu.Unlock()
	if err := al.load(ctx); err != nil {
		return nil, err
	}
	out := make([]AlertRecord, 0, len(al.open))
	for _, r := range al.open {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Step evaluates the alerts now and commits their transitions: cleared
// ones first (by ID), then open warnings that became critical
// (alert.escalated, once per episode: never back down), then new ones in
// Alerts order. It returns how many
// it raised and cleared. A no_show_rate alert, once raised, stays raised
// until its day ends (it is the day's finding, not a flickering rate).
func (al *AlertLog) Step(ctx context.Context) (raised, cleared int, err error) {
	al.mu.Lock()
	defer al.mu.Unlock()
	if err := al.load(ctx); err != nil {
		return 0, 0, err
	}
	now := al.now()
	today := now.In(al.loc).Format(DateLayout)
	cur := al.alerts()
	curIDs := make(map[string]bool, len(cur))
	for _, a := range cur {
		curIDs[AlertID(a)] = true
	}
	var b store.Batch
	var gone []string
	for id, r := range al.open {
		if curIDs[id] || (r.Alert.Kind == AlertNoShowRate && strings.HasPrefix(id, AlertNoShowRate+"/"+today+"/")) {
			continue
		}
		gone = append(gone, id)
	}
	sort.Strings(gone)
	for _, id := range gone {
		r := al.open[id]
		r.At = now
		b.Append(store.Record{Stream: SupervisionStream, Type: AlertCleared, Key: "cleared/" + r.Key(), At: now, Data: mustJSON(r)})
		b.Delete(OpenAlertsBucket, id)
	}
	var esc []AlertRecord
	for _, a := range cur {
		id := AlertID(a)
		r, ok := al.open[id]
		if !ok || a.Severity != "critical" || r.Alert.Severity == "critical" {
			continue
		}
		a.ID = id
		r.At, r.Alert = now, a
		b.Append(store.Record{Stream: SupervisionStream, Type: AlertEscalated, Key: "escalated/" + r.Key(), At: now, Data: mustJSON(r)})
		b.Put(OpenAlertsBucket, id, mustJSON(r))
		esc = append(esc, r)
	}
	var up []AlertRecord
	seen := make(map[string]bool, len(cur))
	for _, a := range cur {
		id := AlertID(a)
		if _, ok := al.open[id]; ok || seen[id] {
			continue
		}
		seen[id] = true
		a.ID = id
		r := AlertRecord{ID: id, Raised: now, At: now, Alert: a}
		b.Append(store.Record{Stream: SupervisionStream, Type: AlertRaised, Key: "raised/" + r.Key(), At: now, Data: mustJSON(r)})
		b.Put(OpenAlertsBucket, id, mustJSON(r))
		up = append(up, r)
	}
	if b.Len() == 0 {
		return 0, 0, nil
	}
	if _, err := al.st.Commit(ctx, &b); err != nil {
		if errors.Is(err, store.ErrDuplicateKey) {
			al.open = nil // the store knows better: reload at the next step
		}
		return 0, 0, fmt.Errorf("record alert transitions: %w", err)
	}
	for _, id := range gone {
		delete(al.open, id)
	}
	for _, r := range esc {
		al.open[r.ID] = r
	}
	for _, r := range up {
		al.open[r.ID] = r
	}
	return len(up), len(gone), nil
}
