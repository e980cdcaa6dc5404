package queue

import (
	"fmt"
	"strings"
)

// ewma is the learning rate of service and occupancy times.
const ewma = 0.1

// Apply replays one event. Events must be applied in log order; a replayed
// log rebuilds exactly the state that produced it. Apply checks that the
// event fits the state and changes nothing when it returns an error.
func (e *Engine) Apply(ev Event) error {
	at := micros(ev.At)
	var err error
	switch ev.Type {
	case EvIssued:
		err = e.applyIssued(&ev, at)
	case EvCalled:
		err = e.applyCalled(&ev, at)
	case EvRecalled:
		err = e.applyRecalled(&ev)
	case EvNoShow:
		err = e.applyNoShow(&ev, at)
	case EvStarted:
		err = e.applyStarted(&ev, at)
	case EvFinished:
		err = e.applyFinished(&ev, at)
	case EvTransferred:
		err = e.applyTransferred(&ev, at)
	case EvCancelled:
		err = e.applyCancelled(&ev, at)
	case EvWindowOpened, EvWindowClosed, EvWindowPaused, EvWindowResumed:
		err = e.applyWindowState(&ev, at)
	case EvServesChanged, EvBackupChanged:
		err = e.applyRefs(&ev)
	case EvLeased:
		err = e.applyLeased(&ev)
	default:
		return fmt.Errorf("event type %q: %w", ev.Type, ErrUnknownEvent)
	}
	if err != nil {
		return fmt.Errorf("apply %s: %w", ev.Type, err)
	}
	if at > e.now {
		e.now = at
	}
	return nil
}

func personKey(item, person string) string { return item + "\x00" + person }

func (e *Engine) applyIssued(ev *Event, at int64) error {
	if ev.Ticket != e.nextID() {
		return fmt.Errorf("ticket id %d, want %d: %w", ev.Ticket, e.nextID(), ErrInconsistent)
	}
	j, err := e.itemByCode(ev.Item)
	if err != nil {
		return err
	}
	if ev.Class >= numClasses {
		return ErrUnknownClass
	}
	if ev.Number == "" {
		return fmt.Errorf("issued without a number: %w", ErrInconsistent)
	}
	if _, dup := e.live[ev.Number]; dup {
		return fmt.Errorf("number %s is live: %w", ev.Number, ErrInconsistent)
	}
	issued := at
	var use func()
	if !ev.Printed.IsZero() {
		if ev.Number != Number(e.items[j].prefix, ev.Seq) {
			return fmt.Errorf("leased number %s is not counter %d: %w", ev.Number, ev.Seq, ErrInconsistent)
		}
		li, k, err := e.findLease(j, ev.Day, ev.Seq)
		if err != nil {
			return err
		}
		if e.leases[li].used[k] {
			return fmt.Errorf("number %s: %w", ev.Number, ErrLeaseUsed)
		}
		use = func() { e.leases[li].used[k] = true }
		issued = micros(ev.Printed)
	}
	e.advanceDay(ev.Day)
	if ev.Day == e.day {
		p := e.items[j].prefix
		if ev.Seq > e.counter[p] {
			e.counter[p] = ev.Seq
		}
	}
	idx := int32(len(e.tickets))
	e.tickets = append(e.tickets, ticket{
		id: ev.Ticket, number: ev.Number, person: ev.Person, item: j, class: ev.Class,
		proxy: ev.Proxy, state: Waiting, issued: issued, key: ev.Key, hs: issued - ev.Key, win: -1, direct: -1,
		estMean: ev.EstMeanS, estP50: ev.EstP50S, estP90: ev.EstP90S,
	})
	if use != nil {
		use()
	}
	e.lastID = ev.Ticket
	e.live[ev.Number] = ev.Ticket
	if ev.Person != "" && !ev.Proxy {
		e.persons[personKey(ev.Item, ev.Person)] = ev.Ticket
	}
	e.items[j].q = e.insert(e.items[j].q, idx)
	e.items[j].cq[ev.Class] = e.insert(e.items[j].cq[ev.Class], idx)
	e.refreshHead(j)
	return nil
}

// dequeue takes a waiting ticket out of its queue.
func (e *Engine) dequeue(ti int32) {
	t := &e.tickets[ti]
	if t.direct >= 0 {
		w := &e.windows[t.direct]
		w.direct, _ = removeIdx(w.direct, ti)
		return
	}
	it := &e.items[t.item]
	it.q, _ = removeIdx(it.q, ti)
	it.cq[t.class], _ = removeIdx(it.cq[t.class], ti)
	e.refreshHead(t.item)
}

