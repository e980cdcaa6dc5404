package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicehall/servicehall/displays/layout"
	"github.com/servicehall/servicehall/hallctl/bus"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
)

// The appointment book (docs/appointments.md). A booking is a code for an
// item with a slot and an expiry; it is booked by a manager or pushed by an
// external booking platform (appointments_push.go), cancelled, checked in
// once at a kiosk (which issues its appointment-class ticket in the same
// unit of work), or expires. Each change is a record of the
// "appointments" stream carrying the booking as it is after the change,
// so the book is rebuilt at start by replaying the stream.

// AppointmentStream is the log stream of the appointment book.
const AppointmentStream = "appointments"

// Appointment states.
const (
	ApptBooked    = "booked"
	ApptCheckedIn = "checked_in"
	ApptCancelled = "cancelled"
	ApptExpired   = "expired"
)

// Appointment is a booking as the book keeps it. It holds no personal
// data but the masked contact.
type Appointment struct {
	Code    string    `json:"code"`
	Item    string    `json:"item"`
	Slot    time.Time `json:"slot,omitzero"` // zero: any time today
	Expires time.Time `json:"expires"`
	Contact *Contact  `json:"contact,omitempty"`
	State   string    `json:"state"`
	Ticket  int64     `json:"ticket,omitempty"` // the check-in's ticket
	Number  string    `json:"number,omitempty"`
	By      string    `json:"by,omitempty"` // who booked: "push" or the manager
	At      time.Time `json:"at"`           // of the last change
	Reason  string    `json:"reason,omitempty"`
}

// Contact is a booking's contact in masked form only (张*三, 138****5678):
// the raw name and number are never kept.
type Contact struct {
	MaskedName  string `json:"masked_name,omitempty"`
	MaskedPhone string `json:"masked_phone,omitempty"`
}

// Booking asks for an appointment. Name and Phone are raw: they are masked
// before anything is recorded.
type Booking struct {
	Code    string
	Item    string
	Slot    time.Time // zero: today, expiring at the end of the local day
	Expires time.Time // zero: Slot + appointments.expire_after_min
	Name    string
	Phone   string
	By      string
}

// Appointment errors.
var (
	ErrUnknownAppointment   = errors.New("unknown appointment code")
	ErrAppointmentExpired   = errors.New("the appointment has expired")
	ErrAppointmentCancelled = errors.New("the appointment was cancelled")
	ErrAlreadyCheckedIn     = errors.New("the appointment is already checked in")
	ErrBadBooking           = errors.New("bad appointment")
)

// apptCode maps the book's errors to their wire codes ("" for others).
func apptCode(err error) string {
	switch {
	case errors.Is(err, ErrUnknownAppointment):
		return "unknown_appointment"
	case errors.Is(err, ErrAppointmentExpired):
		return "appointment_expired"
	case errors.Is(err, ErrAppointmentCancelled):
		return "booking_cancelled"
	case errors.Is(err, ErrAlreadyCheckedIn):
		return "already_checked_in"
	case errors.Is(err, ErrBadBooking):
		return "bad_request"
	}
	return pushCode(err)
}

// apptKeep is how long a finished booking stays in memory (a code is not
// reused within it); the log keeps every booking.
const apptKeep = 7 * 24 * time.Hour

// apptSweepEvery is how often bookings are expired and old nonces dropped.
const apptSweepEvery = 15 * time.Second

// apptSnapshotEvery: a start that replays more records saves a snapshot.
const apptSnapshotEvery = 2000

// book is the controller's appointment book; m and nonces are guarded by
// the controller's lock (every writer runs in a unit).
type book struct {
	m           map[string]*Appointment
	nonces      map[string]time.Time // push nonce → its timestamp
	key         []byte               // push key; nil = pushes refused
	expireAfter time.Duration
	pushes      *prometheus.CounterVec
	changes     *prometheus.CounterVec
}

type apptSnapshot struct {
	Appointments []Appointment `json:"appointments"`
}

