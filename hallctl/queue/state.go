package queue

import (
	"encoding/json"
	"fmt"
	"time"
)

// stateVersion is bumped when the state format changes; a store then
// rebuilds from its event log instead of a snapshot.
const stateVersion = 1

// ErrStateVersion means a saved state was written by another format.
var ErrStateVersion = &Error{"state_version", "saved engine state has another format version"}

type savedState struct {
	V       int            `json:"v"`
	Policy  string         `json:"policy"`
	Now     int64          `json:"now"`
	Day     string         `json:"day"`
	Counter map[string]int `json:"counter"`
	Cal     [3]float64     `json:"cal"` // l50, l90, n
	// CalWindow is the calibration window (estimate.go), oldest first;
	// absent in states saved before it (the trackers then serve until it
	// fills again).
	CalWindow []float64     `json:"cal_window,omitempty"`
	Items     []savedItem   `json:"items"`
	Windows   []savedWindow `json:"windows"`
	Tickets   []savedTicket `json:"tickets"`
	Leases    []savedLease  `json:"leases,omitempty"`
	LastID    int64         `json:"last_id,omitempty"` // the highest id issued (tickets may be compacted away: compact.go)
}

type savedItem struct {
	Code string  `json:"code"`
	Svc  float64 `json:"svc"`
	Occ  float64 `json:"occ"`
}

type savedWindow struct {
	Number    int      `json:"number"`
	Serves    []string `json:"serves"`
	Backup    []string `json:"backup"`
	Open      bool     `json:"open"`
	Paused    bool     `json:"paused"`
	Note      string   `json:"note,omitempty"`
	Cur       int64    `json:"cur,omitempty"`
	IdleSince int64    `json:"idle_since"`
}

type savedTicket struct {
	ID        int64       `json:"id,omitempty"` // 0: its position (states saved before compaction)
	Number    string      `json:"n"`
	Person    string      `json:"p,omitempty"`
	Item      string      `json:"i"`
	Class     Class       `json:"c,omitempty"`
	Proxy     bool        `json:"x,omitempty"`
	State     TicketState `json:"s"`
	Issued    int64       `json:"t"`
	Key       int64       `json:"k"`
	Win       int         `json:"w,omitempty"`
	Direct    int         `json:"d,omitempty"`
	CalledAt  int64       `json:"ca,omitempty"`
	Start     int64       `json:"st,omitempty"`
	NoShows   int32       `json:"ns,omitempty"`
	Recalls   int32       `json:"rc,omitempty"`
	Overtaken int32       `json:"ov,omitempty"`
	// HS is the head start it got (µs) when that is not its class's
	// fixed one (a wait-proportional head start); absent = the fixed one,
	// as in states saved before head starts could vary.
	HS      *int64  `json:"hs,omitempty"`
	EstMean float64 `json:"em,omitempty"`
	EstP50  float64 `json:"e5,omitempty"`
	EstP90  float64 `json:"e9,omitempty"`
}

// MarshalState saves the whole engine state (for event-store snapshots:
// restore it, then apply the events logged after it). Person fields are
// the keyed hashes the engine holds, never ID numbers.
func (e *Engine) MarshalState() ([]byte, error) {
	s := savedState{V: stateVersion, Policy: e.opts.Policy.String(), Now: e.now, Day: e.day,
		Counter: e.counter, Cal: [3]float64{e.cal.l50, e.cal.l90, float64(e.cal.n)}, CalWindow: e.cal.window(), Leases: e.saveLeases(), LastID: e.lastID}
	for _, it := range e.items {
		s.Items = append(s.Items, savedItem{Code: it.code, Svc: it.svc, Occ: it.occ})
	}
	num := func(wi int32) int {
		if wi < 0 {
			return 0
		}
		return e.windows[wi].number
	}
	for _, w := range e.windows {
		sw := savedWindow{Number: w.number, Serves: w.serveRefs, Backup: w.backRef, Open: w.open,
			Paused: w.paused, Note: w.note, IdleSince: w.idleSince}
		if w.cur >= 0 {
			sw.Cur = e.tickets[w.cur].id
		}
		s.Windows = append(s.Windows, sw)
	}
	for ti := range e.tickets {
		t := &e.tickets[ti]
		var hs *int64
		if t.hs != e.headStart[t.class] {
			v := t.hs
			hs = &v
		}
		s.Tickets = append(s.Tickets, savedTicket{
			ID: t.id, Number: t.number, Person: t.person, Item: e.items[t.item].code, Class: t.class, Proxy: t.proxy,
			State: t.state, Issued: t.issued, Key: t.key, Win: num(t.win), Direct: num(t.direct),
			CalledAt: t.calledAt, Start: t.start, NoShows: t.noShows, Recalls: t.recalls,
			Overtaken: e.overtaken(int32(ti)), EstMean: t.estMean, EstP50: t.estP50, EstP90: t.estP90, HS: hs,
		})
	}
	return json.Marshal(s)
}

