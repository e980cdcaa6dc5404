package wire

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Event types (evt/<type>).
const (
	EvtPress  = "press"
	EvtCard   = "card"
	EvtRating = "rating"
	EvtKey    = "key"
	EvtScan   = "scan"
)

// Command names (cmd/<name>).
const (
	CmdPrint       = "print"
	CmdSpeak       = "speak"
	CmdRatingOpen  = "rating-open"
	CmdRatingClose = "rating-close"
	CmdLease       = "lease"
)

// CapLease in a device's caps (agent info) says the device takes cmd/lease:
// it issues leased numbers while it cannot reach the controller.
const CapLease = "lease"

// Device kinds of the agent config.
const (
	KindPrinter  = "escpos-printer"
	KindIDReader = "idcard-reader"
	KindButton   = "ticket-button"
	KindLED      = "led-display"
	KindRating   = "rating-pad"
	KindKeypad   = "caller-keypad"
	KindScanner  = "qr-scanner"
	KindSpeaker  = "speaker"
)

// Press is evt/press data: the button's configured item.
type Press struct {
	Item string `json:"item"`
	// Ticket is set when the agent issued a number from a lease while it
	// could not reach the controller (offline dispensing).
	Ticket string `json:"ticket,omitempty"`
}

// Check validates a Press.
func (p Press) Check() error {
	if p.Item == "" {
		return errors.New("press.item is empty")
	}
	return nil
}

// Card is evt/card data. Never the raw ID number or the full name unless the
// hall's case connector is enabled (then only in Raw, over TLS).
type Card struct {
	IDHash     string   `json:"id_hash"`
	MaskedID   string   `json:"masked_id"`
	MaskedName string   `json:"masked_name"`
	BirthYear  int      `json:"birth_year"`
	Sex        string   `json:"sex"`
	ValidTo    string   `json:"valid_to"`
	Raw        *CardRaw `json:"raw,omitempty"`
}

// CardRaw is the full record, sent only where the privacy rules allow.
type CardRaw struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// Check validates a Card: masked forms only (docs/devices.md). id_hash is
// 64 lower-case hex digits; masked_id hides at least the birth date
// (positions 7–14 of an 18-character ID: 110105********002X) or is wholly
// masked; masked_name is its own mask (layout.MaskName's rule: 张*, 张*三),
// never a full name; birth_year is 0 or 1900–2100. The errors never quote
// the values (they may be a raw ID number or name).
func (c Card) Check() error {
	if !idHashPattern.MatchString(c.IDHash) {
		return errors.New("card.id_hash is not 64 lower-case hex digits")
	}
	if !maskedID(c.MaskedID) {
		return errors.New("card.masked_id does not hide the birth date (positions 7-14 must be '*')")
	}
	if !maskedName(c.MaskedName) {
		return errors.New("card.masked_name is not masked")
	}
	if c.BirthYear != 0 && (c.BirthYear < 1900 || c.BirthYear > 2100) {
		return errors.New("card.birth_year is outside 1900..2100")
	}
	if c.Sex != "" && c.Sex != "M" && c.Sex != "F" {
		return errors.New("card.sex is not M or F")
	}
	if c.ValidTo != "" && c.ValidTo != "long-term" && !validToPattern.MatchString(c.ValidTo) {
		return errors.New("card.valid_to is not a date or long-term")
	}
	return nil
}

