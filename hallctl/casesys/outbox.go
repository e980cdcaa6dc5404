package casesys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// Keyed-table buckets of the connector.
const (
	// OutboxBucket holds events not yet delivered, keyed by
	// "%020d-%02d" (log seq, index), so key order is log order.
	OutboxBucket = "casesys-outbox"
	// DeadBucket holds events that failed MaxAttempts times (same keys).
	DeadBucket = "casesys-dead"
	// CursorBucket key "log" is the last log seq turned into events.
	CursorBucket = "casesys-cursor"
	// The supervision outbox's buckets (SendSupervision), same layout.
	SupOutboxBucket = "casesys-sup-outbox"
	SupDeadBucket   = "casesys-sup-dead"
	SupCursorBucket = "casesys-sup-cursor"
)

// What an outbox sends (OutboxOpts.Sends).
const (
	// SendAll (the default): case events and supervision.* events, to
	// the case webhook, in the case buckets.
	SendAll = ""
	// SendCase: case events only (supervision goes to its own endpoint).
	SendCase = "case"
	// SendSupervision: supervision.* events only, in the Sup* buckets.
	SendSupervision = "supervision"
)

// Entry is one event in the outbox or the dead-letter list.
type Entry struct {
	Key       string    `json:"key"`
	Event     Event     `json:"event"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"next_at"`
	LastError string    `json:"last_error,omitempty"`
	DeadAt    time.Time `json:"dead_at,omitzero"`
}

