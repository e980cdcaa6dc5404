package queue

import (
	"crypto/subtle"
	"time"
)

// TicketView is a read-only view of a ticket for the web UI.
type TicketView struct {
	ID       int64       `json:"id"`
	Number   string      `json:"number"`
	Item     string      `json:"item"`
	Class    Class       `json:"class"`
	State    TicketState `json:"state"`
	Window   int         `json:"window,omitempty"` // serving window, or the window it was transferred to
	IssuedAt time.Time   `json:"issued_at"`
	CalledAt time.Time   `json:"called_at,omitzero"`
	NoShows  int         `json:"no_shows,omitempty"`
	Proxy    bool        `json:"proxy,omitempty"`
	EstP50S  float64     `json:"est_p50_s"`
	EstP90S  float64     `json:"est_p90_s"`
	// HeadStartS is the head start the ticket got at issue (its class's
	// fixed one, or a share of the line's longest wait under overload):
	// its place in line is IssuedAt less this.
	HeadStartS float64 `json:"head_start_s,omitempty"`
}

// WindowView is a read-only view of a window.
type WindowView struct {
	Number    int       `json:"number"`
	Dept      string    `json:"dept"`
	Zone      string    `json:"zone,omitempty"`
	State     string    `json:"state"` // open | paused | closed
	Note      string    `json:"note,omitempty"`
	Current   int64     `json:"current,omitempty"`
	CurrentNo string    `json:"current_number,omitempty"`
	Serves    []string  `json:"serves"`
	Backup    []string  `json:"backup,omitempty"`
	IdleSince time.Time `json:"idle_since,omitzero"`
	Transfers int       `json:"transfers_waiting,omitempty"`
}

// ItemView is the line of one item.
type ItemView struct {
	Code        string  `json:"code"`
	Waiting     int     `json:"waiting"`
	OldestWaitS float64 `json:"oldest_wait_s"`
	ServiceS    float64 `json:"service_s"`   // learned, start → finish
	OccupancyS  float64 `json:"occupancy_s"` // learned, call → free
}

// Snapshot is the whole hall at a moment.
type Snapshot struct {
	At      time.Time    `json:"at"`
	Items   []ItemView   `json:"items"`
	Windows []WindowView `json:"windows"`
	Waiting []TicketView `json:"waiting"`
}

func (e *Engine) ticketView(ti int32) TicketView {
	t := &e.tickets[ti]
	v := TicketView{ID: t.id, Number: t.number, Item: e.items[t.item].code, Class: t.class,
		State: t.state, IssuedAt: e.timeOf(t.issued), NoShows: int(t.noShows),
		Proxy: t.proxy, EstP50S: t.estP50, EstP90S: t.estP90, HeadStartS: float64(t.hs) / 1e6}
	if t.calledAt != 0 {
		v.CalledAt = e.timeOf(t.calledAt)
	}
	if t.win >= 0 {
		v.Window = e.windows[t.win].number
	} else if t.direct >= 0 {
		v.Window = e.windows[t.direct].number
	}
	return v
}

// Ticket returns a view of one ticket.
func (e *Engine) Ticket(id int64) (TicketView, bool) {
	ti, err := e.ticketByID(id)
	if err != nil {
		return TicketView{}, false
	}
	return e.ticketView(ti), true
}

// HeldBy reports whether ticket id was taken with the person hash given
// (an ID card's keyed hash), in constant time; a ticket taken without a
// card is held by nobody.
func (e *Engine) HeldBy(id int64, person string) bool {
	ti, err := e.ticketByID(id)
	if err != nil {
		return false
	}
	p := e.tickets[ti].person
	return p != "" && subtle.ConstantTimeCompare([]byte(p), []byte(person)) == 1
}

// TicketByNumber finds a live ticket by its printed number.
func (e *Engine) TicketByNumber(number string) (TicketView, bool) {
	id, ok := e.live[number]
	if !ok {
		return TicketView{}, false
	}
	return e.Ticket(id)
}

// Window returns a view of one window.
func (e *Engine) Window(number int) (WindowView, bool) {
	wi, ok := e.winIdx[number]
	if !ok {
		return WindowView{}, false
	}
	w := &e.windows[wi]
	v := WindowView{Number: w.number, Dept: w.dept, Zone: w.zone, State: "closed", Note: w.note,
		Serves: append([]string(nil), w.serveRefs...), Backup: append([]string(nil), w.backRef...),
		Transfers: len(w.direct)}
	switch {
	case w.open && w.paused:
		v.State = "paused"
	case w.open:
		v.State = "open"
	}
	if w.cur >= 0 {
		v.Current, v.CurrentNo = e.tickets[w.cur].id, e.tickets[w.cur].number
	} else if w.open && w.idleSince != 0 {
		v.IdleSince = e.timeOf(w.idleSince)
	}
	return v, true
}

// Snapshot is the read-only view of the hall for screens and consoles.
func (e *Engine) Snapshot(now time.Time) Snapshot {
	s, _ := e.SnapshotN(now, -1)
	return s
}

// SnapshotN is Snapshot with at most maxWaiting tickets in Waiting (all
// when negative), the ones past it not even looked up: a public snapshot
// of a hall with tens of thousands waiting is built in bounded time under
// the controller's lock. total is how many wait in all.
func (e *Engine) SnapshotN(now time.Time, maxWaiting int) (s Snapshot, total int) {
	at := micros(now)
	s = Snapshot{At: now}
	add := func(ti int32) {
		total++
		if maxWaiting < 0 || len(s.Waiting) < maxWaiting {
			s.Waiting = append(s.Waiting, e.ticketView(ti))
		}
	}
	for j := range e.items {
		it := &e.items[j]
		v := ItemView{Code: it.code, Waiting: len(it.q), ServiceS: it.svc, OccupancyS: it.occ}
		for _, ti := range it.q {
			v.OldestWaitS = max(v.OldestWaitS, float64(at-e.tickets[ti].issued)/1e6)
			add(ti)
		}
		s.Items = append(s.Items, v)
	}
	for _, w := range e.windows {
		v, _ := e.Window(w.number)
		s.Windows = append(s.Windows, v)
		for _, ti := range w.direct {
			add(ti)
		}
	}
	return s, total
}

// Waiting is how many tickets wait, in item lines and transferred to
// windows.
func (e *Engine) Waiting() int {
	n := 0
	for j := range e.items {
		n += len(e.items[j].q)
	}
	for _, w := range e.windows {
		n += len(w.direct)
	}
	return n
}

// Now is the time of the latest applied event.
func (e *Engine) Now() time.Time {
	if e.now == 0 {
		return time.Time{}
	}
	return e.timeOf(e.now)
}

// TicketCount is how many tickets the engine has issued (ids run 1…n).
func (e *Engine) TicketCount() int { return int(e.lastID) }
