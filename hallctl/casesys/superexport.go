package casesys

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
)

// 电子监察 export: the supervision facts of the log — alert transitions,
// window pauses and follow-up transitions — as SupervisionRecords. The
// outbox sends them as supervision.* events (to case_system.supervision.url,
// or the case webhook); SupervisionExport writes a day of them as a signed
// file (hallctl cases supervision-export).

// Supervision event types (Event.Type; the record is Event.Supervision).
const (
	EvSupervisionAlert    = "supervision.alert"
	EvSupervisionPause    = "supervision.pause"
	EvSupervisionFollowUp = "supervision.followup"
)

// SupervisionCase is the ordering key (Event.Case) of every supervision
// event: they are delivered one at a time, in log order.
const SupervisionCase = "supervision"

// SupervisionRecord is one supervision fact.
type SupervisionRecord struct {
	// Key is stable and unique: alert/raised/<alert id>/<raised ms>,
	// alert/escalated/<alert id>/<raised ms>, alert/cleared/<alert id>/<raised ms>, pause/started/window-<n>/<start ms>,
	// pause/ended/window-<n>/<start ms>, followup/<record type>/<record key or seq-N>.
	Key  string    `json:"key"`
	Kind string    `json:"kind"` // alert | pause | followup
	Type string    `json:"type"` // raised|escalated|cleared; started|ended; the follow-up record's type
	At   time.Time `json:"at"`
	Seq  int64     `json:"seq"` // the log record it comes from
	// Alert: the alert as raised (kind, severity, item, window, clerk,
	// ticket, number, serial, since, value, threshold, message).
	Alert *Alert `json:"alert,omitempty"`
	// Pauses: the window, its reason (shown on the LED) and when the
	// pause started (for ended: its length is At − PausedAt).
	Window   int       `json:"window,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	PausedAt time.Time `json:"paused_at,omitzero"`
	// Follow-ups: the ticket and the record's data as logged.
	Ticket int64           `json:"ticket,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

type pauseRec struct {
	Type   string    `json:"type"`
	At     time.Time `json:"at"`
	Window int       `json:"window"`
	Note   string    `json:"note"`
}

// SupervisionMapper turns log records into SupervisionRecords. It
// remembers which windows are paused (a pause ends with window_resumed,
// window_opened or window_closed): feed it every record in log order.
type SupervisionMapper struct {
	paused map[int]pauseRec
}

// NewSupervisionMapper starts with no window paused.
func NewSupervisionMapper() *SupervisionMapper {
	return &SupervisionMapper{paused: map[int]pauseRec{}}
}

// IsFollowUpRecord reports whether r is a follow-up transition: the
// followup stream, or any record type starting with "followup".
func IsFollowUpRecord(r store.Record) bool {
	return r.Stream == FollowUpStream || strings.HasPrefix(r.Type, "followup")
}

// Map returns r's supervision record, if it is one.
func (m *SupervisionMapper) Map(r store.Record) (SupervisionRecord, bool, error) {
	at := r.At.UTC()
	switch {
	case r.Stream == SupervisionStream && (r.Type == AlertRaised || r.Type == AlertEscalated || r.Type == AlertCleared):
		var ar AlertRecord
		if err := json.Unmarshal(r.Data, &ar); err != nil {
			return SupervisionRecord{}, false, fmt.Errorf("alert record %d: %w", r.Seq, err)
		}
		typ := strings.TrimPrefix(r.Type, "alert.")
		a := ar.Alert
		a.ID = ar.ID
		if !ar.At.IsZero() {
			at = ar.At.UTC()
		}
		return SupervisionRecord{Key: "alert/" + typ + "/" + ar.Key(), Kind: "alert", Type: typ, At: at, Seq: r.Seq,
			Alert: &a, Window: a.Window, Ticket: a.Ticket}, true, nil
	case r.Stream == QueueStream:
		switch r.Type {
		case "window_paused", "window_resumed", "window_opened", "window_closed":
		default:
			return SupervisionRecord{}, false, nil
		}
		var q pauseRec
		if err := json.Unmarshal(r.Data, &q); err != nil {
			return SupervisionRecord{}, false, fmt.Errorf("queue record %d: %w", r.Seq, err)
		}
		if q.Window == 0 {
			return SupervisionRecord{}, false, nil
		}
		if !q.At.IsZero() {
			at = q.At.UTC()
		}
		q.At = at
		win := "window-" + strconv.Itoa(q.Window) + "/"
		if r.Type == "window_paused" {
			if _, already := m.paused[q.Window]; already {
				return SupervisionRecord{}, false, nil // the same pause
			}
			m.paused[q.Window] = q
			return SupervisionRecord{Key: "pause/started/" + win + strconv.FormatInt(at.UnixMilli(), 10), Kind: "pause", Type: "started",
				At: at, Seq: r.Seq, Window: q.Window, Reason: q.Note, PausedAt: at}, true, nil
		}
		p, ok := m.paused[q.Window]
		if !ok {
			return SupervisionRecord{}, false, nil
		}
		delete(m.paused, q.Window)
		return SupervisionRecord{Key: "pause/ended/" + win + strconv.FormatInt(p.At.UnixMilli(), 10), Kind: "pause", Type: "ended",
			At: at, Seq: r.Seq, Window: q.Window, Reason: p.Note, PausedAt: p.At}, true, nil
	case IsFollowUpRecord(r):
		var f struct {
			Ticket int64     `json:"ticket"`
			At     time.Time `json:"at"`
		}
		if err := json.Unmarshal(r.Data, &f); err != nil {
			return SupervisionRecord{}, false, fmt.Errorf("follow-up record %d: %w", r.Seq, err)
		}
		if !f.At.IsZero() {
			at = f.At.UTC()
		}
		key := r.Key
		if key == "" {
			key = "seq-" + strconv.FormatInt(r.Seq, 10)
		}
		return SupervisionRecord{Key: "followup/" + r.Type + "/" + key, Kind: "followup", Type: r.Type, At: at, Seq: r.Seq,
			Ticket: f.Ticket, Data: json.RawMessage(r.Data)}, true, nil
	}
	return SupervisionRecord{}, false, nil
}

// Event is the supervision record as an outbox event (the outbox sets ID).
func (s SupervisionRecord) Event(hall string) Event {
	ev := Event{Type: "supervision." + s.Kind, Hall: hall, Seq: s.Seq, At: s.At, Case: SupervisionCase,
		Ticket: s.Ticket, Window: s.Window}
	if a := s.Alert; a != nil {
		ev.Number, ev.Item, ev.Serial, ev.Clerk = a.Number, a.Item, a.Serial, a.Clerk
	}
	rec := s
	ev.Supervision = &rec
	return ev
}

// SupervisionFile is the JSON form of a day's export.
type SupervisionFile struct {
	Hall    string              `json:"hall"`
	Date    string              `json:"date"` // the hall's local day, YYYY-MM-DD
	Zone    string              `json:"zone"` // the hall's time zone
	Records []SupervisionRecord `json:"records"`
}

// SupervisionDay collects the supervision records of one local day: feed
// Add every record of the log in order (the pause state needs the days
// before), then write the file.
type SupervisionDay struct {
	Hall, Date string
	Loc        *time.Location
	m          *SupervisionMapper
	Records    []SupervisionRecord
	Skipped    int // records that could not be decoded
}

// NewSupervisionDay starts a day's export; date is YYYY-MM-DD.
func NewSupervisionDay(hall, date string, loc *time.Location) (*SupervisionDay, error) {
	if loc == nil {
		loc = time.UTC
	}
	if _, err := time.ParseInLocation(DateLayout, date, loc); err != nil {
		return nil, fmt.Errorf("%w: date %q: want YYYY-MM-DD", ErrBadRequest, date)
	}
	return &SupervisionDay{Hall: hall, Date: date, Loc: loc, m: NewSupervisionMapper(), Records: []SupervisionRecord{}}, nil
}

// Add folds one log record in.
func (d *SupervisionDay) Add(r store.Record) {
	s, ok, err := d.m.Map(r)
	if err != nil {
		d.Skipped++
		return
	}
	if ok && s.At.In(d.Loc).Format(DateLayout) == d.Date {
		d.Records = append(d.Records, s)
	}
}

// WriteJSON writes the day as one JSON document (SupervisionFile) and a
// newline.
func (d *SupervisionDay) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(SupervisionFile{Hall: d.Hall, Date: d.Date, Zone: d.Loc.String(), Records: d.Records})
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// SupervisionCSVHeader is the CSV export's header row.
var SupervisionCSVHeader = []string{"seq", "at", "kind", "type", "key", "window", "ticket", "alert_kind", "severity",
	"item", "clerk", "number", "serial", "since", "value", "threshold", "reason", "paused_at", "message", "data"}

// WriteCSV writes the day as CSV (UTF-8, no BOM, RFC 3339 UTC times,
// SupervisionCSVHeader first).
func (d *SupervisionDay) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(SupervisionCSVHeader); err != nil {
		return err
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	for _, s := range d.Records {
		row := []string{strconv.FormatInt(s.Seq, 10), ts(s.At), s.Kind, s.Type, s.Key, "", "", "", "", "", "", "", "", "", "", "",
			s.Reason, ts(s.PausedAt), "", string(s.Data)}
		if s.Window != 0 {
			row[5] = strconv.Itoa(s.Window)
		}
		if s.Ticket != 0 {
			row[6] = strconv.FormatInt(s.Ticket, 10)
		}
		if a := s.Alert; a != nil {
			row[7], row[8], row[9], row[10], row[11], row[12] = a.Kind, a.Severity, a.Item, a.Clerk, a.Number, a.Serial
			row[13] = ts(a.Since)
			row[14] = strconv.FormatFloat(a.Value, 'f', -1, 64)
			row[15] = strconv.FormatFloat(a.Threshold, 'f', -1, 64)
			row[18] = a.Message
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// SignExport is the detached signature of an export file: lower-case hex
// HMAC-SHA256(key, the file's bytes exactly). The .sig file holds it and a
// newline.
func SignExport(key, file []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(file)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrExportSignature: a file does not match its signature.
var ErrExportSignature = errors.New("export signature does not match")

// VerifyExport checks sig (the .sig file's content; surrounding space is
// ignored) against file in constant time.
func VerifyExport(key, file []byte, sig string) error {
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return fmt.Errorf("%w: not hex", ErrExportSignature)
	}
	want, _ := hex.DecodeString(SignExport(key, file))
	if !hmac.Equal(got, want) {
		return ErrExportSignature
	}
	return nil
}
