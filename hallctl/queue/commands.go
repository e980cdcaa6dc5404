package queue

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// IssueReq asks for a ticket.
type IssueReq struct {
	Item  string
	Class Class
	// Person is the keyed hash (HMAC with the hall secret) of the ID
	// number, or "" for an anonymous ticket. Never the number itself.
	Person string
	// Proxy marks a 代办 ticket: exempt from one active ticket per person
	// per item.
	Proxy bool
}

const dayLayout = "2006-01-02"

// Issue takes a ticket: its number (per prefix per day in the hall's
// zone), its place in line and its wait estimate.
func (e *Engine) Issue(now time.Time, r IssueReq) (Event, error) {
	j, err := e.itemByCode(r.Item)
	if err != nil {
		return Event{}, err
	}
	if r.Class >= numClasses {
		return Event{}, ErrUnknownClass
	}
	it := &e.items[j]
	if len(it.servers) == 0 && len(it.backups) == 0 {
		return Event{}, fmt.Errorf("item %s: %w", r.Item, ErrNotServed)
	}
	if r.Person != "" && !r.Proxy {
		if id, dup := e.persons[personKey(r.Item, r.Person)]; dup {
			return Event{}, fmt.Errorf("ticket %s: %w", e.numberOf(id), ErrDuplicatePerson)
		}
	}
	day := now.In(e.loc).Format(dayLayout)
	seq := 0
	if day <= e.day {
		day = max(day, e.day)
		seq = e.counter[it.prefix]
	}
	var number string
	for {
		seq++
		number = fmt.Sprintf("%s%03d", it.prefix, seq)
		if _, used := e.live[number]; !used {
			break
		}
	}
	at := micros(now)
	key := e.placeKey(j, r.Class, at, at)
	est := e.estimate(j, key, at, e.nextID(), at)
	if !est.Known() {
		// No window is open for it and none opens again today: a ticket
		// now would promise a call that will not come (the dispensers of
		// a hall stop issuing after its last window closes, 停止取号).
		return Event{}, fmt.Errorf("item %s: %w", r.Item, ErrClosedToday)
	}
	ev := Event{
		Type: EvIssued, At: now, Ticket: e.nextID(), Number: number, Day: day, Seq: seq,
		Item: r.Item, Class: r.Class, Person: r.Person, Proxy: r.Proxy, Key: key,
		Ahead: est.Ahead, EstMeanS: est.MeanS, EstP50S: est.P50S, EstP90S: est.P90S,
	}
	return ev, e.Apply(ev)
}

// placeKey is the place in line (key) of a new ticket of class c in line
// j, issued at ref and entered at now (µs): ref minus its head start. The
// head start is the class's fixed one (queue.head_start_min) or, when
// larger, its share (queue.head_start_share) of how long the line's
// longest waiter has waited at now, capped at queue.head_start_max_min:
// under overload every wait is long and a fixed head start shrinks to
// nothing beside it, a share does not. A wait-proportional head start
// never puts a ticket ahead of an earlier one of its own class in the
// line (the wait grows, so a later ticket could otherwise jump it).
func (e *Engine) placeKey(j int32, c Class, ref, now int64) int64 {
	hs := e.headStart[c]
	if f := e.hsShare[c]; f > 0 && e.oldV[j] != never && now > e.oldV[j] {
		if p := min(int64(f*float64(now-e.oldV[j])), e.hsCap); p > hs {
			hs = p
			if cq := e.items[j].cq[c]; len(cq) > 0 {
				hs = min(hs, ref-e.tickets[cq[len(cq)-1]].key)
			}
			hs = max(hs, e.headStart[c])
		}
	}
	return ref - hs
}

func (e *Engine) callable(wi int32) error {
	w := &e.windows[wi]
	switch {
	case !w.open:
		return ErrWindowClosed
	case w.paused:
		return ErrWindowPaused
	case w.cur >= 0:
		return ErrWindowBusy
	}
	return nil
}