func (e *Engine) enqueue(ti int32) {
	t := &e.tickets[ti]
	if t.direct >= 0 {
		w := &e.windows[t.direct]
		w.direct = e.insert(w.direct, ti)
		return
	}
	it := &e.items[t.item]
	it.q = e.insert(it.q, ti)
	it.cq[t.class] = e.insert(it.cq[t.class], ti)
	e.refreshHead(t.item)
}

func (e *Engine) currentOf(ev *Event, want ...TicketState) (int32, int32, error) {
	wi, err := e.windowByNumber(ev.Window)
	if err != nil {
		return -1, -1, err
	}
	ti, err := e.ticketByID(ev.Ticket)
	if err != nil {
		return -1, -1, err
	}
	if e.windows[wi].cur != ti {
		return -1, -1, fmt.Errorf("ticket %d is not at window %d: %w", ev.Ticket, ev.Window, ErrInconsistent)
	}
	st := e.tickets[ti].state
	for _, s := range want {
		if s == st {
			return wi, ti, nil
		}
	}
	return -1, -1, fmt.Errorf("ticket %d is %s: %w", ev.Ticket, st, ErrBadState)
}

func (e *Engine) applyCalled(ev *Event, at int64) error {
	wi, err := e.windowByNumber(ev.Window)
	if err != nil {
		return err
	}
	ti, err := e.ticketByID(ev.Ticket)
	if err != nil {
		return err
	}
	w := &e.windows[wi]
	t := &e.tickets[ti]
	if t.state != Waiting {
		return fmt.Errorf("ticket %d is %s: %w", ev.Ticket, t.state, ErrBadState)
	}
	if w.cur >= 0 {
		return fmt.Errorf("window %d: %w", ev.Window, ErrWindowBusy)
	}
	e.dequeue(ti)
	if ev.Overtook && e.maxOvertake > 0 && e.opts.Policy == PolicyDefault {
		e.countOvertakes(w, t.issued, at)
	}
	first := t.noShows == 0 && t.direct < 0 && t.calledAt == 0
	t.state, t.win, t.calledAt, t.direct = Called, wi, at, -1
	w.cur = ti
	if first && at > t.issued { // calibrate on the tickets that waited (estimate.go)
		e.cal.observe(float64(at-t.issued)/1e6, t.estMean, t.estP50, t.estP90)
	}
	return nil
}

// countOvertakes charges one overtake to every head the window could have
// called that was issued before the called ticket.
func (e *Engine) countOvertakes(w *window, issued, now int64) {
	for _, j := range w.serves {
		if e.headIss[j] < issued {
			e.headOvt[j]++
		}
	}
	for _, j := range w.backup {
		if e.headIss[j] < issued && e.escalated(j, now) {
			e.headOvt[j]++
		}
	}
}

func (e *Engine) applyRecalled(ev *Event) error {
	_, ti, err := e.currentOf(ev, Called)
	if err != nil {
		return err
	}
	e.tickets[ti].recalls++
	return nil
}

func (e *Engine) learnOcc(j int32, s float64) {
	if s >= 0 {
		it := &e.items[j]
		it.occ += ewma * (s - it.occ)
	}
}

func (e *Engine) free(wi int32, at int64) {
	w := &e.windows[wi]
	w.cur = -1
	w.idleSince = at
}

func (e *Engine) release(ti int32) {
	t := &e.tickets[ti]
	if id, ok := e.live[t.number]; ok && id == t.id {
		delete(e.live, t.number)
	}
	if t.person != "" && !t.proxy {
		k := personKey(e.items[t.item].code, t.person)
		if id, ok := e.persons[k]; ok && id == t.id {
			delete(e.persons, k)
		}
	}
}

func (e *Engine) applyNoShow(ev *Event, at int64) error {
	wi, ti, err := e.currentOf(ev, Called)
	if err != nil {
		return err
	}
	t := &e.tickets[ti]
	t.noShows++
	e.learnOcc(t.item, float64(at-t.calledAt)/1e6)
	e.free(wi, at)
	t.win = -1
	if ev.Void {
		t.state = Voided
		e.release(ti)
		return nil
	}
	t.state, t.key = Waiting, ev.Key
	e.enqueue(ti)
	return nil
}

func (e *Engine) applyStarted(ev *Event, at int64) error {
	_, ti, err := e.currentOf(ev, Called)
	if err != nil {
		return err
	}
	t := &e.tickets[ti]
	t.state, t.start = Serving, at
	return nil
}