// OutboxOpts configure the connector.
type OutboxOpts struct {
	Hall    string  // hall id, part of every event id
	Webhook Webhook // URL and tuning (defaults filled by Config.WithDefaults)
	Secret  []byte  // HMAC key
	// RawIdentity includes raw ID records attached with AttachRaw.
	RawIdentity bool
	// Sends picks the events: SendAll (default), SendCase or
	// SendSupervision.
	Sends string
	// Poll is how often Run looks for new log records without a Notify;
	// default 2 s.
	Poll   time.Duration
	Client *http.Client // default: a client with Webhook.TimeoutS
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// Outbox is the case connector: it turns log records into case events,
// keeps them in the store until the case system has them, and delivers
// them over signed HTTP webhooks, in order per case, with retries and a
// dead-letter list. Everything it needs to resume is in the store.
type Outbox struct {
	st     store.Store
	o      OutboxOpts
	client *http.Client
	clock  clockwork.Clock
	log    *slog.Logger

	scanMu sync.Mutex // one Scan at a time
	mapper *mapper
	sup    *SupervisionMapper
	// the buckets: OutboxBucket… or SupOutboxBucket…
	bOutbox, bDead, bCursor string

	mu        sync.Mutex
	cursor    int64
	pending   []*Entry        // sorted by Key
	inflight  map[string]bool // case → an attempt is running
	deadCases map[string]int  // case → entries in the dead list (blocks the case)
	raw       map[int64]*wire.CardRaw
	delivered int64
	failures  int64

	notify chan struct{}
	wake   chan struct{} // a delivery finished
}

// warmRecords is how many records before the cursor OpenOutbox reads to
// remember tickets' numbers, items and serials for events after it.
const warmRecords = 50000

// OpenOutbox loads the connector's state from st.
func OpenOutbox(ctx context.Context, st store.Store, o OutboxOpts) (*Outbox, error) {
	if o.Webhook.URL == "" {
		return nil, fmt.Errorf("%w: outbox needs a webhook url", ErrConfig)
	}
	if len(o.Secret) == 0 {
		return nil, fmt.Errorf("%w: outbox needs a secret", ErrConfig)
	}
	cfg := Config{Webhook: &o.Webhook}.WithDefaults()
	o.Webhook = *cfg.Webhook
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := o.Client
	if c == nil {
		c = &http.Client{Timeout: o.Webhook.timeout()}
	}
	ob := &Outbox{st: st, o: o, client: c, clock: o.Clock, log: o.Logger, mapper: newMapper(o.Hall), sup: NewSupervisionMapper(),
		bOutbox: OutboxBucket, bDead: DeadBucket, bCursor: CursorBucket,
		inflight: map[string]bool{}, deadCases: map[string]int{}, raw: map[int64]*wire.CardRaw{},
		notify: make(chan struct{}, 1), wake: make(chan struct{}, 1)}
	switch o.Sends {
	case SendAll, SendCase:
	case SendSupervision:
		ob.bOutbox, ob.bDead, ob.bCursor = SupOutboxBucket, SupDeadBucket, SupCursorBucket
	default:
		return nil, fmt.Errorf("%w: outbox sends %q (\"\", %q or %q)", ErrConfig, o.Sends, SendCase, SendSupervision)
	}
	if b, err := st.Get(ctx, ob.bCursor, "log"); err == nil {
		ob.cursor, _ = strconv.ParseInt(string(b), 10, 64)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("outbox cursor: %w", err)
	}
	kvs, err := st.List(ctx, ob.bOutbox)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	for _, kv := range kvs {
		var e Entry
		if err := json.Unmarshal(kv.Val, &e); err != nil {
			ob.log.Error("outbox: unreadable entry skipped", "key", kv.Key, "err", err)
			continue
		}
		ob.pending = append(ob.pending, &e)
	}
	dead, err := st.List(ctx, ob.bDead)
	if err != nil {
		return nil, fmt.Errorf("outbox dead letters: %w", err)
	}
	for _, kv := range dead {
		var e Entry
		if json.Unmarshal(kv.Val, &e) == nil {
			ob.deadCases[e.Event.Case]++
		}
	}
	// Remember tickets seen shortly before the cursor.
	from := max(ob.cursor-warmRecords, 0)
	err = st.Read(ctx, "", from, func(r store.Record) error {
		if r.Seq > ob.cursor {
			return errStop
		}
		_, _ = ob.mapRecord(r)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("outbox warm-up: %w", err)
	}
	return ob, nil
}

var errStop = errors.New("stop")

// mapRecord is the events of r this outbox sends.
func (ob *Outbox) mapRecord(r store.Record) ([]Event, error) {
	var evs []Event
	var err error
	if ob.o.Sends != SendSupervision {
		evs, err = ob.mapper.Map(r)
	}
	s, ok, serr := ob.sup.Map(r)
	if ok && ob.o.Sends != SendCase {
		evs = append(evs, s.Event(ob.o.Hall))
	}
	return evs, errors.Join(err, serr)
}

// Notify tells the connector new records were committed (non-blocking).
func (ob *Outbox) Notify() {
	select {
	case ob.notify <- struct{}{}:
	default:
	}
}

// AttachRaw holds an ID card's full record in memory for the ticket's
// identity.read event (only when RawIdentity is on). It is never stored;
// after a restart the event goes out with the masked forms only.
func (ob *Outbox) AttachRaw(ticket int64, raw wire.CardRaw) {
	if !ob.o.RawIdentity {
		return
	}
	ob.mu.Lock()
	ob.raw[ticket] = &raw
	ob.mu.Unlock()
}

func entryKey(seq int64, i int) string { return fmt.Sprintf("%020d-%02d", seq, i) }

// scanPage bounds the records turned into events per commit.
const scanPage = 500

// Scan turns log records after the cursor into outbox entries; the
// entries and the new cursor are committed together, so a crash never
// loses or doubles an event. It returns how many events it added.
func (ob *Outbox) Scan(ctx context.Context) (int, error) {
	ob.scanMu.Lock()
	defer ob.scanMu.Unlock()
	ob.mu.Lock()
	cursor := ob.cursor
	ob.mu.Unlock()
	added := 0
	for {
		var entries []*Entry
		last, n := cursor, 0
		err := ob.st.Read(ctx, "", cursor, func(r store.Record) error {
			evs, err := ob.mapRecord(r)
			if err != nil {
				ob.log.Error("outbox: record skipped", "seq", r.Seq, "err", err)
			}
			for i, ev := range evs {
				ev.ID = ob.o.Hall + "-" + strconv.FormatInt(r.Seq, 10) + "-" + strconv.Itoa(i)
				entries = append(entries, &Entry{Key: entryKey(r.Seq, i), Event: ev, NextAt: ob.clock.Now()})
			}
			last, n = r.Seq, n+1
			if n >= scanPage {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return added, fmt.Errorf("outbox scan: %w", err)
		}
		if last == cursor {
			return added, nil
		}
		var b store.Batch
		for _, e := range entries {
			b.Put(ob.bOutbox, e.Key, mustJSON(e))
		}
		b.Put(ob.bCursor, "log", []byte(strconv.FormatInt(last, 10)))
		if _, err := ob.st.Commit(ctx, &b); err != nil {
			return added, fmt.Errorf("outbox scan: %w", err)
		}
		ob.mu.Lock()
		ob.pending = append(ob.pending, entries...) // keys rise with seq
		ob.cursor = last
		ob.mu.Unlock()
		added += len(entries)
		cursor = last
		if n < scanPage {
			return added, nil
		}
	}
}

// due picks, for each case with nothing in flight and no dead letter, its
// first pending entry if it is due, up to limit; it marks them in flight.
// It also returns the earliest NextAt among entries not yet due (complete
// only when fewer than limit entries were started).
func (ob *Outbox) due(now time.Time, limit int) (start []*Entry, next time.Time) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	seen := map[string]bool{}
	for _, e := range ob.pending {
		if len(start) >= limit {
			// Every worker is busy: one finishing wakes the caller, so
			// the earliest retry time is not needed.
			break
		}
		c := e.Event.Case
		if seen[c] {
			continue
		}
		seen[c] = true
		if ob.inflight[c] || ob.deadCases[c] > 0 {
			continue
		}
		if e.NextAt.After(now) {
			if next.IsZero() || e.NextAt.Before(next) {
				next = e.NextAt
			}
			continue
		}
		ob.inflight[c] = true
		start = append(start, e)
	}
	return start, next
}

// attempt delivers one entry and records the outcome durably.
func (ob *Outbox) attempt(ctx context.Context, e *Entry) {
	ob.mu.Lock()
	ev := e.Event
	if r := ob.raw[ev.Ticket]; r != nil && ev.Type == EvIdentityRead {
		ev.Raw = r
	}
	ob.mu.Unlock()
	err := ob.post(ctx, ev)
	now := ob.clock.Now()

	ob.mu.Lock()
	defer func() {
		delete(ob.inflight, e.Event.Case)
		ob.mu.Unlock()
		select {
		case ob.wake <- struct{}{}:
		default:
		}
	}()
	if ctx.Err() != nil && err != nil {
		return // shutting down: the entry stays as it was
	}
	var b store.Batch
	upd := *e
	dead := false
	if err == nil {
		b.Delete(ob.bOutbox, e.Key)
	} else {
		upd.Attempts++
		upd.LastError = err.Error()
		var pe *permanentError
		if upd.Attempts >= ob.o.Webhook.MaxAttempts || errors.As(err, &pe) {
			dead = true
			upd.DeadAt = now
			b.Delete(ob.bOutbox, e.Key)
			b.Put(ob.bDead, e.Key, mustJSON(upd))
		} else {
			upd.NextAt = now.Add(ob.backoff(upd.Attempts))
			b.Put(ob.bOutbox, e.Key, mustJSON(upd))
		}
	}
	ob.mu.Unlock()
	_, cerr := ob.st.Commit(context.WithoutCancel(ctx), &b)
	ob.mu.Lock()
	if cerr != nil {
		// Memory follows the store: on a failed commit the entry is
		// retried later (the receiver de-duplicates a second success).
		ob.log.Error("outbox: record delivery outcome", "key", e.Key, "err", cerr)
		e.NextAt = now.Add(ob.backoff(1))
		return
	}
	if e.Event.Type == EvIdentityRead && (err == nil || dead) {
		// Held for this event only: an earlier event of the ticket
		// delivered after the card was read must not drop it.
		delete(ob.raw, e.Event.Ticket)
	}
	if err == nil {
		ob.delivered++
		ob.remove(e.Key)
		return
	}
	ob.failures++
	ob.log.Warn("case event delivery failed", "event", e.Event.ID, "type", e.Event.Type, "attempt", upd.Attempts, "dead", dead, "err", err)
	if dead {
		ob.remove(e.Key)
		ob.deadCases[e.Event.Case]++
		return
	}
	*e = upd
}

// remove drops key from pending; the caller holds mu.
func (ob *Outbox) remove(key string) {
	i := sort.Search(len(ob.pending), func(i int) bool { return ob.pending[i].Key >= key })
	if i < len(ob.pending) && ob.pending[i].Key == key {
		ob.pending = append(ob.pending[:i], ob.pending[i+1:]...)
	}
}

func (ob *Outbox) backoff(attempts int) time.Duration {
	d := ob.o.Webhook.BackoffS
	for i := 1; i < attempts && d < ob.o.Webhook.MaxBackoffS; i++ {
		d *= 2
	}
	return secs(min(d, ob.o.Webhook.MaxBackoffS))
}

// permanentError is a refusal that retrying cannot fix (a 4xx other than
// 408 and 429): the event goes to the dead-letter list at once.
type permanentError struct{ status int }

func (e *permanentError) Error() string {
	return fmt.Sprintf("case system refused the event: HTTP %d", e.status)
}

func (ob *Outbox) post(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ob.o.Webhook.URL, bytes.NewReader(body))
	if err != nil {
		return &permanentError{status: 0}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdempotency, ev.ID)
	req.Header.Set(HeaderEvent, ev.Type)
	SignRequest(req, ob.o.Secret, ob.clock.Now(), body)
	resp, err := ob.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429:
		return &permanentError{status: resp.StatusCode}
	}
	return fmt.Errorf("case system answered HTTP %d", resp.StatusCode)
}

// DeliverDue attempts every due entry (one per case, up to Workers at a
// time) and waits for the attempts. It returns how many it attempted and
// when the next retry is due (zero: none waiting). Tests drive delivery
// with it and a fake clock; Run uses the same steps.
func (ob *Outbox) DeliverDue(ctx context.Context) (attempted int, next time.Time) {
	for {
		start, nx := ob.due(ob.clock.Now(), ob.o.Webhook.Workers)
		if len(start) == 0 {
			return attempted, nx
		}
		var wg sync.WaitGroup
		for _, e := range start {
			wg.Go(func() { ob.attempt(ctx, e) })
		}
		wg.Wait()
		attempted += len(start)
	}
}

// Run scans and delivers until ctx ends. Attempts in flight when ctx ends
// are abandoned; their entries stay in the store and go again at start.
func (ob *Outbox) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if _, err := ob.Scan(ctx); err != nil && ctx.Err() == nil {
			ob.log.Error("outbox scan", "err", err)
		}
		ob.mu.Lock()
		free := ob.o.Webhook.Workers - len(ob.inflight)
		ob.mu.Unlock()
		start, next := ob.due(ob.clock.Now(), free)
		for _, e := range start {
			wg.Go(func() { ob.attempt(ctx, e) })
		}
		wait := ob.o.Poll
		if !next.IsZero() {
			if d := next.Sub(ob.clock.Now()); d < wait {
				wait = max(d, 0)
			}
		}
		t := ob.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-ob.notify:
		case <-ob.wake:
		case <-t.Chan():
		}
		t.Stop()
	}
}