// CallNext is a window pulling its next ticket: the highest score among
// the items it serves, backup items whose head waited past the escalation
// threshold and tickets transferred to it; the event's Reason says why.
func (e *Engine) CallNext(now time.Time, win int) (Event, error) {
	wi, err := e.windowByNumber(win)
	if err != nil {
		return Event{}, err
	}
	if err := e.callable(wi); err != nil {
		return Event{}, err
	}
	at := micros(now)
	ti, rule, cands, overtook := e.choose(wi, at)
	if ti < 0 {
		return Event{}, ErrNoTicket
	}
	t := &e.tickets[ti]
	hs := float64(t.hs) / 60e6
	waited := float64(at-t.issued) / 1e6
	ev := Event{
		Type: EvCalled, At: now, Ticket: t.id, Window: win, Item: e.items[t.item].code, Number: t.number,
		Overtook: overtook,
		Reason: Reason{Rule: rule, ScoreMin: waited/60 + hs, WaitedS: waited, HeadStartMin: hs,
			Candidates: cands, Overtaken: int(e.overtaken(ti))},
	}
	return ev, e.Apply(ev)
}

// backupWhenIdle: under the default policy a window whose own lines are
// empty calls backup items without waiting for the escalation threshold.
const backupWhenIdle = true

// choose picks the ticket a window calls next, or -1; overtook reports
// whether an older head it could have called is passed over.
func (e *Engine) choose(wi int32, now int64) (best int32, rule string, cands int, overtook bool) {
	w := &e.windows[wi]
	rule = RuleScore
	if e.opts.Policy != PolicyDefault {
		rule = RuleOldest
	}
	s := scan{bk: never, bi: never, best: -1, minIss: never, g: -1, gi: never, maxOvt: e.maxOvertake,
		e: e, protectCut: math.MinInt64, maxHS: e.maxHS}
	if e.opts.Policy != PolicyDefault || s.maxOvt <= 0 {
		s.maxOvt = math.MaxInt32
	}
	if e.protect != never {
		s.protectCut = now - e.protect
	}
	if w.all {
		s.all()
	} else {
		s.list(w.serves, never)
	}
	// A window with nothing of its own waiting takes backup work at once
	// (work conservation, the chaining of Jordan & Graves); a busy one
	// only once the backup line's longest waiter has waited past the
	// threshold.
	if len(w.backup) > 0 {
		esc := e.escalate
		if s.best < 0 && len(w.direct) == 0 && backupWhenIdle {
			esc = 0
		}
		own := s.best
		s.list(w.backup, now-esc)
		if s.best != own {
			rule = RuleBackup
		}
	}
	var bestIdx int32 = -1
	if s.best >= 0 {
		bestIdx = e.headIdx[s.best]
		if s.bestAlt {
			bestIdx = e.oldIdx[s.best]
			if rule == RuleScore {
				rule = RuleProtected
			}
		}
	}
	cands = s.cands
	if len(w.direct) > 0 {
		cands++
		t := &e.tickets[w.direct[0]]
		s.minIss = min(s.minIss, t.issued)
		if t.key < s.bk || (t.key == s.bk && t.issued < s.bi) {
			s.bk, s.bi, bestIdx, rule = t.key, t.issued, w.direct[0], RuleDirect
		}
	}
	if bestIdx < 0 {
		return -1, rule, cands, false
	}
	// Bounded overtaking: a head overtaken MaxOvertake times goes first,
	// the oldest such head before the others.
	if s.g >= 0 && s.gi < s.bi {
		return e.headIdx[s.g], RuleOvertake, cands, s.minIss < s.gi
	}
	return bestIdx, rule, cands, s.minIss < s.bi
}

// scan is one pass of call next over item heads. Each line offers its
// head (lowest key) or, when its longest waiter is protected, that ticket
// at key = virtual issue − the largest head start.
type scan struct {
	e                  *Engine
	bk, bi, minIss, gi int64
	protectCut, maxHS  int64
	best, g            int32
	bestAlt            bool
	cands              int
	maxOvt             int32
}

// consider offers line j (non-empty) with head key k. It is written for
// speed: call next runs it for every line a window serves.
func (s *scan) consider(j int32, k, iss, v int64, ovt int32) {
	s.cands++
	if iss < s.minIss {
		s.minIss = iss
	}
	if ovt >= s.maxOvt && iss < s.gi {
		s.g, s.gi = j, iss
	}
	alt := false
	if v <= s.protectCut {
		if kp := v - s.maxHS; kp < k || (kp == k && v < iss) {
			k, iss, alt = kp, v, true
		}
	}
	if k < s.bk || (k == s.bk && iss < s.bi) {
		s.bk, s.bi, s.best, s.bestAlt = k, iss, j, alt
	}
}

