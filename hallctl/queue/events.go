package queue

import (
	"encoding/json"
	"fmt"
	"time"
)

// EventType names an event; the string is stored in the event log and must
// never change.
type EventType string

// The event types. Each comment lists the fields the event uses.
const (
	// Issued: Ticket, Number, Day, Seq, Item, Class, Person, Proxy, Key,
	// Ahead, EstMeanS, EstP50S, EstP90S; Printed when the number came from
	// a lease (IssueLeased).
	EvIssued EventType = "issued"
	// Leased: Item, Day, From, To (the block of Seq numbers reserved for a
	// dispenser on Day), Expires, Holder.
	EvLeased EventType = "leased"
	// Called: Ticket, Window, Item, Number, Reason.
	EvCalled EventType = "called"
	// Recalled (重呼): Ticket, Window.
	EvRecalled EventType = "recalled"
	// NoShow (过号): Ticket, Window, Void (true = the ticket ends), Key (the
	// requeue position when not void).
	EvNoShow EventType = "no_show"
	// Started: Ticket, Window.
	EvStarted EventType = "started"
	// Finished: Ticket, Window.
	EvFinished EventType = "finished"
	// Transferred: Ticket, Window (from, 0 when it was waiting), ToItem,
	// ToWindow, Key.
	EvTransferred EventType = "transferred"
	// Cancelled: Ticket, Note.
	EvCancelled EventType = "cancelled"
	// WindowOpened, WindowClosed, WindowResumed: Window.
	EvWindowOpened  EventType = "window_opened"
	EvWindowClosed  EventType = "window_closed"
	EvWindowResumed EventType = "window_resumed"
	// WindowPaused: Window, Note (the reason shown on the LED).
	EvWindowPaused EventType = "window_paused"
	// ServesChanged: Window, Refs (the new `serves`).
	EvServesChanged EventType = "serves_changed"
	// BackupChanged: Window, Refs (the new `backup`).
	EvBackupChanged EventType = "backup_changed"
)

// Event is one state change. State is the projection of the events: Apply
// replays them deterministically. Fields not used by a type are zero and
// left out of the JSON.
type Event struct {
	Type EventType `json:"type"`
	At   time.Time `json:"at"`

	Ticket int64  `json:"ticket,omitempty"`
	Number string `json:"number,omitempty"`
	Day    string `json:"day,omitempty"` // local day of issue, YYYY-MM-DD in the hall's zone
	Seq    int    `json:"seq,omitempty"` // the number's counter within Day and prefix
	Item   string `json:"item,omitempty"`
	Class  Class  `json:"class,omitempty"`
	Person string `json:"person,omitempty"` // keyed hash of the ID number, never the number
	Proxy  bool   `json:"proxy,omitempty"`  // 代办: exempt from one-ticket-per-person
	Window int    `json:"window,omitempty"`

	// Key is the ticket's place in line in microseconds (issue time minus
	// the class head start); smaller is called first.
	Key int64 `json:"key,omitempty"`

	Ahead    int     `json:"ahead,omitempty"`
	EstMeanS float64 `json:"est_mean_s,omitempty"`
	EstP50S  float64 `json:"est_p50_s,omitempty"`
	EstP90S  float64 `json:"est_p90_s,omitempty"`

	Reason Reason `json:"reason,omitzero"`
	// Overtook (called) is set when the call passed over an older head:
	// replay then charges those heads an overtake.
	Overtook bool `json:"overtook,omitempty"`

	Void     bool     `json:"void,omitempty"`
	ToItem   string   `json:"to_item,omitempty"`
	ToWindow int      `json:"to_window,omitempty"`
	Refs     []string `json:"refs,omitempty"`
	Note     string   `json:"note,omitempty"`

	// From and To (leased) bound the block of number counters reserved
	// for a dispenser; Expires is when the dispenser stops using it and
	// Holder names the dispenser ("agent/device").
	From    int       `json:"from,omitempty"`
	To      int       `json:"to,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	Holder  string    `json:"holder,omitempty"`
	// Printed (issued from a lease) is when the dispenser printed the
	// ticket while it could not reach the controller: the ticket's place
	// in line counts from it, not from At (when the controller learned).
	Printed time.Time `json:"printed,omitzero"`
	// Clerk is the staff id of the clerk who acted (called, started,
	// finished, ...) at a console; "" for a keypad or an older log.
	// The engine ignores it; reports attribute the service by it.
	Clerk string `json:"clerk,omitempty"`
}

// Why a ticket was called.
const (
	RuleScore     = "score"          // highest score among the window's serves
	RuleBackup    = "backup"         // a backup item whose head waited past the threshold
	RuleDirect    = "direct"         // transferred to this window
	RuleOvertake  = "overtake_guard" // overtaken too often: called out of turn
	RuleOldest    = "oldest"         // reference policies: oldest first
	RuleProtected = "protected"      // waited past the protection threshold: no longer overtaken
)

// Reason records why a call chose its ticket.
type Reason struct {
	Rule         string  `json:"rule"`
	ScoreMin     float64 `json:"score_min"`      // minutes waited + head start
	WaitedS      float64 `json:"waited_s"`       // seconds waited at the call
	HeadStartMin float64 `json:"head_start_min"` // the class head start
	Candidates   int     `json:"candidates"`     // eligible item queues with waiting tickets
	Overtaken    int     `json:"overtaken"`      // later tickets called before this one
}

// Class is the applicant's class; it gives a head start in the call order.
type Class uint8

// The classes. Walk-in is the zero value.
const (
	Walkin Class = iota
	Appointment
	Green // 绿色通道
	Elderly
	numClasses
)

var classNames = [...]string{"walkin", "appointment", "green", "elderly"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// ParseClass reads a class name.
func ParseClass(s string) (Class, error) {
	for i, n := range classNames {
		if n == s {
			return Class(i), nil
		}
	}
	return 0, fmt.Errorf("class %q: %w", s, ErrUnknownClass)
}

// MarshalText implements encoding.TextMarshaler.
func (c Class) MarshalText() ([]byte, error) {
	if c >= numClasses {
		return nil, ErrUnknownClass
	}
	return []byte(c.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Class) UnmarshalText(b []byte) error {
	v, err := ParseClass(string(b))
	*c = v
	return err
}

// MarshalEvents and UnmarshalEvent are conveniences for stores and tests.
func MarshalEvent(ev Event) ([]byte, error) { return json.Marshal(ev) }

// UnmarshalEvent decodes one event and checks its type is known.
func UnmarshalEvent(b []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	if !ev.Type.known() {
		return Event{}, fmt.Errorf("event type %q: %w", ev.Type, ErrUnknownEvent)
	}
	return ev, nil
}

func (t EventType) known() bool {
	switch t {
	case EvIssued, EvCalled, EvRecalled, EvNoShow, EvStarted, EvFinished, EvTransferred,
		EvCancelled, EvWindowOpened, EvWindowClosed, EvWindowResumed, EvWindowPaused,
		EvServesChanged, EvBackupChanged, EvLeased:
		return true
	}
	return false
}