var (
	idHashPattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	validToPattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// maskedID reports whether s is a masked ID number: empty, wholly masked
// (at most 18 '*'), or 18 characters of digits, X and '*' with positions
// 7–14 (the birth date) masked.
func maskedID(s string) bool {
	if s == "" {
		return true
	}
	if len(s) <= 18 && strings.Trim(s, "*") == "" {
		return true
	}
	if len(s) != 18 {
		return false
	}
	for i := 0; i < 18; i++ {
		ch := s[i]
		switch {
		case i >= 6 && i < 14:
			if ch != '*' {
				return false
			}
		case ch == '*', ch >= '0' && ch <= '9', ch == 'X':
		default:
			return false
		}
	}
	return true
}

// maskedName reports whether s equals its own mask by the rule of the
// public screens (displays/layout.MaskName): first character kept, the
// last kept from three characters on, the rest '*'.
func maskedName(s string) bool {
	r := []rune(s)
	if len(r) > 32 || strings.TrimSpace(s) != s {
		return false
	}
	switch len(r) {
	case 0:
		return true
	case 1:
		return s == "*"
	case 2:
		return r[1] == '*'
	}
	for _, x := range r[1 : len(r)-1] {
		if x != '*' {
			return false
		}
	}
	return true
}

// Rating is evt/rating data: level 1 (非常不满意) … 5 (非常满意).
type Rating struct {
	Session string `json:"session"`
	Level   int    `json:"level"`
}

// Check validates a Rating.
func (r Rating) Check() error {
	if r.Level < 1 || r.Level > 5 {
		return fmt.Errorf("rating.level %d is outside 1..5", r.Level)
	}
	return nil
}

// Scan is evt/scan data.
type Scan struct {
	Code string `json:"code"`
}

// Check validates a Scan.
func (s Scan) Check() error {
	if s.Code == "" {
		return errors.New("scan.code is empty")
	}
	return nil
}

// Caller keypad actions.
const (
	KeyCallNext = "call-next"
	KeyRecall   = "recall"
	KeyNoShow   = "no-show"
	KeyStart    = "start"
	KeyFinish   = "finish"
	KeyPause    = "pause"
	KeyResume   = "resume"
	KeyTransfer = "transfer"
)

// KeyActions lists every caller keypad action of the contract.
var KeyActions = []string{KeyCallNext, KeyRecall, KeyNoShow, KeyStart, KeyFinish, KeyPause, KeyResume, KeyTransfer}

// Key is evt/key data from a caller keypad.
type Key struct {
	Action string `json:"action"`
	Arg    string `json:"arg,omitempty"`
}

// Check validates a Key.
func (k Key) Check() error {
	for _, a := range KeyActions {
		if k.Action == a {
			return nil
		}
	}
	return fmt.Errorf("key.action %q is not one of %v", k.Action, KeyActions)
}

// Print templates.
const (
	TemplateTicket  = "ticket"
	TemplateReceipt = "receipt"
)

// PrintFields are what a ticket or receipt shows; the agent renders them.
type PrintFields struct {
	Hall       string `json:"hall"`
	Number     string `json:"number"`
	Item       string `json:"item"`
	WindowHint string `json:"window_hint"`
	Ahead      int    `json:"ahead"`
	EtaP50S    int    `json:"eta_p50_s"`
	EtaP90S    int    `json:"eta_p90_s"`
	IssuedAt   string `json:"issued_at"`
	QR         string `json:"qr"`
	Serial     string `json:"serial"`
	// Check is a check code printed for the holder: on a receipt, the
	// case look-up's (the serial and it, hallctl/ctl CaseCheck); on a
	// ticket, the code typed at a kiosk to rate the service (it proves
	// holding the ticket).
	Check string `json:"check,omitempty"`
	// EtaText, when set, is printed instead of the people ahead and the
	// wait estimate (an offline ticket: "等候时间暂不可估算").
	EtaText string `json:"eta_text,omitempty"`
}

// Print is cmd/print args.
type Print struct {
	Template string      `json:"template"`
	Fields   PrintFields `json:"fields"`
}

// Check validates a Print.
func (p Print) Check() error {
	if p.Template != TemplateTicket && p.Template != TemplateReceipt {
		return fmt.Errorf("print.template %q is not ticket or receipt", p.Template)
	}
	if p.Template == TemplateTicket && p.Fields.Number == "" {
		return errors.New("print.fields.number is empty")
	}
	return nil
}

// Speak is cmd/speak args: Text in language Lang ("zh" Mandarin, the
// default; "yue" Cantonese; "en" English).
//
// Voice and Segments are optional extensions (older agents ignore them
// and speak Text in Lang): Voice is the espeak-ng voice the hall config
// chose for Lang; Segments, when present, is the whole announcement as
// one text per language, spoken in order as one announcement (Text and
// Lang then repeat the first segment, for older agents).
type Speak struct {
	Text     string         `json:"text"`
	Lang     string         `json:"lang,omitempty"`
	Voice    string         `json:"voice,omitempty"`
	Segments []SpeakSegment `json:"segments,omitempty"`
}

// SpeakSegment is one language's part of an announcement.
type SpeakSegment struct {
	Text  string `json:"text"`
	Lang  string `json:"lang,omitempty"`
	Voice string `json:"voice,omitempty"`
}

// MaxSpeakSegments bounds the languages of one announcement.
const MaxSpeakSegments = 4

// voiceRe is an espeak-ng voice name: never an option (no leading dash),
// no path or shell characters.
var voiceRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]{0,39}$`)

// ValidVoice reports whether v is a voice name a speaker may pass to
// espeak-ng ("" means the speaker's own choice for the language).
func ValidVoice(v string) bool { return v == "" || voiceRe.MatchString(v) }

// Check validates a Speak.
func (s Speak) Check() error {
	if s.Text == "" {
		return errors.New("speak.text is empty")
	}
	if !ValidVoice(s.Voice) {
		return fmt.Errorf("speak.voice %q is not a voice name", s.Voice)
	}
	if len(s.Segments) > MaxSpeakSegments {
		return fmt.Errorf("speak.segments: %d, at most %d", len(s.Segments), MaxSpeakSegments)
	}
	for i, g := range s.Segments {
		if g.Text == "" {
			return fmt.Errorf("speak.segments[%d].text is empty", i)
		}
		if !ValidVoice(g.Voice) {
			return fmt.Errorf("speak.segments[%d].voice %q is not a voice name", i, g.Voice)
		}
	}
	return nil
}

// Parts is the announcement as segments: Segments when set, else Text in
// Lang with Voice.
func (s Speak) Parts() []SpeakSegment {
	if len(s.Segments) > 0 {
		return s.Segments
	}
	return []SpeakSegment{{Text: s.Text, Lang: s.Lang, Voice: s.Voice}}
}

// RatingOpen is cmd/rating-open args.
type RatingOpen struct {
	Session  string `json:"session"`
	Ticket   string `json:"ticket"`
	Window   int    `json:"window"`
	Case     string `json:"case,omitempty"`
	TimeoutS int    `json:"timeout_s"`
}

// Check validates a RatingOpen.
func (r RatingOpen) Check() error {
	if r.Session == "" {
		return errors.New("rating-open.session is empty")
	}
	if r.TimeoutS < 0 {
		return errors.New("rating-open.timeout_s is negative")
	}
	return nil
}

// RatingClose is cmd/rating-close args.
type RatingClose struct {
	Session string `json:"session"`
}

// Lease is cmd/lease args: numbers a dispenser may issue while offline.
// The ticket numbers are Prefix followed by the counter From..To in at
// least three digits (prefix "A", from 21 → "A021"). The other fields are
// what the dispenser prints on an offline ticket.
type Lease struct {
	Item    string `json:"item"`
	From    int    `json:"from"`
	To      int    `json:"to"`
	Expires Time   `json:"expires"`
	// Prefix is the item's ticket prefix.
	Prefix string `json:"prefix,omitempty"`
	// Hall and ItemName are printed on the ticket (hall name, item name).
	Hall     string `json:"hall,omitempty"`
	ItemName string `json:"item_name,omitempty"`
	// TZ is the hall's time zone (IANA name) for the printed time.
	TZ string `json:"tz,omitempty"`
}

// Number is the ticket number of counter n of the lease ("A021").
func (l Lease) Number(n int) string { return fmt.Sprintf("%s%03d", l.Prefix, n) }

// Check validates a Lease.
func (l Lease) Check() error {
	if l.Item == "" || l.From <= 0 || l.To < l.From {
		return fmt.Errorf("lease %s %d..%d is not a block of numbers", l.Item, l.From, l.To)
	}
	if l.Expires.IsZero() {
		return fmt.Errorf("lease %s %d..%d has no expiry", l.Item, l.From, l.To)
	}
	return nil
}

// NewEvent builds an event envelope with a fresh UUIDv7 id.
func NewEvent(now time.Time, session string, seq uint64, data any) EventMsg {
	return EventMsg{V: Version, ID: NewID(now), TS: At(now), Session: session, Seq: seq, Data: json.RawMessage(Marshal(data))}
}

// NewCommand builds a command envelope with a fresh UUIDv7 id that expires
// ttl after now (no expiry when ttl is 0).
func NewCommand(now time.Time, ttl time.Duration, args any) CommandMsg {
	c := CommandMsg{V: Version, ID: NewID(now), TS: At(now), Args: json.RawMessage(Marshal(args))}
	if ttl > 0 {
		c.Exp = At(now.Add(ttl))
	}
	return c
}

var idMu sync.Mutex
var lastMS int64
var lastSeq uint16

// NewID returns a UUIDv7 (RFC 9562) for time now. Ids made by one process
// sort in the order they were made, even within one millisecond.
func NewID(now time.Time) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("wire: crypto/rand: " + err.Error())
	}
	ms := now.UnixMilli()
	idMu.Lock()
	if ms <= lastMS {
		ms = lastMS
		lastSeq++
		if lastSeq >= 0x0fff {
			ms++
			lastSeq = 0
		}
	} else {
		lastSeq = 0
	}
	lastMS = ms
	seq := lastSeq
	idMu.Unlock()
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(ms))
	copy(b[0:6], t[2:8])
	// rand_a holds a counter so ids within one ms stay ordered.
	b[6] = 0x70 | byte(seq>>8)&0x0f
	b[7] = byte(seq)
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}