func (s *scan) all() {
	e := s.e
	keys := e.headKey
	iss := e.headIss[:len(keys)]
	old := e.oldV[:len(keys)]
	ovt := e.headOvt[:len(keys)]
	// The hot loop of call next: plain comparisons on local copies; the
	// rare cases (a guard or protection candidate, a new best) go to
	// consider.
	bk, cut, maxOvt := s.bk, s.protectCut, s.maxOvt
	n, minIss := 0, s.minIss
	for j, k := range keys {
		if k == never {
			continue
		}
		n++
		is := iss[j]
		minIss = min(minIss, is)
		if k <= bk || old[j] <= cut || ovt[j] >= maxOvt {
			s.consider(int32(j), k, is, old[j], ovt[j])
			s.cands--
			bk = s.bk
		}
	}
	s.cands += n
	s.minIss = min(s.minIss, minIss)
}

// list considers the lines whose longest waiter was issued at or before
// cutoff (never: all).
func (s *scan) list(items []int32, cutoff int64) {
	e := s.e
	keys, iss, old, ovt := e.headKey, e.headIss, e.oldV, e.headOvt
	for _, j := range items {
		if k := keys[j]; k != never && old[j] <= cutoff {
			s.consider(j, k, iss[j], old[j], ovt[j])
		}
	}
}

func (e *Engine) current(win int, want ...TicketState) (Event, error) {
	wi, err := e.windowByNumber(win)
	if err != nil {
		return Event{}, err
	}
	ti := e.windows[wi].cur
	if ti < 0 {
		return Event{}, fmt.Errorf("window %d: %w", win, ErrWindowIdle)
	}
	t := &e.tickets[ti]
	if !slices.Contains(want, t.state) {
		return Event{}, fmt.Errorf("ticket %s is %s: %w", t.number, t.state, ErrBadState)
	}
	return Event{Ticket: t.id, Window: win, Number: t.number, Item: e.items[t.item].code}, nil
}

// Recall calls the window's current ticket again (重呼).
func (e *Engine) Recall(now time.Time, win int) (Event, error) {
	ev, err := e.current(win, Called)
	if err != nil {
		return Event{}, err
	}
	ev.Type, ev.At = EvRecalled, now
	return ev, e.Apply(ev)
}

// NoShow marks the window's called ticket absent (过号): it goes back in
// line behind Queue.NoShowRequeueAfter waiting tickets, or is voided at its
// Queue.NoShowVoidAfter-th no-show.
func (e *Engine) NoShow(now time.Time, win int) (Event, error) {
	ev, err := e.current(win, Called)
	if err != nil {
		return Event{}, err
	}
	ev.Type, ev.At = EvNoShow, now
	ti, _ := e.ticketByID(ev.Ticket)
	t := &e.tickets[ti]
	if e.requeueAfter <= 0 || int(t.noShows)+1 >= e.voidAfter {
		ev.Void = true
	} else {
		ev.Key = t.key
		q := e.items[t.item].q
		if n := min(e.requeueAfter, len(q)); n > 0 {
			ev.Key = max(ev.Key, e.tickets[q[n-1]].key+1)
		}
	}
	return ev, e.Apply(ev)
}

// Start marks the applicant at the window and service begun.
func (e *Engine) Start(now time.Time, win int) (Event, error) {
	ev, err := e.current(win, Called)
	if err != nil {
		return Event{}, err
	}
	ev.Type, ev.At = EvStarted, now
	return ev, e.Apply(ev)
}

// Finish ends the window's current service; the window is free.
func (e *Engine) Finish(now time.Time, win int) (Event, error) {
	ev, err := e.current(win, Called, Serving)
	if err != nil {
		return Event{}, err
	}
	ev.Type, ev.At = EvFinished, now
	return ev, e.Apply(ev)
}

