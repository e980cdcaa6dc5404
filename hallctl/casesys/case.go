package casesys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// Log streams this package reads or defines. The queue and rating streams
// belong to the controller; the others are written with this package's
// helpers (see docs/casesys.md for their record formats).
const (
	QueueStream    = "queue"    // queue engine events (queue.Event JSON)
	RatingStream   = "rating"   // type "rated": {ticket, number, item, window, level, channel, at}
	CaseStream     = "case"     // types "accepted" (Case), "status" (StatusChange)
	ClerkStream    = "clerk"    // types "signed_in" / "signed_out": ClerkShift
	IdentityStream = "identity" // type "card": Identity (masked forms and hash only)
	FollowUpStream = "followup" // type "closed": FollowUpClosed
)

// CasesBucket is the keyed-table bucket of the case registry: serial → Case.
const CasesBucket = "casesys-cases"

// Status is a case's progress as the case system reports it.
type Status string

// The statuses, in the order a case goes through them. Approved and
// rejected are alternatives of the same rank.
const (
	StatusAccepted       Status = "accepted"         // 已受理
	StatusInReview       Status = "in_review"        // 审查中
	StatusApproved       Status = "approved"         // 已办结（准予）
	StatusRejected       Status = "rejected"         // 已办结（不予）
	StatusReadyForPickup Status = "ready_for_pickup" // 待领取
)

// Rank orders statuses; 0 for an unknown status.
func (s Status) Rank() int {
	switch s {
	case StatusAccepted:
		return 1
	case StatusInReview:
		return 2
	case StatusApproved, StatusRejected:
		return 3
	case StatusReadyForPickup:
		return 4
	}
	return 0
}

// Completed reports whether the case is 办结 in this status.
func (s Status) Completed() bool { return s.Rank() >= 3 }

// Case is one 办件 as the hall knows it. It carries no personal data.
type Case struct {
	Serial     string    `json:"serial"`
	Ticket     int64     `json:"ticket"`
	Number     string    `json:"number"`
	Item       string    `json:"item"`
	ItemName   string    `json:"item_name"`
	Dept       string    `json:"dept"`
	Window     int       `json:"window"`
	Clerk      string    `json:"clerk,omitempty"`
	Kind       string    `json:"kind"` // immediate | promised
	AcceptedAt time.Time `json:"accepted_at"`
	Due        string    `json:"due,omitempty"` // YYYY-MM-DD, promised cases
	Status     Status    `json:"status"`
	StatusAt   time.Time `json:"status_at"`
	// StatusSeq is the case system's sequence of the current status (0:
	// it sent none); pushes with a seq must exceed it.
	StatusSeq int64          `json:"status_seq,omitempty"`
	History   []StatusChange `json:"history"`
}

// StatusChange is one status push (inbound API or manager).
type StatusChange struct {
	Serial string    `json:"serial"`
	Status Status    `json:"status"`
	At     time.Time `json:"at"`
	Note   string    `json:"note,omitempty"`
	By     string    `json:"by,omitempty"` // "case-system", "manager:<name>"
	// Seq is the case system's own sequence number of the change, per
	// case, strictly increasing (0 = none sent: ordered by At).
	Seq int64 `json:"seq,omitempty"`
}

// ClerkShift is a clerk record: who is signed in at a window.
type ClerkShift struct {
	Window int    `json:"window"`
	Clerk  string `json:"clerk,omitempty"` // staff id or display name, never an ID number
}

// Identity is an ID-card read bound to a ticket, as stored: masked forms
// and the keyed hash only.
type Identity struct {
	Ticket     int64  `json:"ticket"`
	Window     int    `json:"window,omitempty"`
	IDHash     string `json:"id_hash"`
	MaskedID   string `json:"masked_id"`
	MaskedName string `json:"masked_name"`
	BirthYear  int    `json:"birth_year,omitempty"`
	Sex        string `json:"sex,omitempty"`
}

// IdentityFromCard keeps what may be stored of an ID reader's event.
func IdentityFromCard(ticket int64, window int, c wire.Card) Identity {
	return Identity{Ticket: ticket, Window: window, IDHash: c.IDHash, MaskedID: c.MaskedID,
		MaskedName: c.MaskedName, BirthYear: c.BirthYear, Sex: c.Sex}
}

// IdentityRecord is the log record of an ID read (source = the device
// event id, for idempotency).
func IdentityRecord(id Identity, at time.Time, source string) store.Record {
	return store.Record{Stream: IdentityStream, Type: "card", Key: source, At: at, Data: mustJSON(id)}
}

// ClerkRecord is the log record of a clerk signing in (clerk != "") or
// out (clerk == "") at a window.
func ClerkRecord(window int, clerk string, at time.Time) store.Record {
	typ := "signed_in"
	if clerk == "" {
		typ = "signed_out"
	}
	return store.Record{Stream: ClerkStream, Type: typ, At: at, Data: mustJSON(ClerkShift{Window: window, Clerk: clerk})}
}