// loadAppointments rebuilds the book from its snapshot and the stream,
// and the push nonces from the keyed table.
func (c *Controller) loadAppointments(ctx context.Context) (*book, error) {
	key, err := c.cfg.Appointments.PushKey()
	if err != nil {
		return nil, err
	}
	b := &book{m: map[string]*Appointment{}, nonces: map[string]time.Time{}, key: key,
		expireAfter: time.Duration(c.cfg.Appointments.ExpireAfterMin) * time.Minute,
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "servicehall_appointment_pushes_total",
			Help: "Appointment pushes from the booking platform by outcome (accepted, or the refusal's code)."}, []string{"outcome"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "servicehall_appointments_total",
			Help: "Appointment book changes by kind (created, updated, cancelled, checked_in, expired)."}, []string{"kind"}),
	}
	if b.expireAfter <= 0 {
		b.expireAfter = 30 * time.Minute
	}
	replayed := 0
	last, err := store.Replay(ctx, c.store, AppointmentStream, func(s store.Snapshot) error {
		var snap apptSnapshot
		if err := json.Unmarshal(s.Data, &snap); err != nil {
			return err
		}
		for _, a := range snap.Appointments {
			b.m[a.Code] = &a
		}
		return nil
	}, func(r store.Record) error {
		var a Appointment
		if err := json.Unmarshal(r.Data, &a); err != nil {
			return err
		}
		b.m[a.Code] = &a
		replayed++
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.forget(c.clock.Now())
	if replayed > apptSnapshotEvery {
		snap := apptSnapshot{Appointments: []Appointment{}}
		for _, a := range b.m {
			snap.Appointments = append(snap.Appointments, *a)
		}
		if err := c.store.SaveSnapshot(ctx, AppointmentStream, last, mustJSON(snap)); err != nil {
			return nil, fmt.Errorf("appointment snapshot: %w", err)
		}
	}
	kvs, err := c.store.List(ctx, nonceBucket)
	if err != nil {
		return nil, fmt.Errorf("load push nonces: %w", err)
	}
	for _, kv := range kvs {
		var ts time.Time
		if err := ts.UnmarshalText(kv.Val); err == nil {
			b.nonces[kv.Key] = ts
		}
	}
	c.o.Registry.MustRegister(b.pushes, b.changes)
	return b, nil
}

// forget drops finished bookings older than apptKeep from memory.
func (b *book) forget(now time.Time) {
	for code, a := range b.m {
		if a.State != ApptBooked && now.Sub(a.At) > apptKeep {
			delete(b.m, code)
		}
	}
}

func mustJSON(v any) []byte {
	out, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are marshalled here
	}
	return out
}

// record appends a's new state to u and applies it to the book.
func (c *Controller) recordAppt(u *unit, kind string, a Appointment) {
	u.Append(store.Record{Stream: AppointmentStream, Type: kind, At: a.At, Data: mustJSON(a)})
	c.appts.m[a.Code] = &a
	c.appts.changes.WithLabelValues(kind).Inc()
}

var (
	apptCodeRe = regexp.MustCompile(`^[A-Z0-9-]{4,32}$`)
	// An ID number is never a booking code (it would be stored raw).
	idNumberRe = regexp.MustCompile(`^([0-9]{17}[0-9X]|[0-9]{15})$`)
)

// NormalizeCode is an appointment code as the book keeps it (upper case,
// no surrounding space).
func NormalizeCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

func checkCode(code string) error {
	if !apptCodeRe.MatchString(code) {
		return fmt.Errorf("%w: code must be 4-32 letters, digits or dashes", ErrBadBooking)
	}
	if idNumberRe.MatchString(code) {
		return fmt.Errorf("%w: code looks like an ID number, which is never stored", ErrBadBooking)
	}
	return nil
}

// prepare checks a booking and returns the appointment it makes at now.
func (c *Controller) prepare(bk Booking, now time.Time) (Appointment, error) {
	bk.Code = NormalizeCode(bk.Code)
	if err := checkCode(bk.Code); err != nil {
		return Appointment{}, err
	}
	if c.cfg.Item(bk.Item) == nil {
		return Appointment{}, fmt.Errorf("item %q: %w", bk.Item, queue.ErrUnknownItem)
	}
	a := Appointment{Code: bk.Code, Item: bk.Item, State: ApptBooked, By: bk.By, At: now}
	if !bk.Slot.IsZero() {
		a.Slot = bk.Slot.UTC()
	}
	switch {
	case !bk.Expires.IsZero():
		a.Expires = bk.Expires.UTC()
	case !bk.Slot.IsZero():
		a.Expires = a.Slot.Add(c.appts.expireAfter)
	default:
		local := now.In(c.cfg.Loc)
		a.Expires = time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, c.cfg.Loc).UTC()
	}
	switch {
	case !a.Expires.After(now):
		return Appointment{}, fmt.Errorf("%w: it would expire at %s, which is past", ErrBadBooking, a.Expires.Format(time.RFC3339))
	case !a.Slot.IsZero() && a.Expires.Before(a.Slot):
		return Appointment{}, fmt.Errorf("%w: expires before its slot", ErrBadBooking)
	case a.Expires.Sub(now) > 366*24*time.Hour:
		return Appointment{}, fmt.Errorf("%w: more than a year ahead", ErrBadBooking)
	}
	if bk.Name != "" || bk.Phone != "" {
		a.Contact = &Contact{MaskedName: layout.MaskName(bk.Name), MaskedPhone: maskPhone(bk.Phone)}
	}
	return a, nil
}