// Transfer sends the window's current ticket to another item (toItem, ""
// = same item) and/or to a particular window (toWindow, 0 = any). With
// keepPlace it keeps its place by issue time; otherwise it joins the end
// of the line as if issued now.
func (e *Engine) Transfer(now time.Time, win int, toItem string, toWindow int, keepPlace bool) (Event, error) {
	ev, err := e.current(win, Called, Serving)
	if err != nil {
		return Event{}, err
	}
	return e.transfer(now, ev.Ticket, win, toItem, toWindow, keepPlace)
}

func (e *Engine) transfer(now time.Time, id int64, from int, toItem string, toWindow int, keepPlace bool) (Event, error) {
	ti, err := e.ticketByID(id)
	if err != nil {
		return Event{}, err
	}
	if toItem != "" {
		if _, err := e.itemByCode(toItem); err != nil {
			return Event{}, err
		}
	}
	if toWindow != 0 {
		if _, err := e.windowByNumber(toWindow); err != nil {
			return Event{}, err
		}
	}
	t := &e.tickets[ti]
	key := t.key
	if !keepPlace {
		key = micros(now) - t.hs // as if issued now, with the head start it got
	}
	ev := Event{Type: EvTransferred, At: now, Ticket: id, Number: t.number, Window: from,
		Item: e.items[t.item].code, ToItem: toItem, ToWindow: toWindow, Key: key}
	return ev, e.Apply(ev)
}