// Restore builds an engine from a saved state; spec, loc and opts must be
// the ones the state was saved under (the policy is checked).
func Restore(spec Spec, loc *time.Location, opts Opts, b []byte) (*Engine, error) {
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	positional := true
	for i := range s.Tickets {
		positional = positional && s.Tickets[i].ID == 0
	}
	if positional { // saved before compaction: ids are positions
		for i := range s.Tickets {
			s.Tickets[i].ID = int64(i + 1)
		}
	}
	if s.LastID == 0 && len(s.Tickets) > 0 {
		s.LastID = s.Tickets[len(s.Tickets)-1].ID
	}
	if s.V != stateVersion {
		return nil, fmt.Errorf("restore: version %d: %w", s.V, ErrStateVersion)
	}
	if s.Policy != opts.Policy.String() {
		return nil, fmt.Errorf("restore: saved under policy %s, not %s: %w", s.Policy, opts.Policy, ErrInconsistent)
	}
	e, err := New(spec, loc, opts)
	if err != nil {
		return nil, err
	}
	e.now, e.day, e.lastID = s.Now, s.Day, s.LastID
	for k, v := range s.Counter {
		e.counter[k] = v
	}
	e.cal = calibration{l50: s.Cal[0], l90: s.Cal[1], n: int(s.Cal[2])}
	e.cal.restoreWindow(s.CalWindow)
	if err := e.restoreLeases(s.Leases); err != nil {
		return nil, err
	}
	for _, si := range s.Items {
		j, err := e.itemByCode(si.Code)
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		e.items[j].svc, e.items[j].occ = si.Svc, si.Occ
	}
	winIdx := func(n int) (int32, error) {
		if n == 0 {
			return -1, nil
		}
		return e.windowByNumber(n)
	}
	for _, sw := range s.Windows {
		wi, err := e.windowByNumber(sw.Number)
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		if err := e.checkRefs(sw.Serves); err != nil {
			return nil, fmt.Errorf("restore: window %d: %w", sw.Number, err)
		}
		if err := e.checkRefs(sw.Backup); err != nil {
			return nil, fmt.Errorf("restore: window %d: %w", sw.Number, err)
		}
		w := &e.windows[wi]
		w.serveRefs, w.backRef = sw.Serves, sw.Backup
		w.open, w.paused, w.note, w.idleSince = sw.Open, sw.Paused, sw.Note, sw.IdleSince
		w.cur = -1
		if sw.Cur != 0 {
			if w.cur, err = savedIndex(s.Tickets, sw.Cur); err != nil {
				return nil, err
			}
		}
	}
	e.rebuildRouting()
	e.tickets = make([]ticket, 0, len(s.Tickets))
	for i, st := range s.Tickets {
		if st.ID <= 0 || i > 0 && st.ID <= s.Tickets[i-1].ID || st.ID > e.lastID {
			return nil, fmt.Errorf("restore: ticket %d out of order: %w", st.ID, ErrInconsistent)
		}
		j, err := e.itemByCode(st.Item)
		if err != nil {
			return nil, fmt.Errorf("restore: ticket %d: %w", st.ID, err)
		}
		win, err1 := winIdx(st.Win)
		dir, err2 := winIdx(st.Direct)
		if err1 != nil || err2 != nil || st.Class >= numClasses || st.State > Cancelled {
			return nil, fmt.Errorf("restore: ticket %d: %w", st.ID, ErrInconsistent)
		}
		e.tickets = append(e.tickets, ticket{
			id: st.ID, number: st.Number, person: st.Person, item: j, class: st.Class, proxy: st.Proxy,
			state: st.State, issued: st.Issued, key: st.Key, win: win, direct: dir, calledAt: st.CalledAt,
			start: st.Start, noShows: st.NoShows, recalls: st.Recalls, overtaken: st.Overtaken,
			estMean: st.EstMean, estP50: st.EstP50, estP90: st.EstP90, hs: e.headStart[st.Class],
		})
		if st.HS != nil {
			e.tickets[len(e.tickets)-1].hs = *st.HS
		}
	}
	for ti := range e.tickets {
		t := &e.tickets[ti]
		if !t.state.Live() {
			continue
		}
		e.live[t.number] = t.id
		if t.person != "" && !t.proxy {
			e.persons[personKey(e.items[t.item].code, t.person)] = t.id
		}
		if t.state == Waiting {
			e.enqueue(int32(ti))
		}
	}
	return e, nil
}

// savedIndex is the position of ticket id among saved tickets.
func savedIndex(ts []savedTicket, id int64) (int32, error) {
	for i := range ts {
		if ts[i].ID == id {
			return int32(i), nil
		}
	}
	return -1, fmt.Errorf("restore: ticket %d: %w", id, ErrInconsistent)
}
