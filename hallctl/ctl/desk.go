package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/servicehall/servicehall/hallctl/casesys"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// QueueStream is the log stream that holds the queue engine's events.
const QueueStream = "queue"

// Desk runs the queue engine on the durable log: every engine event is
// appended (inside the caller's unit of work) and the engine is rebuilt
// from the log at start. It records the id of the device event or request
// that caused each change, so a redelivered request never acts twice.
// Not safe for concurrent use: the controller serialises calls.
type Desk struct {
	cfg     *config.Config
	eng     *queue.Engine
	st      store.Store
	sources map[string]int64 // source id → ticket it issued or acted on
	rated   map[int64]bool   // tickets already rated
	// ratedCase are the (person hash, case serial) pairs rated already
	// (caseRatingKey): one rating per applicant per case.
	ratedCase map[string]bool
	// servedBy is the clerk (staff id) who last acted on a ticket, from
	// the events' Clerk; in memory only (a rating falls back to the
	// window's clerk for tickets served before a snapshot).
	servedBy map[int64]string
}

// IssueRequest asks for a ticket.
type IssueRequest struct {
	Item       string `json:"item"`
	Class      string `json:"class,omitempty"`  // walkin (default), appointment, green, elderly
	PersonHash string `json:"-"`                // keyed hash of the ID number, when known
	Proxy      bool   `json:"proxy,omitempty"`  // 代办: may hold a second ticket for the item
	Source     string `json:"source,omitempty"` // event or request id (idempotency)
	// Card is the ID card read for the ticket (masked forms and hash),
	// recorded for the case system when the ticket is issued.
	Card *CardEvent `json:"-"`
}

// Issued is a ticket as printed.
type Issued struct {
	ID         int64         `json:"id"`
	Number     string        `json:"number"`
	Item       string        `json:"item"`
	ItemName   string        `json:"item_name"`
	Class      string        `json:"class"`
	Ahead      int           `json:"ahead"`
	P50        time.Duration `json:"-"`
	P90        time.Duration `json:"-"`
	P50S       int           `json:"eta_p50_s"`
	P90S       int           `json:"eta_p90_s"`
	IssuedAt   time.Time     `json:"issued_at"`
	WindowHint string        `json:"window_hint,omitempty"`
	HintWindow int           `json:"hint_window,omitempty"` // the window of WindowHint, for the apps' own wording
	Duplicate  bool          `json:"duplicate,omitempty"`   // the source had already issued it
	// Print is the ticket's print outcome: printed (the printer said done),
	// failed (PrintCode says why), pending (no answer yet), or empty when
	// no printer was asked.
	Print     string `json:"print,omitempty"`
	PrintCode string `json:"print_code,omitempty"`
}

// ActRequest is a window action (caller keypad or clerk console).
type ActRequest struct {
	Window int    `json:"window"`
	Action string `json:"action"` // wire.KeyCallNext … wire.KeyTransfer
	// Arg: pause reason; transfer target "item:CODE", "window:N" or "N".
	Arg    string `json:"arg,omitempty"`
	Source string `json:"source,omitempty"`
	// Clerk is who acts (a clerk console's token subject); a change at the
	// window is recorded as a sign-in for the case system and reports.
	Clerk string `json:"clerk,omitempty"`
}

// ActResult says what changed; Called is set when a ticket was (re)called.
type ActResult struct {
	Called *Call         `json:"called,omitempty"`
	Events []queue.Event `json:"events"`
}

// Call is a ticket called to a window.
type Call struct {
	Ticket int64        `json:"ticket"`
	Number string       `json:"number"`
	Item   string       `json:"item"`
	Window int          `json:"window"`
	Zone   string       `json:"zone,omitempty"`
	Recall bool         `json:"recall,omitempty"`
	Reason queue.Reason `json:"reason"`
}

// ErrDuplicateSource is returned when a request id already acted.
var ErrDuplicateSource = errors.New("request already handled")

// snapshotEvery: a start-up that replays more records than this saves a
// snapshot, so the next start replays only what came after it.
const snapshotEvery = 2000

// maxSources bounds the request ids kept in a snapshot for de-duplication
// (the newest tickets'); redeliveries come within minutes, not days.
const maxSources = 20000