// Book books (or re-books) an appointment; changed is false when the same
// booking was already in the book. Re-booking a booked code changes its
// item, slot or contact; a cancelled or expired code may be booked again;
// a checked-in code may not.
// A manager's booking is in the audit log (bk.By is the actor).
func (c *Controller) Book(ctx context.Context, bk Booking, role string) (a Appointment, changed bool, err error) {
	uerr := c.inUnit(ctx, func(u *unit) error {
		a, changed, err = c.book(u, bk)
		if err == nil && changed {
			c.auditAppt(u, "book_appointment", bk.By, role, a.Code+" "+a.Item)
		}
		return nil
	})
	if uerr != nil {
		return Appointment{}, false, uerr
	}
	return a, changed, err
}

func (c *Controller) book(u *unit, bk Booking) (Appointment, bool, error) {
	now := c.clock.Now()
	a, err := c.prepare(bk, now)
	if err != nil {
		return Appointment{}, false, err
	}
	kind := "created"
	if old, ok := c.appts.m[a.Code]; ok {
		c.expireDue(u, old, now)
		switch old.State {
		case ApptCheckedIn:
			return *old, false, fmt.Errorf("%w: code %s (ticket %s)", ErrAlreadyCheckedIn, old.Code, old.Number)
		case ApptBooked:
			if old.Item == a.Item && old.Slot.Equal(a.Slot) && old.Expires.Equal(a.Expires) && sameContact(old.Contact, a.Contact) {
				return *old, false, nil
			}
			kind = "updated"
		}
	}
	c.recordAppt(u, kind, a)
	return a, true, nil
}

func sameContact(a, b *Contact) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Cancel cancels a booked appointment from the manager console (audited);
// a cancelled or expired one stays as it is.
func (c *Controller) Cancel(ctx context.Context, code, reason, by, role string) (a Appointment, err error) {
	uerr := c.inUnit(ctx, func(u *unit) error {
		var changed bool
		a, changed, err = c.cancel(u, code, reason, by)
		if err == nil && changed {
			c.auditAppt(u, "cancel_appointment", by, role, a.Code)
		}
		return nil
	})
	if uerr != nil {
		return Appointment{}, uerr
	}
	return a, err
}

func (c *Controller) cancel(u *unit, code, reason, by string) (Appointment, bool, error) {
	now := c.clock.Now()
	old, ok := c.appts.m[NormalizeCode(code)]
	if !ok {
		return Appointment{}, false, fmt.Errorf("%w: %s", ErrUnknownAppointment, NormalizeCode(code))
	}
	c.expireDue(u, old, now)
	switch old.State {
	case ApptCheckedIn:
		return *old, false, fmt.Errorf("%w: code %s (ticket %s)", ErrAlreadyCheckedIn, old.Code, old.Number)
	case ApptCancelled, ApptExpired:
		return *old, false, nil
	}
	a := *old
	a.State, a.At, a.Reason = ApptCancelled, now, truncate(reason, 200)
	if by != "" {
		a.By = by
	}
	c.recordAppt(u, ApptCancelled, a)
	return a, true, nil
}

// auditAppt records a manager's change of the book in the audit log.
func (c *Controller) auditAppt(u *unit, typ, actor, role, detail string) {
	e := AuditEntry{At: c.clock.Now(), Actor: actor, Role: role, Action: ManagerAction{Type: typ}, Detail: detail}
	u.Append(store.Record{Stream: AuditStream, Type: typ, At: e.At, Data: mustJSON(e)})
}

// expireDue records the expiry of a booked appointment past its time.
func (c *Controller) expireDue(u *unit, a *Appointment, now time.Time) {
	if a.State != ApptBooked || now.Before(a.Expires) {
		return
	}
	x := *a
	x.State, x.At = ApptExpired, now
	c.recordAppt(u, ApptExpired, x)
	*a = x
}

