package casesys

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// Event is one case event as the webhook POSTs it (the JSON body).
type Event struct {
	// ID is the idempotency key, "<hall>-<log seq>-<n>": the same on every
	// retry and after a restart.
	ID   string    `json:"id"`
	Type string    `json:"type"` // see the Ev* constants
	Hall string    `json:"hall"`
	Seq  int64     `json:"seq"` // the log record it comes from
	At   time.Time `json:"at"`
	// Case is the ordering key: events of one case are delivered in order.
	// It is "ticket-<id>": a case starts as a ticket and gets its serial
	// number at acceptance (the case.accepted event binds both).
	Case     string `json:"case"`
	Ticket   int64  `json:"ticket,omitempty"`
	Number   string `json:"number,omitempty"`
	Item     string `json:"item,omitempty"`
	Window   int    `json:"window,omitempty"`
	ToItem   string `json:"to_item,omitempty"`
	ToWindow int    `json:"to_window,omitempty"`
	Serial   string `json:"serial,omitempty"`
	Due      string `json:"due,omitempty"`
	Clerk    string `json:"clerk,omitempty"`
	Level    int    `json:"level,omitempty"`
	// Channel and Reasons are a rating's (rating.given): where it was
	// given (pad, kiosk, qr, sms, web) and the 差评 reason codes.
	Channel  string         `json:"channel,omitempty"`
	Reasons  []string       `json:"reasons,omitempty"`
	Identity *Identity      `json:"identity,omitempty"`
	Raw      *wire.CardRaw  `json:"raw,omitempty"` // only with raw_identity; never stored
	Extra    map[string]any `json:"extra,omitempty"`
	// Supervision is the record of a supervision.* event (电子监察).
	Supervision *SupervisionRecord `json:"supervision,omitempty"`
}

// Case event types.
const (
	EvTicketIssued      = "ticket.issued"
	EvTicketCalled      = "ticket.called"
	EvTicketStarted     = "ticket.started"
	EvTicketFinished    = "ticket.finished"
	EvTicketTransferred = "ticket.transferred"
	EvTicketNoShow      = "ticket.no_show"
	EvCaseAccepted      = "case.accepted"
	EvIdentityRead      = "identity.read"
	EvRatingGiven       = "rating.given"
)

// queueEvent is the subset of queue.Event the connector reads (the queue
// package stays free of this one).
type queueEvent struct {
	Type     string    `json:"type"`
	At       time.Time `json:"at"`
	Ticket   int64     `json:"ticket"`
	Number   string    `json:"number"`
	Item     string    `json:"item"`
	Window   int       `json:"window"`
	ToItem   string    `json:"to_item"`
	ToWindow int       `json:"to_window"`
	Void     bool      `json:"void"`
	Clerk    string    `json:"clerk"` // staff id of the console clerk; "" in older logs
}

// ratingRecord is the controller's "rated" record. Its comment (the
// phone page's free text) is read by the ledger for the manager only;
// the mapper never puts it in an event.
type ratingRecord struct {
	Ticket  int64     `json:"ticket"`
	Number  string    `json:"number"`
	Item    string    `json:"item"`
	Window  int       `json:"window"`
	Level   int       `json:"level"`
	At      time.Time `json:"at"`
	Clerk   string    `json:"clerk"`             // who served; "" in older logs
	Channel string    `json:"channel"`           // pad | kiosk | qr | sms | web (api in older logs)
	Reasons []string  `json:"reasons,omitempty"` // 差评 reason codes (levels 1–2)
	Comment string    `json:"comment,omitempty"` // phone page free text: manager only
	Person  string    `json:"person,omitempty"`  // the applicant's keyed hash, where an ID was read
	Serial  string    `json:"serial,omitempty"`  // the case serial of the ticket, if accepted
}

// ticketInfo is what the mapper remembers of a ticket for later events.
type ticketInfo struct {
	number, item, serial string
}

// mapper turns log records into case events. It remembers tickets'
// numbers, items and serials from the records it has seen.
type mapper struct {
	hall    string
	tickets map[int64]*ticketInfo
}

func newMapper(hall string) *mapper { return &mapper{hall: hall, tickets: map[int64]*ticketInfo{}} }

func (m *mapper) info(t int64) *ticketInfo {
	ti := m.tickets[t]
	if ti == nil {
		ti = &ticketInfo{}
		m.tickets[t] = ti
	}
	return ti
}