// OutboxStats are the connector's figures (also exported as metrics).
type OutboxStats struct {
	Cursor    int64     `json:"cursor"`
	Pending   int       `json:"pending"`
	InFlight  int       `json:"in_flight"`
	Dead      int       `json:"dead"`
	Blocked   int       `json:"blocked"` // cases held behind a dead letter
	Delivered int64     `json:"delivered"`
	Failures  int64     `json:"failures"`
	Oldest    time.Time `json:"oldest,omitzero"` // oldest undelivered event
}

// Stats returns the current figures.
func (ob *Outbox) Stats() OutboxStats {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	s := OutboxStats{Cursor: ob.cursor, Pending: len(ob.pending), InFlight: len(ob.inflight),
		Delivered: ob.delivered, Failures: ob.failures}
	for _, n := range ob.deadCases {
		s.Dead += n
	}
	for _, e := range ob.pending {
		if ob.deadCases[e.Event.Case] > 0 {
			s.Blocked++
		}
		if s.Oldest.IsZero() || e.Event.At.Before(s.Oldest) {
			s.Oldest = e.Event.At
		}
	}
	return s
}

// DeadLetters lists the dead-letter list in log order.
func (ob *Outbox) DeadLetters(ctx context.Context) ([]Entry, error) {
	kvs, err := ob.st.List(ctx, ob.bDead)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(kvs))
	for _, kv := range kvs {
		var e Entry
		if err := json.Unmarshal(kv.Val, &e); err != nil {
			return nil, fmt.Errorf("dead letter %s: %w", kv.Key, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// ErrNoDeadLetter is returned by Replay for a key not in the list.
var ErrNoDeadLetter = errors.New("no such dead letter")

// Replay moves dead letters back into the outbox with their attempts
// reset ("" = all of them). They keep their place in log order, so the
// events of their case held behind them follow in order.
func (ob *Outbox) Replay(ctx context.Context, key string) (int, error) {
	dead, err := ob.DeadLetters(ctx)
	if err != nil {
		return 0, err
	}
	var b store.Batch
	var back []*Entry
	for _, e := range dead {
		if key != "" && e.Key != key {
			continue
		}
		e := e
		e.Attempts, e.LastError, e.DeadAt, e.NextAt = 0, "", time.Time{}, ob.clock.Now()
		b.Delete(ob.bDead, e.Key)
		b.Put(ob.bOutbox, e.Key, mustJSON(e))
		back = append(back, &e)
	}
	if len(back) == 0 {
		if key != "" {
			return 0, fmt.Errorf("%w: %q", ErrNoDeadLetter, key)
		}
		return 0, nil
	}
	if _, err := ob.st.Commit(ctx, &b); err != nil {
		return 0, err
	}
	ob.mu.Lock()
	for _, e := range back {
		ob.deadCases[e.Event.Case]--
		if ob.deadCases[e.Event.Case] <= 0 {
			delete(ob.deadCases, e.Event.Case)
		}
		ob.pending = append(ob.pending, e)
	}
	sort.Slice(ob.pending, func(i, j int) bool { return ob.pending[i].Key < ob.pending[j].Key })
	ob.mu.Unlock()
	ob.Notify()
	return len(back), nil
}

// DeadLetter returns one dead letter by key.
func (ob *Outbox) DeadLetter(ctx context.Context, key string) (Entry, error) {
	dead, err := ob.DeadLetters(ctx)
	if err != nil {
		return Entry{}, err
	}
	for _, e := range dead {
		if e.Key == key {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("%w: %q", ErrNoDeadLetter, key)
}

// Discard drops a dead letter for good: the case system will never get
// it, and the case's later events, held behind it, go on. For an event
// the case system has had by other means or can never accept; the caller
// records who decided it and why (the manager's audit entry).
func (ob *Outbox) Discard(ctx context.Context, key string) (Entry, error) {
	e, err := ob.DeadLetter(ctx, key)
	if err != nil {
		return Entry{}, err
	}
	var b store.Batch
	b.Delete(ob.bDead, key)
	if _, err := ob.st.Commit(ctx, &b); err != nil {
		return Entry{}, err
	}
	ob.mu.Lock()
	if ob.deadCases[e.Event.Case]--; ob.deadCases[e.Event.Case] <= 0 {
		delete(ob.deadCases, e.Event.Case)
	}
	ob.mu.Unlock()
	ob.Notify()
	return e, nil
}