// CheckIn checks an appointment in and issues its appointment-class ticket
// in the same unit of work, printed on the named printer (empty: none).
// A second check-in gives the same ticket (Duplicate set); an expired or
// cancelled booking is refused. Like Issue, it waits for the printer.
func (c *Controller) CheckIn(ctx context.Context, code, printerAgent, printer string) (t Issued, err error) {
	var tk bus.Ticket
	uerr := c.inUnit(ctx, func(u *unit) error {
		now := c.clock.Now()
		code = NormalizeCode(code)
		a, ok := c.appts.m[code]
		if !ok {
			err = fmt.Errorf("%w: %s", ErrUnknownAppointment, code)
			return nil
		}
		c.expireDue(u, a, now)
		switch a.State {
		case ApptExpired:
			err = fmt.Errorf("%w: code %s expired at %s", ErrAppointmentExpired, code, a.Expires.In(c.cfg.Loc).Format("15:04"))
			return nil
		case ApptCancelled:
			err = fmt.Errorf("%w: code %s", ErrAppointmentCancelled, code)
			return nil
		case ApptCheckedIn:
			if t, err = c.desk.issued(a.Ticket, now); err != nil {
				// The ticket is no longer in the engine (another day's).
				err = fmt.Errorf("%w: code %s (ticket %s)", ErrAlreadyCheckedIn, code, a.Number)
			}
			t.Duplicate = true
			return nil
		}
		t, tk, err = c.issue(u, IssueRequest{Item: a.Item, Class: queue.Appointment.String(), Source: fmt.Sprintf("appt:%s@%d", code, a.At.UnixNano())}, printerAgent, printer)
		if err != nil {
			return nil
		}
		x := *a
		x.State, x.At, x.Ticket, x.Number = ApptCheckedIn, now, t.ID, t.Number
		c.recordAppt(u, ApptCheckedIn, x)
		return nil
	})
	if uerr != nil {
		return Issued{}, uerr
	}
	if err != nil {
		return t, err
	}
	if tk.Valid() {
		t.Print, t.PrintCode = c.waitPrint(ctx, tk)
	}
	return t, nil
}

// AppointmentByCode returns a booking as the book has it now.
func (c *Controller) AppointmentByCode(code string) (Appointment, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.appts.m[NormalizeCode(code)]
	if !ok {
		return Appointment{}, false
	}
	return *a, true
}

// Appointments lists the bookings in memory (live ones and those finished
// in the last week), by expiry.
func (c *Controller) Appointments() []Appointment {
	c.mu.Lock()
	out := make([]Appointment, 0, len(c.appts.m))
	for _, a := range c.appts.m {
		out = append(out, *a)
	}
	c.mu.Unlock()
	sortAppointments(out)
	return out
}

func sortAppointments(as []Appointment) {
	for i := 1; i < len(as); i++ {
		for j := i; j > 0 && (as[j].Expires.Before(as[j-1].Expires) ||
			as[j].Expires.Equal(as[j-1].Expires) && as[j].Code < as[j-1].Code); j-- {
			as[j], as[j-1] = as[j-1], as[j]
		}
	}
}

// sweepAppointments records the expiry of every booking past its time and
// drops push nonces too old to be accepted anyway.
func (c *Controller) sweepAppointments(ctx context.Context) error {
	return c.inUnit(ctx, func(u *unit) error {
		now := c.clock.Now()
		for _, a := range c.appts.m {
			c.expireDue(u, a, now)
		}
		c.appts.forget(now)
		for n, ts := range c.appts.nonces {
			if now.Sub(ts) > PushMaxSkew {
				u.Delete(nonceBucket, n)
				delete(c.appts.nonces, n)
			}
		}
		return nil
	})
}

// runAppointments expires bookings every apptSweepEvery until ctx ends; a
// failed commit ends it (the controller is stopping).
func (c *Controller) runAppointments(ctx context.Context) error {
	t := c.clock.NewTicker(apptSweepEvery)
	defer t.Stop()
	for {
		if err := c.sweepAppointments(ctx); err != nil {
			if errors.Is(err, ErrUnavailable) {
				return err
			}
			c.log.Error("expire appointments", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.Chan():
		}
	}
}

// maskPhone keeps the first 3 and last 4 digits of a phone number of 11
// or more digits (138****5678); shorter numbers are masked whole.
func maskPhone(phone string) string {
	var d []rune
	for _, r := range phone {
		if unicode.IsDigit(r) {
			d = append(d, r)
		}
	}
	if len(d) == 0 {
		return ""
	}
	if len(d) < 11 {
		return strings.Repeat("*", len(d))
	}
	return string(d[:3]) + strings.Repeat("*", len(d)-7) + string(d[len(d)-4:])
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