// deskSnapshot is what a queue snapshot holds.
type deskSnapshot struct {
	Engine  json.RawMessage  `json:"engine"`
	Sources map[string]int64 `json:"sources"`
	Rated   []int64          `json:"rated"`
	// RatedCases are Desk.ratedCase's keys (issue 14; absent in older snapshots).
	RatedCases []string `json:"rated_cases,omitempty"`
}

// NewDesk builds the engine from the latest snapshot, if any, and the
// queue and rating records logged after it.
func NewDesk(ctx context.Context, cfg *config.Config, st store.Store) (*Desk, error) {
	d := &Desk{cfg: cfg, st: st, sources: map[string]int64{}, rated: map[int64]bool{}, ratedCase: map[string]bool{}, servedBy: map[int64]string{}}
	var from int64
	{
		snap, err := st.LatestSnapshot(ctx, QueueStream)
		found := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("load queue snapshot: %w", err)
		}
		upto, data := snap.Upto, snap.Data
		if found {
			var s deskSnapshot
			if err := json.Unmarshal(data, &s); err != nil {
				return nil, fmt.Errorf("decode queue snapshot: %w", err)
			}
			eng, err := queue.Restore(cfg.QueueSpec(), cfg.Loc, queue.DefaultOpts(), s.Engine)
			if err != nil {
				return nil, fmt.Errorf("restore queue snapshot (seq %d): %w", upto, err)
			}
			d.eng, from = eng, upto
			for k, v := range s.Sources {
				d.sources[k] = v
			}
			for _, id := range s.Rated {
				d.rated[id] = true
			}
			for _, k := range s.RatedCases {
				d.ratedCase[k] = true
			}
		}
	}
	if d.eng == nil {
		eng, err := queue.New(cfg.QueueSpec(), cfg.Loc, queue.DefaultOpts())
		if err != nil {
			return nil, err
		}
		d.eng = eng
	}
	replayed, last, day := 0, from, ""
	err := st.Read(ctx, QueueStream, from, func(r store.Record) error {
		ev, err := queue.UnmarshalEvent(r.Data)
		if err != nil {
			return fmt.Errorf("queue log seq %d: %w", r.Seq, err)
		}
		if err := d.eng.Apply(ev); err != nil {
			return fmt.Errorf("replay queue log seq %d (%s): %w", r.Seq, ev.Type, err)
		}
		if r.Key != "" {
			d.sources[r.Key] = ev.Ticket
		}
		d.noteClerk(ev)
		if ev.Type == queue.EvIssued && ev.Day != day {
			day = ev.Day // a long replay forgets old request ids as it goes (history.go)
			d.pruneSources()
		}
		replayed, last = replayed+1, r.Seq
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = st.Read(ctx, RatingStream, from, func(r store.Record) error {
		var rt Rating
		if err := json.Unmarshal(r.Data, &rt); err == nil {
			d.rated[rt.Ticket] = true
			if k := caseRatingKey(rt.Person, rt.Serial); k != "" {
				d.ratedCase[k] = true
			}
		}
		last = max(last, r.Seq)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if replayed > snapshotEvery {
		if err := d.saveSnapshot(ctx, last); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *Desk) saveSnapshot(ctx context.Context, upto int64) error {
	state, err := d.eng.MarshalState()
	if err != nil {
		return fmt.Errorf("queue snapshot: %w", err)
	}
	snap := deskSnapshot{Engine: state, Sources: map[string]int64{}}
	var floor int64
	if n := d.eng.TicketCount(); n > maxSources {
		floor = int64(n - maxSources)
	}
	for k, v := range d.sources {
		if v > floor {
			snap.Sources[k] = v
		}
	}
	for id := range d.rated {
		snap.Rated = append(snap.Rated, id)
	}
	for k := range d.ratedCase {
		snap.RatedCases = append(snap.RatedCases, k)
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	return d.st.SaveSnapshot(ctx, QueueStream, upto, b)
}

// Engine gives read access to the engine (views, estimates, Clone). The
// caller must hold the controller's lock.
func (d *Desk) Engine() *queue.Engine { return d.eng }

// Seen lists the source ids recorded so far (to seed de-duplication).
func (d *Desk) Seen() []string {
	out := make([]string, 0, len(d.sources))
	for s := range d.sources {
		out = append(out, s)
	}
	return out
}

// maxServedBy bounds servedBy; the oldest tickets' entries go first.
const maxServedBy = 20000

// noteClerk remembers the clerk of a ticket's call or service.
func (d *Desk) noteClerk(ev queue.Event) {
	if ev.Clerk == "" || ev.Ticket == 0 {
		return
	}
	switch ev.Type {
	case queue.EvCalled, queue.EvRecalled, queue.EvStarted, queue.EvFinished:
	default:
		return
	}
	d.servedBy[ev.Ticket] = ev.Clerk
	if len(d.servedBy) > maxServedBy {
		floor := ev.Ticket - maxServedBy/2
		for id := range d.servedBy {
			if id < floor {
				delete(d.servedBy, id)
			}
		}
	}
}

// ServedBy is the clerk who last called or served a ticket at a console
// ("" if unknown).
func (d *Desk) ServedBy(ticket int64) string { return d.servedBy[ticket] }

// record appends engine events to the unit; the first carries the source.
func (d *Desk) record(u *unit, source string, evs ...queue.Event) error {
	recs := make([]store.Record, 0, len(evs))
	for i, ev := range evs {
		b, err := queue.MarshalEvent(ev)
		if err != nil {
			return err
		}
		r := store.Record{Stream: QueueStream, Type: string(ev.Type), At: ev.At, Data: b}
		if i == 0 {
			r.Key = source
		}
		recs = append(recs, r)
	}
	u.Append(recs...)
	for _, ev := range evs {
		d.noteClerk(ev)
	}
	if source != "" && len(evs) > 0 {
		d.sources[source] = evs[0].Ticket
	}
	return nil
}

// Issue takes a ticket.
func (d *Desk) Issue(u *unit, now time.Time, req IssueRequest) (Issued, error) {
	it := d.cfg.Item(req.Item)
	if it == nil {
		return Issued{}, fmt.Errorf("item %q: %w", req.Item, queue.ErrUnknownItem)
	}
	if id, ok := d.sources[req.Source]; ok && req.Source != "" {
		out, err := d.issued(id, now)
		out.Duplicate = true
		return out, err
	}
	class := queue.Walkin
	if req.Class != "" {
		c, err := queue.ParseClass(req.Class)
		if err != nil {
			return Issued{}, err
		}
		class = c
	}
	if class == queue.Walkin && d.elderly(req.Card, now) {
		class = queue.Elderly
	}
	ev, err := d.eng.Issue(now, queue.IssueReq{Item: req.Item, Class: class, Person: req.PersonHash, Proxy: req.Proxy})
	if err != nil {
		return Issued{}, err
	}
	if err := d.record(u, req.Source, ev); err != nil {
		return Issued{}, err
	}
	out := Issued{ID: ev.Ticket, Number: ev.Number, Item: ev.Item, ItemName: it.Name, Class: ev.Class.String(),
		Ahead: ev.Ahead, IssuedAt: now,
		P50: secs(ev.EstP50S), P90: secs(ev.EstP90S)}
	out.P50S, out.P90S = etaS(ev.EstP50S), etaS(ev.EstP90S)
	out.WindowHint, out.HintWindow = d.windowHint(ev.Item, now)
	return out, nil
}

// elderly applies the hall's rule for the elderly priority: an ID card
// read for the ticket whose holder is queue.elderly_age or older this
// year. Every way of taking a ticket (kiosk, button with a reader, window)
// gets the same rule here.
func (d *Desk) elderly(card *CardEvent, now time.Time) bool {
	age := d.cfg.Queue.ElderlyAge
	if card == nil || card.BirthYear <= 0 || age <= 0 {
		return false
	}
	return now.In(d.cfg.Loc).Year()-card.BirthYear >= age
}

func (d *Desk) issued(id int64, now time.Time) (Issued, error) {
	t, ok := d.eng.Ticket(id)
	if !ok {
		return Issued{}, queue.ErrUnknownTicket
	}
	it := d.cfg.Item(t.Item)
	out := Issued{ID: t.ID, Number: t.Number, Item: t.Item, Class: t.Class.String(), IssuedAt: t.IssuedAt,
		P50: secs(t.EstP50S), P90: secs(t.EstP90S), P50S: etaS(t.EstP50S), P90S: etaS(t.EstP90S)}
	if it != nil {
		out.ItemName = it.Name
	}
	if est, err := d.eng.Estimate(id, now); err == nil {
		out.Ahead = est.Ahead
	}
	return out, nil
}

// windowHint names the window that will call the item's tickets when
// only one can ("5号窗口", and its number); otherwise "" and the hall
// screen and the call tell. Never a guess such as the longest-idle window:
// the ticket would send people to a window that then calls someone else
// (issue 11).
func (d *Desk) windowHint(item string, _ time.Time) (string, int) {
	if w, ok := d.eng.SoleWindowFor(item); ok {
		return strconv.Itoa(w) + "号窗口", w
	}
	return "", 0
}

// etaS is an estimate in whole seconds for the apps; -1 when there is
// none (no window can serve the item: the engine says +Inf).
func etaS(s float64) int {
	if math.IsInf(s, 0) || math.IsNaN(s) || s > 1e9 || s < 0 {
		return -1
	}
	return int(s + 0.5)
}

// secs is a wait in seconds as a duration; 0 for no estimate.
func secs(s float64) time.Duration {
	if math.IsInf(s, 0) || math.IsNaN(s) || s < 0 || s > 1e9 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// Act performs a window action.
func (d *Desk) Act(u *unit, now time.Time, req ActRequest) (ActResult, error) {
	if req.Source != "" {
		if _, dup := d.sources[req.Source]; dup {
			return ActResult{}, ErrDuplicateSource
		}
	}
	w := d.cfg.Window(req.Window)
	if w == nil {
		return ActResult{}, fmt.Errorf("window %d: %w", req.Window, queue.ErrUnknownWindow)
	}
	var evs []queue.Event
	do := func(ev queue.Event, err error) error {
		if err != nil {
			return err
		}
		evs = append(evs, ev)
		return nil
	}
	var err error
	switch req.Action {
	case wire.KeyCallNext:
		// "Next" while serving finishes the current applicant first, as
		// on every caller keypad; while only called, the clerk must start
		// or mark a no-show first.
		if v, ok := d.eng.Window(req.Window); ok && v.Current != 0 {
			if t, ok := d.eng.Ticket(v.Current); ok && t.State == queue.Serving {
				if err = do(d.eng.Finish(now, req.Window)); err != nil {
					break
				}
			}
		}
		err = do(d.eng.CallNext(now, req.Window))
	case wire.KeyRecall:
		err = do(d.eng.Recall(now, req.Window))
	case wire.KeyNoShow:
		err = do(d.eng.NoShow(now, req.Window))
	case wire.KeyStart:
		err = do(d.eng.Start(now, req.Window))
	case wire.KeyFinish:
		err = do(d.eng.Finish(now, req.Window))
	case wire.KeyPause:
		err = do(d.eng.PauseWindow(now, req.Window, req.Arg))
	case wire.KeyResume:
		err = do(d.eng.ResumeWindow(now, req.Window))
	case wire.KeyTransfer:
		toItem, toWin, perr := parseTransfer(req.Arg)
		if perr != nil {
			err = perr
			break
		}
		err = do(d.eng.Transfer(now, req.Window, toItem, toWin, true))
	default:
		err = fmt.Errorf("action %q: %w", req.Action, ErrUnknownAction)
	}
	for i := range evs {
		evs[i].Clerk = req.Clerk // who acted: reports attribute the service by it
	}
	if len(evs) > 0 {
		// Effects that happened stay recorded even when a later step
		// failed (finish succeeded, nothing left to call).
		if rerr := d.record(u, req.Source, evs...); rerr != nil {
			return ActResult{}, rerr
		}
	}
	res := ActResult{Events: evs}
	if err != nil {
		return res, err
	}
	last := evs[len(evs)-1]
	if last.Type == queue.EvCalled || last.Type == queue.EvRecalled {
		res.Called = &Call{Ticket: last.Ticket, Number: last.Number, Item: last.Item, Window: req.Window,
			Zone: w.Zone, Recall: last.Type == queue.EvRecalled, Reason: last.Reason}
		if res.Called.Number == "" {
			if t, ok := d.eng.Ticket(last.Ticket); ok {
				res.Called.Number, res.Called.Item = t.Number, t.Item
			}
		}
	}
	return res, nil
}

// ErrUnknownAction is returned for an action outside wire.KeyActions.
var ErrUnknownAction = errors.New("unknown action")

// ErrBadTransfer is returned for a transfer target that cannot be read.
var ErrBadTransfer = errors.New(`transfer target must be "item:CODE", "window:N" or a window number`)

func parseTransfer(arg string) (item string, window int, err error) {
	switch {
	case strings.HasPrefix(arg, "item:"):
		return strings.TrimPrefix(arg, "item:"), 0, nil
	case strings.HasPrefix(arg, "window:"):
		arg = strings.TrimPrefix(arg, "window:")
	}
	n, perr := strconv.Atoi(arg)
	if perr != nil || n <= 0 {
		return "", 0, fmt.Errorf("%q: %w", arg, ErrBadTransfer)
	}
	return "", n, nil
}

// Manage applies a manager action (window state, serves/backup, moves).
func (d *Desk) Manage(u *unit, now time.Time, a ManagerAction) ([]queue.Event, error) {
	evs, err := ApplyManagerAction(d.eng, now, a)
	if err != nil {
		return nil, err
	}
	if len(evs) > 0 {
		if err := d.record(u, a.Source, evs...); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// ManagerAction is one change a hall manager makes.
type ManagerAction struct {
	Type     string   `json:"type"` // open, close, pause, resume, set_serves, set_backup, move
	Window   int      `json:"window,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Refs     []string `json:"refs,omitempty"`    // set_serves / set_backup
	Tickets  []int64  `json:"tickets,omitempty"` // move
	ToItem   string   `json:"to_item,omitempty"`
	ToWindow int      `json:"to_window,omitempty"`
	Source   string   `json:"-"`
}

// ErrBadAction is returned for a manager action that cannot be read.
var ErrBadAction = errors.New("bad manager action")

// ApplyManagerAction runs a manager action on an engine (the live one, or
// a clone for a what-if preview).
func ApplyManagerAction(eng *queue.Engine, now time.Time, a ManagerAction) ([]queue.Event, error) {
	one := func(ev queue.Event, err error) ([]queue.Event, error) {
		if err != nil {
			return nil, err
		}
		return []queue.Event{ev}, nil
	}
	switch a.Type {
	case "open":
		return one(eng.OpenWindow(now, a.Window))
	case "close":
		return one(eng.CloseWindow(now, a.Window))
	case "pause":
		return one(eng.PauseWindow(now, a.Window, a.Reason))
	case "resume":
		return one(eng.ResumeWindow(now, a.Window))
	case "set_serves":
		return one(eng.SetServes(now, a.Window, a.Refs))
	case "set_backup":
		return one(eng.SetBackup(now, a.Window, a.Refs))
	case "move":
		return eng.MoveTickets(now, a.Tickets, a.ToItem, a.ToWindow, true)
	}
	return nil, fmt.Errorf("%w: type %q (open, close, pause, resume, set_serves, set_backup, move)", ErrBadAction, a.Type)
}

// Code maps an error from the desk to its stable wire code.
func Code(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrUnknownAction):
		return "unknown_action"
	case errors.Is(err, ErrBadTransfer):
		return "bad_transfer"
	case errors.Is(err, ErrBadAction):
		return "bad_action"
	case errors.Is(err, ErrDuplicateSource):
		return "duplicate"
	case errors.Is(err, ErrBadLevel):
		return "bad_level"
	case errors.Is(err, ErrNotRateable):
		return "not_rateable"
	case errors.Is(err, ErrAlreadyRated):
		return "already_rated"
	case errors.Is(err, ErrBadReason):
		return "bad_reason"
	case followUpCode(err) != "":
		return followUpCode(err)
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, ErrNotReprintable):
		return "not_reprintable"
	case errors.Is(err, ErrNoPrinter):
		return "no_printer"
	case errors.Is(err, ErrItemFullToday):
		return "item_full_today"
	case errors.Is(err, ErrIssueRateLimited):
		return "too_many_tickets"
	case apptCode(err) != "":
		return apptCode(err)
	case errors.Is(err, ErrBadNotice):
		return "bad_request"
	case errors.Is(err, ErrNoOutbox):
		return "no_case_system"
	case errors.Is(err, ErrUnknownOutbox):
		return "bad_request"
	case errors.Is(err, casesys.ErrNoDeadLetter):
		return "no_dead_letter"
	case errors.Is(err, ErrDiscardReason):
		return "reason_required"
	}
	return queue.Code(err)
}
