package casesys

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
)

// Snapshots and compaction of the ledger and the monitor. A long-running
// controller keeps in its Monitor only what supervision needs — today's
// and yesterday's tickets, open cases, low ratings within the follow-up
// horizon — and saves that state to the log's snapshots, so a restart
// restores it and replays only the records after it (hallctl/ctl).

// ledgerStateVersion is bumped when the saved format changes.
const ledgerStateVersion = 1

type ledgerState struct {
	V       int              `json:"v"`
	Tickets []*LedgerTicket  `json:"tickets"` // in issue order
	Windows []*LedgerWindow  `json:"windows"`
	Cases   []*LedgerCase    `json:"cases"`
	Ratings []LedgerRating   `json:"ratings"`
	Closed  []FollowUpClosed `json:"closed"`
	// Steps are the follow-ups' workflow steps (issue 14; absent before).
	Steps   []FollowUpStep `json:"steps,omitempty"`
	Skipped int            `json:"skipped"`
	LastSeq int64          `json:"last_seq"`
}

// MarshalState saves the ledger (for snapshots: restore it with
// RestoreLedger, then Apply the records after LastSeq).
func (l *Ledger) MarshalState() ([]byte, error) {
	s := ledgerState{V: ledgerStateVersion, Ratings: l.Ratings, Skipped: l.Skipped, LastSeq: l.LastSeq}
	for _, id := range l.Order {
		s.Tickets = append(s.Tickets, l.Tickets[id])
	}
	for _, n := range sortedWindows(l) {
		s.Windows = append(s.Windows, l.Windows[n])
	}
	keys := make([]string, 0, len(l.Cases))
	for k := range l.Cases {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.Cases = append(s.Cases, l.Cases[k])
	}
	ids := make([]int64, 0, len(l.Closed))
	for id := range l.Closed {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		s.Closed = append(s.Closed, l.Closed[id])
	}
	ids = ids[:0]
	for id := range l.Steps {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		s.Steps = append(s.Steps, l.Steps[id]...)
	}
	return json.Marshal(s)
}

// RestoreLedger builds a ledger for hall from MarshalState's bytes.
func RestoreLedger(hall *config.Config, b []byte) (*Ledger, error) {
	var s ledgerState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("restore ledger: %w", err)
	}
	if s.V != ledgerStateVersion {
		return nil, fmt.Errorf("restore ledger: saved state version %d, want %d", s.V, ledgerStateVersion)
	}
	l := NewLedger(hall)
	for _, t := range s.Tickets {
		if t == nil {
			return nil, fmt.Errorf("restore ledger: empty ticket")
		}
		if _, dup := l.Tickets[t.ID]; dup {
			return nil, fmt.Errorf("restore ledger: ticket %d twice", t.ID)
		}
		l.Tickets[t.ID] = t
		l.Order = append(l.Order, t.ID)
	}
	for _, w := range s.Windows {
		if w != nil {
			l.Windows[w.Number] = w
		}
	}
	for _, c := range s.Cases {
		if c != nil {
			l.Cases[c.Serial] = c
		}
	}
	for _, c := range s.Closed {
		l.Closed[c.Ticket] = c
	}
	for _, st := range s.Steps {
		l.Steps[st.Ticket] = append(l.Steps[st.Ticket], st)
	}
	l.Ratings, l.Skipped, l.LastSeq = s.Ratings, s.Skipped, s.LastSeq
	return l, nil
}

// Compact drops what supervision no longer needs: tickets issued before
// ticketsFrom (YYYY-MM-DD), completed cases accepted before it, ratings
// before it unless they need a follow-up (FollowUpLevel or less) and were
// given on or after followFrom, and closed follow-ups of ratings dropped.
// Open cases are kept until completed, for due-date alerts.
func (l *Ledger) Compact(ticketsFrom, followFrom string) {
	loc := l.loc()
	order := l.Order[:0]
	for _, id := range l.Order {
		if t := l.Tickets[id]; t.Day < ticketsFrom {
			delete(l.Tickets, id)
			continue
		}
		order = append(order, id)
	}
	l.Order = order
	day := func(t time.Time) string { return t.In(loc).Format(DateLayout) }
	rs := l.Ratings[:0]
	rated := map[int64]bool{}
	for _, r := range l.Ratings {
		d := day(r.At)
		if d >= ticketsFrom || (r.Level <= FollowUpLevel && d >= followFrom) {
			rs = append(rs, r)
			rated[r.Ticket] = true
		}
	}
	clear(l.Ratings[len(rs):])
	l.Ratings = rs
	for id := range l.Closed {
		if !rated[id] {
			delete(l.Closed, id)
		}
	}
	for id := range l.Steps {
		if !rated[id] {
			delete(l.Steps, id)
		}
	}
	for k, c := range l.Cases {
		if !c.CompletedAt.IsZero() && day(c.AcceptedAt) < ticketsFrom {
			delete(l.Cases, k)
		}
	}
}

// MarshalState saves the monitor's ledger.
func (m *Monitor) MarshalState() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.l.MarshalState()
}

// Restore replaces the monitor's ledger with a saved one.
func (m *Monitor) Restore(hall *config.Config, b []byte) error {
	l, err := RestoreLedger(hall, b)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.l = l
	m.mu.Unlock()
	return nil
}

// Compact compacts the monitor's ledger (see Ledger.Compact).
func (m *Monitor) Compact(ticketsFrom, followFrom string) {
	m.mu.Lock()
	m.l.Compact(ticketsFrom, followFrom)
	m.mu.Unlock()
}

// SerialState is the acceptor's serial counter, for snapshots.
func (a *Acceptor) SerialState() (day string, seq int) { return a.serials.Last() }

// RestoreSerials sets the acceptor's serial counter from a snapshot.
func (a *Acceptor) RestoreSerials(day string, seq int) {
	a.serials.day, a.serials.seq = day, seq
}