// MoveTickets moves waiting tickets to another item and/or window (a
// manager action). Every ticket is checked before any is moved.
func (e *Engine) MoveTickets(now time.Time, ids []int64, toItem string, toWindow int, keepPlace bool) ([]Event, error) {
	for _, id := range ids {
		ti, err := e.ticketByID(id)
		if err != nil {
			return nil, err
		}
		if e.tickets[ti].state != Waiting {
			return nil, fmt.Errorf("ticket %s is %s: %w", e.tickets[ti].number, e.tickets[ti].state, ErrBadState)
		}
	}
	probe := e
	if len(ids) > 1 {
		probe = e.Clone() // all or nothing: try them on a copy first
	}
	out := make([]Event, 0, len(ids))
	for _, id := range ids {
		ev, err := probe.transfer(now, id, 0, toItem, toWindow, keepPlace)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	if probe != e {
		for _, ev := range out {
			if err := e.Apply(ev); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Cancel ends a live ticket (the applicant left, or a manager voids it).
func (e *Engine) Cancel(now time.Time, id int64, note string) (Event, error) {
	ti, err := e.ticketByID(id)
	if err != nil {
		return Event{}, err
	}
	t := &e.tickets[ti]
	if !t.state.Live() {
		return Event{}, fmt.Errorf("ticket %s is %s: %w", t.number, t.state, ErrBadState)
	}
	ev := Event{Type: EvCancelled, At: now, Ticket: id, Number: t.number, Item: e.items[t.item].code, Note: note}
	return ev, e.Apply(ev)
}

func (e *Engine) windowEvent(now time.Time, typ EventType, win int, note string) (Event, error) {
	if _, err := e.windowByNumber(win); err != nil {
		return Event{}, err
	}
	ev := Event{Type: typ, At: now, Window: win, Note: note}
	return ev, e.Apply(ev)
}

// OpenWindow opens a window (start of its hours, or a manager opening it).
func (e *Engine) OpenWindow(now time.Time, win int) (Event, error) {
	return e.windowEvent(now, EvWindowOpened, win, "")
}

// CloseWindow closes a window: it finishes its current ticket and calls
// nothing more.
func (e *Engine) CloseWindow(now time.Time, win int) (Event, error) {
	return e.windowEvent(now, EvWindowClosed, win, "")
}

// PauseWindow pauses an open window (暂停服务) with a reason for the LED.
func (e *Engine) PauseWindow(now time.Time, win int, reason string) (Event, error) {
	wi, err := e.windowByNumber(win)
	if err != nil {
		return Event{}, err
	}
	if !e.windows[wi].open {
		return Event{}, ErrWindowClosed
	}
	return e.windowEvent(now, EvWindowPaused, win, reason)
}

// ResumeWindow ends a pause.
func (e *Engine) ResumeWindow(now time.Time, win int) (Event, error) {
	return e.windowEvent(now, EvWindowResumed, win, "")
}

// SetServes changes what a window serves ("*", "dept:XX", item codes).
func (e *Engine) SetServes(now time.Time, win int, refs []string) (Event, error) {
	if len(refs) == 0 {
		return Event{}, fmt.Errorf("window %d would serve nothing: %w", win, ErrUnknownItem)
	}
	return e.refsEvent(now, EvServesChanged, win, refs)
}

// SetBackup changes a window's backup items (the 47→50 window story).
func (e *Engine) SetBackup(now time.Time, win int, refs []string) (Event, error) {
	return e.refsEvent(now, EvBackupChanged, win, refs)
}

func (e *Engine) refsEvent(now time.Time, typ EventType, win int, refs []string) (Event, error) {
	if _, err := e.windowByNumber(win); err != nil {
		return Event{}, err
	}
	if err := e.checkRefs(refs); err != nil {
		return Event{}, err
	}
	ev := Event{Type: typ, At: now, Window: win, Refs: slices.Clone(refs)}
	return ev, e.Apply(ev)
}

// IdleWindowsFor lists the open, free windows that may call a ticket of
// the item now, the longest idle first (ties: lower number). The
// controller calls next on the first after issuing a ticket.
func (e *Engine) IdleWindowsFor(item string, now time.Time) []int {
	return e.AppendIdleWindowsFor(nil, item, now)
}

// AppendIdleWindowsFor is IdleWindowsFor appending to dst.
func (e *Engine) AppendIdleWindowsFor(dst []int, item string, now time.Time) []int {
	j, ok := e.itemIdx[item]
	if !ok {
		return dst
	}
	start := len(dst)
	e.eachIdleFor(j, micros(now), func(wi int32) { dst = append(dst, e.windows[wi].number) })
	slices.SortFunc(dst[start:], func(a, b int) int {
		wa, wb := &e.windows[e.winIdx[a]], &e.windows[e.winIdx[b]]
		if wa.idleSince != wb.idleSince {
			return cmp.Compare(wa.idleSince, wb.idleSince)
		}
		return cmp.Compare(a, b)
	})
	return dst
}

// LongestIdleWindowFor is the first of IdleWindowsFor without building
// the list.
func (e *Engine) LongestIdleWindowFor(item string, now time.Time) (int, bool) {
	j, ok := e.itemIdx[item]
	if !ok {
		return 0, false
	}
	best := int32(-1)
	e.eachIdleFor(j, micros(now), func(wi int32) {
		if best < 0 {
			best = wi
			return
		}
		w, b := &e.windows[wi], &e.windows[best]
		if w.idleSince < b.idleSince || (w.idleSince == b.idleSince && w.number < b.number) {
			best = wi
		}
	})
	if best < 0 {
		return 0, false
	}
	return e.windows[best].number, true
}

func (e *Engine) eachIdleFor(j int32, at int64, f func(wi int32)) {
	idle := func(wi int32) bool {
		w := &e.windows[wi]
		return w.open && !w.paused && w.cur < 0
	}
	for _, wi := range e.items[j].servers {
		if idle(wi) {
			f(wi)
		}
	}
	if backupWhenIdle || e.escalated(j, at) {
		// A free window has nothing of its own waiting (it would have
		// called it), so under backupWhenIdle its backups are eligible.
		for _, wi := range e.items[j].backups {
			if idle(wi) && len(e.windows[wi].direct) == 0 {
				f(wi)
			}
		}
	}
}

// NextEscalation is the next time after now when a backup item of the
// window becomes eligible there (its head reaches the threshold); false
// when none is pending.
func (e *Engine) NextEscalation(win int, now time.Time) (time.Time, bool) {
	wi, ok := e.winIdx[win]
	if !ok {
		return time.Time{}, false
	}
	at := micros(now)
	next := int64(never)
	for _, j := range e.windows[wi].backup {
		if v := e.oldV[j]; v != never && v+e.escalate > at {
			next = min(next, v+e.escalate)
		}
	}
	if next == never {
		return time.Time{}, false
	}
	return e.timeOf(next), true
}

// WindowsWithBackup lists the windows that have the item as a backup.
func (e *Engine) WindowsWithBackup(item string) []int {
	j, ok := e.itemIdx[item]
	if !ok {
		return nil
	}
	out := make([]int, 0, len(e.items[j].backups))
	for _, wi := range e.items[j].backups {
		out = append(out, e.windows[wi].number)
	}
	return out
}