func (e *Engine) applyFinished(ev *Event, at int64) error {
	wi, ti, err := e.currentOf(ev, Called, Serving)
	if err != nil {
		return err
	}
	t := &e.tickets[ti]
	if t.state == Serving {
		it := &e.items[t.item]
		it.svc += ewma * (float64(at-t.start)/1e6 - it.svc)
	}
	e.learnOcc(t.item, float64(at-t.calledAt)/1e6)
	t.state = Finished
	e.free(wi, at)
	e.release(ti)
	return nil
}

func (e *Engine) applyTransferred(ev *Event, at int64) error {
	ti, err := e.ticketByID(ev.Ticket)
	if err != nil {
		return err
	}
	t := &e.tickets[ti]
	toItem := t.item
	if ev.ToItem != "" {
		if toItem, err = e.itemByCode(ev.ToItem); err != nil {
			return err
		}
	}
	toWin := int32(-1)
	if ev.ToWindow != 0 {
		if toWin, err = e.windowByNumber(ev.ToWindow); err != nil {
			return err
		}
	}
	if toItem != t.item && t.person != "" && !t.proxy {
		if _, dup := e.persons[personKey(e.items[toItem].code, t.person)]; dup {
			return ErrDuplicatePerson
		}
	}
	switch t.state {
	case Waiting:
		e.dequeue(ti)
	case Called, Serving:
		if t.win < 0 || e.windows[t.win].cur != ti {
			return fmt.Errorf("ticket %d: %w", ev.Ticket, ErrInconsistent)
		}
		if t.state == Serving {
			e.learnOcc(t.item, float64(at-t.calledAt)/1e6)
		}
		e.free(t.win, at)
	default:
		return fmt.Errorf("ticket %d is %s: %w", ev.Ticket, t.state, ErrBadState)
	}
	if toItem != t.item && t.person != "" && !t.proxy {
		e.release(ti)
		e.live[t.number] = t.id
		e.persons[personKey(e.items[toItem].code, t.person)] = t.id
	}
	t.item, t.direct, t.win, t.key, t.state = toItem, toWin, -1, ev.Key, Waiting
	e.enqueue(ti)
	return nil
}

func (e *Engine) applyCancelled(ev *Event, at int64) error {
	ti, err := e.ticketByID(ev.Ticket)
	if err != nil {
		return err
	}
	t := &e.tickets[ti]
	switch t.state {
	case Waiting:
		e.dequeue(ti)
	case Called, Serving:
		if t.win >= 0 && e.windows[t.win].cur == ti {
			e.free(t.win, at)
		}
	default:
		return fmt.Errorf("ticket %d is %s: %w", ev.Ticket, t.state, ErrBadState)
	}
	t.state, t.win = Cancelled, -1
	e.release(ti)
	return nil
}

func (e *Engine) applyWindowState(ev *Event, at int64) error {
	wi, err := e.windowByNumber(ev.Window)
	if err != nil {
		return err
	}
	w := &e.windows[wi]
	switch ev.Type {
	case EvWindowOpened:
		if !w.open || w.paused {
			w.idleSince = at
		}
		w.open, w.paused, w.note = true, false, ""
	case EvWindowClosed:
		w.open, w.paused, w.note = false, false, ""
	case EvWindowPaused:
		w.paused, w.note = true, ev.Note
	case EvWindowResumed:
		if w.paused {
			w.idleSince = at
		}
		w.paused, w.note = false, ""
	}
	return nil
}

func (e *Engine) checkRefs(refs []string) error {
	for _, r := range refs {
		switch {
		case r == "*":
		case strings.HasPrefix(r, "dept:"):
			d := strings.TrimPrefix(r, "dept:")
			found := false
			for _, dep := range e.cfg.Departments {
				found = found || dep.Code == d
			}
			if !found {
				return fmt.Errorf("department in %q: %w", r, ErrUnknownItem)
			}
		default:
			if _, err := e.itemByCode(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *Engine) applyRefs(ev *Event) error {
	wi, err := e.windowByNumber(ev.Window)
	if err != nil {
		return err
	}
	if err := e.checkRefs(ev.Refs); err != nil {
		return err
	}
	w := &e.windows[wi]
	refs := append([]string(nil), ev.Refs...)
	if ev.Type == EvServesChanged {
		w.serveRefs = refs
	} else {
		w.backRef = refs
	}
	e.rebuildRouting()
	return nil
}