// KVPut is a keyed-table write.
type KVPut struct {
	Bucket, Key string
	Val         []byte
}

// Writes are what one step wants committed atomically: the caller adds
// them to its unit of work (or calls Commit).
type Writes struct {
	Records []store.Record
	Puts    []KVPut
}

// AddTo adds the writes to a store batch.
func (w Writes) AddTo(b *store.Batch) *store.Batch {
	b.Append(w.Records...)
	for _, p := range w.Puts {
		b.Put(p.Bucket, p.Key, p.Val)
	}
	return b
}

// Commit writes them in one transaction.
func (w Writes) Commit(ctx context.Context, s store.Store) error {
	var b store.Batch
	_, err := s.Commit(ctx, w.AddTo(&b))
	return err
}

// Acceptance is what the controller knows when service starts (受理).
type Acceptance struct {
	Ticket int64
	Number string
	Item   string
	Window int
	Clerk  string
	At     time.Time
}

// Acceptor makes cases at acceptance: a serial number, the due date of a
// promised item, the registry entry, and the receipt. Not safe for
// concurrent use (the controller serialises it with its units).
type Acceptor struct {
	hall    *config.Config
	cal     *Calendar
	serials *Serials
}

// NewAcceptor builds an acceptor for a hall. Call Replay with every record
// of CaseStream before the first Accept.
func NewAcceptor(hall *config.Config, cs Config, cal *Calendar) (*Acceptor, error) {
	cs = cs.WithDefaults()
	s, err := NewSerials(cs.Region, hall.Loc)
	if err != nil {
		return nil, err
	}
	return &Acceptor{hall: hall, cal: cal, serials: s}, nil
}

// Replay moves the serial counter past an "accepted" record.
func (a *Acceptor) Replay(r store.Record) error {
	if r.Stream != CaseStream || r.Type != "accepted" {
		return nil
	}
	var c Case
	if err := json.Unmarshal(r.Data, &c); err != nil {
		return fmt.Errorf("case record %d: %w", r.Seq, err)
	}
	return a.serials.Observe(c.Serial)
}

// ErrUnknownItem is returned for an item not in the hall config.
var ErrUnknownItem = errors.New("unknown item")

// Accept makes the case of a ticket whose service starts, and the writes
// that record it (the "accepted" record keyed by serial, and the registry
// entry). The counter advances even if the caller then fails to commit;
// a gap in the sequence is harmless, a reuse is not.
func (a *Acceptor) Accept(in Acceptance) (Case, Writes, error) {
	it := a.hall.Item(in.Item)
	if it == nil {
		return Case{}, Writes{}, fmt.Errorf("%w: %q", ErrUnknownItem, in.Item)
	}
	serial, err := a.serials.Next(in.At, in.Item)
	if err != nil {
		return Case{}, Writes{}, err
	}
	loc := a.hall.Loc
	if loc == nil {
		loc = time.UTC
	}
	c := Case{Serial: serial, Ticket: in.Ticket, Number: in.Number, Item: it.Code, ItemName: it.Name, Dept: it.Dept,
		Window: in.Window, Clerk: in.Clerk, Kind: it.Kind, AcceptedAt: in.At.UTC(),
		Status: StatusAccepted, StatusAt: in.At.UTC()}
	if it.Kind == "promised" {
		c.Due = a.cal.AddWorkdays(in.At.In(loc), it.PromiseDays).Format(DateLayout)
	}
	c.History = []StatusChange{{Serial: serial, Status: StatusAccepted, At: c.AcceptedAt, By: "hall"}}
	return c, acceptWrites(c), nil
}

func acceptWrites(c Case) Writes {
	b := mustJSON(c)
	return Writes{
		Records: []store.Record{{Stream: CaseStream, Type: "accepted", Key: c.Serial, At: c.AcceptedAt, Data: b}},
		Puts:    []KVPut{{Bucket: CasesBucket, Key: c.Serial, Val: b}},
	}
}

// Receipt is the acceptance receipt (回执) to print: the serial, the item,
// the due date of a promised item, and a QR code linking to the case's
// progress page (publicURL + "/c/" + serial).
func (a *Acceptor) Receipt(c Case, publicURL, check string) wire.Print {
	loc := a.hall.Loc
	if loc == nil {
		loc = time.UTC
	}
	hint := fmt.Sprintf("%d号窗口", c.Window)
	if c.Due != "" {
		hint += " 承诺办结 " + c.Due
	}
	return wire.Print{Template: wire.TemplateReceipt, Fields: wire.PrintFields{
		Hall: a.hall.Hall.Name, Number: c.Number, Item: c.ItemName, WindowHint: hint,
		IssuedAt: c.AcceptedAt.In(loc).Format("2006-01-02 15:04"),
		QR:       strings.TrimRight(publicURL, "/") + "/c/" + url.PathEscape(c.Serial) + "?k=" + check, Serial: c.Serial,
		Check: check,
	}}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("casesys: marshal %T: %v", v, err)) // only our own plain structs
	}
	return b
}