// keepTickets bounds the mapper's memory: tickets issued more than this
// many tickets ago are forgotten (their later events go without number,
// item or serial, which the receiver has from earlier events).
const keepTickets = 20000

func (m *mapper) prune(newest int64) {
	if len(m.tickets) <= 2*keepTickets {
		return
	}
	for id := range m.tickets {
		if id < newest-keepTickets {
			delete(m.tickets, id)
		}
	}
}

// Map returns the case events of one record (none for records that are
// not case events). A record that cannot be decoded is an error; the
// connector logs and skips it.
func (m *mapper) Map(r store.Record) ([]Event, error) {
	base := func(typ string, at time.Time, ticket int64) Event {
		if at.IsZero() {
			at = r.At
		}
		ev := Event{ID: m.hall + "-" + strconv.FormatInt(r.Seq, 10) + "-0", Type: typ, Hall: m.hall, Seq: r.Seq,
			At: at.UTC(), Case: "ticket-" + strconv.FormatInt(ticket, 10), Ticket: ticket}
		ti := m.info(ticket)
		ev.Number, ev.Item, ev.Serial = ti.number, ti.item, ti.serial
		return ev
	}
	switch r.Stream {
	case QueueStream:
		var q queueEvent
		if err := json.Unmarshal(r.Data, &q); err != nil {
			return nil, fmt.Errorf("queue record %d: %w", r.Seq, err)
		}
		if q.Ticket == 0 {
			return nil, nil // window events
		}
		if q.Type == "issued" {
			m.tickets[q.Ticket] = &ticketInfo{} // a new ticket: forget any older one with the id
			m.prune(q.Ticket)
		}
		ti := m.info(q.Ticket)
		if q.Number != "" {
			ti.number = q.Number
		}
		if q.Item != "" && q.Type != "transferred" {
			ti.item = q.Item
		}
		var typ string
		switch q.Type {
		case "issued":
			typ = EvTicketIssued
		case "called":
			typ = EvTicketCalled
		case "started":
			typ = EvTicketStarted
		case "finished":
			typ = EvTicketFinished
		case "transferred":
			typ = EvTicketTransferred
		case "no_show":
			typ = EvTicketNoShow
		default:
			return nil, nil
		}
		ev := base(typ, q.At, q.Ticket)
		ev.Window, ev.ToItem, ev.ToWindow = q.Window, q.ToItem, q.ToWindow
		if q.Type == "no_show" && q.Void {
			ev.Extra = map[string]any{"void": true}
		}
		if q.Type == "transferred" && q.ToItem != "" {
			ti.item = q.ToItem
		}
		return []Event{ev}, nil
	case CaseStream:
		if r.Type != "accepted" {
			return nil, nil // status changes come from the case system
		}
		var c Case
		if err := json.Unmarshal(r.Data, &c); err != nil {
			return nil, fmt.Errorf("case record %d: %w", r.Seq, err)
		}
		ti := m.info(c.Ticket)
		ti.serial, ti.item = c.Serial, c.Item
		if c.Number != "" {
			ti.number = c.Number
		}
		ev := base(EvCaseAccepted, c.AcceptedAt, c.Ticket)
		ev.Window, ev.Due, ev.Clerk = c.Window, c.Due, c.Clerk
		return []Event{ev}, nil
	case IdentityStream:
		var id Identity
		if err := json.Unmarshal(r.Data, &id); err != nil {
			return nil, fmt.Errorf("identity record %d: %w", r.Seq, err)
		}
		ev := base(EvIdentityRead, r.At, id.Ticket)
		ev.Window = id.Window
		ev.Identity = &id
		return []Event{ev}, nil
	case RatingStream:
		var rt ratingRecord
		if err := json.Unmarshal(r.Data, &rt); err != nil {
			return nil, fmt.Errorf("rating record %d: %w", r.Seq, err)
		}
		ev := base(EvRatingGiven, rt.At, rt.Ticket)
		ev.Window, ev.Level = rt.Window, rt.Level
		ev.Clerk, ev.Channel = rt.Clerk, rt.Channel
		if len(rt.Reasons) > 0 {
			ev.Reasons = append([]string(nil), rt.Reasons...)
		}
		if rt.Serial != "" && ev.Serial == "" {
			ev.Serial = rt.Serial
		}
		if rt.Number != "" {
			ev.Number = rt.Number
		}
		if rt.Item != "" {
			ev.Item = rt.Item
		}
		return []Event{ev}, nil
	}
	return nil, nil
}
