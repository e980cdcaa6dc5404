package ctl

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/servicehall/servicehall/hallctl/bus"
	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// RatingStream is the log stream of 好差评 ratings.
const RatingStream = "rating"

// Rating is one applicant's rating of a service, 1 (非常不满意) … 5 (非常满意).
type Rating struct {
	Ticket  int64     `json:"ticket"`
	Number  string    `json:"number"`
	Item    string    `json:"item"`
	Window  int       `json:"window"`
	Level   int       `json:"level"`
	Channel string    `json:"channel"` // pad | kiosk | qr (the phone page) | sms | web
	At      time.Time `json:"at"`
	// Clerk is the staff id of the clerk who served the ticket (signed in
	// at a console), "" when unknown; older logs have none.
	Clerk string `json:"clerk,omitempty"`
	// Reasons are the 差评 reason codes (ratings.reasons) of a rating 1–2.
	Reasons []string `json:"reasons,omitempty"`
	// Comment is the phone page's free text: stored for the manager's
	// follow-up, never on the feed, in a public answer or in a log line.
	Comment string `json:"comment,omitempty"`
	// Person is the applicant's keyed hash (the ticket was taken with an
	// ID card, or one was read at the window) and Serial the ticket's case: one rating per (Person,
	// Serial). Neither is on the feed.
	Person string `json:"person,omitempty"`
	Serial string `json:"serial,omitempty"`
}

// Public is the rating without what only the manager may see (the
// comment) and the applicant's hash: for the feed and API answers.
func (r Rating) Public() Rating {
	r.Comment, r.Person = "", ""
	r.Reasons = append([]string(nil), r.Reasons...)
	return r
}

// RatingExtra is what a rating may carry beyond its level: 差评 reason
// codes (levels 1–2, from ratings.reasons) and, on the phone page only,
// a comment of at most MaxRatingComment characters.
type RatingExtra struct {
	Reasons []string
	Comment string
}

// MaxRatingComment is the longest comment, in characters.
const MaxRatingComment = 200

// Rating channels.
const (
	ChannelPad   = "pad"
	ChannelKiosk = "kiosk"
	ChannelQR    = "qr" // the phone ticket page (its QR link)
	ChannelSMS   = "sms"
	ChannelWeb   = "web"
)

// Rating errors.
var (
	ErrBadLevel     = errors.New("rating level must be 1..5")
	ErrNotRateable  = errors.New("ticket has not been served")
	ErrAlreadyRated = errors.New("ticket already rated")
	// ErrBadReason: an unknown or repeated reason code, reasons on a
	// rating above 2, or a comment that is too long or not allowed.
	ErrBadReason = errors.New("bad rating reason or comment")
)

// ratingTimeout is how long a window's rating pad stays open after service.
const ratingTimeout = 60 * time.Second

// openRating asks the window's rating pads to open a session for the
// ticket just finished (after the unit commits).
func (c *Controller) openRating(u *unit, win int, ticket int64, number string) {
	for _, pad := range c.bus.Find(func(_ string, d wire.DeviceInfo) bool {
		return d.Kind == wire.KindRating && d.Window == win
	}) {
		args := wire.RatingOpen{Session: strconv.FormatInt(ticket, 10), Ticket: number, Window: win, TimeoutS: int(ratingTimeout / time.Second)}
		if c.cases != nil {
			args.Case = c.cases.accepted[ticket] // the case serial (受理), "" if none
		}
		if _, err := c.bus.Dispatch(u, pad.Agent, pad.Device.ID, wire.CmdRatingOpen, args, 10*time.Second); err != nil {
			c.log.Error("open rating session", "agent", pad.Agent, "device", pad.Device.ID, "err", err)
			continue
		}
		c.lim.pads[padKey(pad.Agent, pad.Device.ID)] = padSession{session: args.Session, ticket: ticket, window: win,
			until: c.clock.Now().Add(ratingTimeout + padGrace)}
	}
}

// padGrace is how long after its timeout a pad's rating is still taken
// (the press may be in flight when the pad closes).
const padGrace = 10 * time.Second

// onRating records a rating pad's press. It counts only for the session
// the controller opened on that very pad (see openRating): a pad of the
// ticket's window, within the session's time, once. A pad elsewhere, or
// a guessed session, rates nothing (the event is refused and counted).
// Open sessions live in memory: a restart closes them.
func (c *Controller) onRating(u *unit, ev bus.Event, r wire.Rating) error {
	if _, err := strconv.ParseInt(r.Session, 10, 64); err != nil {
		return fmt.Errorf("%w: rating session %q is not a ticket", wire.ErrInvalid, r.Session)
	}
	if r.Level < 1 || r.Level > 5 {
		return ErrBadLevel // before the session is taken: a bad press does not close it
	}
	id, err := c.takePadSession(ev, r.Session)
	if err != nil {
		return fmt.Errorf("%w: %w", wire.ErrInvalid, err)
	}
	_, err = c.rate(u, id, r.Level, ChannelPad, ev.Msg.ID, RatingExtra{})
	return err
}

// RateAtKiosk rates a served ticket at a kiosk, once, for the applicant
// who proves holding it: proof is the ticket's printed check code (its
// short form, TicketCode, typed at the kiosk) or the QR link's check
// value d (scanned). A number without a matching proof rates nothing;
// failures count against the client address like the ticket page's (and
// refuse it for a while after too many). source is the request id.
func (c *Controller) RateAtKiosk(ctx context.Context, number, proof, client string, level int, source string, extra ...RatingExtra) (Rating, error) {
	if level < 1 || level > 5 {
		return Rating{}, ErrBadLevel
	}
	var id int64
	if err := c.findChecked(number, normalizeProof(proof), client, func(_ *queue.Engine, t queue.TicketView) { id = t.ID }); err != nil {
		return Rating{}, err
	}
	return c.Rate(ctx, id, level, ChannelKiosk, source, extra...)
}

// RateByCard rates ticket number at a kiosk whose reader has just read
// the holder's ID card (TakeCard): the proof is that the card's keyed hash
// is the one the ticket was taken with, so only tickets taken by ID card
// can be rated this way (others use the printed check code). A card that
// does not hold the ticket counts as a failed try, like a wrong code.
func (c *Controller) RateByCard(ctx context.Context, number string, card CardEvent, client string, level int, source string, extra ...RatingExtra) (Rating, error) {
	if level < 1 || level > 5 {
		return Rating{}, ErrBadLevel
	}
	tp := c.tpage
	ip := clientKey(client)
	if wait := tp.limited(ip, c.clock.Now()); wait > 0 {
		tp.limitedTotal.Inc()
		return Rating{}, &RetryError{Err: ErrRateLimited, After: wait}
	}
	number = strings.ToUpper(strings.TrimSpace(number))
	var id int64
	if validTicketNumber(number) && card.IDHash != "" {
		c.View(func(e *queue.Engine) {
			if t, ok := c.recentTicket(e, number, func(t queue.TicketView) bool { return e.HeldBy(t.ID, card.IDHash) }); ok {
				id = t.ID
			}
		})
	}
	if id == 0 {
		tp.failures.Inc()
		tp.fail(ip, c.clock.Now())
		return Rating{}, ErrBadTicketLink
	}
	return c.Rate(ctx, id, level, ChannelKiosk, source, extra...)
}

// TicketCodeLen is the length of a ticket's check code.
const TicketCodeLen = 8

// TicketCode is the short check code printed on a ticket for typing at a
// kiosk (its on-screen keys have digits): 8 digits (26.6 bits) of an
// HMAC keyed like d but with its own label, so neither tells the other.
// Failed tries are rate-limited per client address (see findChecked):
// at most a few thousand guesses a day, against 10^8 codes per number.
func TicketCode(key []byte, r TicketRef) string {
	m := hmac.New(sha256.New, key)
	for _, f := range []string{"servicehall-ticket-code-v1", r.Hall, strconv.FormatInt(r.ID, 10), r.Number, r.Day} {
		m.Write([]byte(strconv.Itoa(len(f))))
		m.Write([]byte{':'})
		m.Write([]byte(f))
	}
	sum := m.Sum(nil)
	v := binary.BigEndian.Uint64(sum[:8]) % 100_000_000
	return fmt.Sprintf("%08d", v)
}

// TicketCode is the check code printed on the ticket.
func (c *Controller) TicketCode(id int64, number string, issued time.Time) string {
	return TicketCode(c.tpage.key, c.ticketRef(id, number, issued))
}

// normalizeProof drops the spaces a typed check code may carry.
func normalizeProof(p string) string {
	return strings.ReplaceAll(strings.TrimSpace(p), " ", "")
}

// verifyProof checks a ticket's proof: the check code or the check value d.
func verifyProof(key []byte, r TicketRef, proof string) bool {
	if len(proof) == TicketCodeLen {
		return hmac.Equal([]byte(proof), []byte(TicketCode(key, r)))
	}
	return VerifyTicketCheck(key, r, proof)
}

// proofLenOK says whether proof has the length of a check code or of d.
func proofLenOK(proof string) bool {
	return len(proof) == TicketCodeLen || len(proof) == base64.RawURLEncoding.EncodedLen(TicketCheckBytes)
}

// Rate records a rating for a served ticket, once per ticket and once per
// applicant per case (see rate); extra is its reasons and comment.
func (c *Controller) Rate(ctx context.Context, ticket int64, level int, channel, source string, extra ...RatingExtra) (rt Rating, err error) {
	var ex RatingExtra
	if len(extra) > 0 {
		ex = extra[0]
	}
	uerr := c.inUnit(ctx, func(u *unit) error {
		rt, err = c.rate(u, ticket, level, channel, source, ex)
		return nil
	})
	if uerr != nil {
		return Rating{}, uerr
	}
	return rt, err
}

// rate records the rating in u. It is refused for a ticket already rated
// and, when the ticket was taken with an ID card and has a case, for an
// applicant (the card's keyed hash) who rated that case already from
// another ticket.
func (c *Controller) rate(u *unit, ticket int64, level int, channel, source string, ex RatingExtra) (Rating, error) {
	if level < 1 || level > 5 {
		return Rating{}, ErrBadLevel
	}
	reasons, comment, err := c.checkRatingExtra(level, channel, ex)
	if err != nil {
		c.metrics.ratingsRefused.WithLabelValues("bad_reason").Inc()
		return Rating{}, err
	}
	t, ok := c.desk.Engine().Ticket(ticket)
	if !ok {
		return Rating{}, queue.ErrUnknownTicket
	}
	if t.State != queue.Finished {
		return Rating{}, ErrNotRateable
	}
	if c.desk.rated[ticket] {
		return Rating{}, ErrAlreadyRated
	}
	rt := Rating{Ticket: ticket, Number: t.Number, Item: t.Item, Window: t.Window, Level: level, Channel: channel, At: c.clock.Now(),
		Reasons: reasons, Comment: comment, Person: c.desk.Engine().PersonOf(ticket)}
	if c.cases != nil {
		rt.Serial = c.cases.accepted[ticket]
		if rt.Person == "" {
			rt.Person = c.cases.idRead[ticket] // an ID card read at the window
		}
	}
	ck := caseRatingKey(rt.Person, rt.Serial)
	if ck != "" && c.desk.ratedCase[ck] {
		c.metrics.ratingsRefused.WithLabelValues("already_rated_case").Inc()
		return Rating{}, ErrAlreadyRated // this applicant rated this case from another ticket
	}
	if rt.Clerk = c.desk.ServedBy(ticket); rt.Clerk == "" && t.Window != 0 {
		_, rt.Clerk = c.WindowFloor(t.Window, 0)
	}
	key := "ticket-" + strconv.FormatInt(ticket, 10)
	u.Append(store.Record{Stream: RatingStream, Type: "rated", Key: key, At: rt.At, Data: wire.Marshal(rt)})
	c.desk.rated[ticket] = true
	if ck != "" {
		c.desk.ratedCase[ck] = true
	}
	c.metrics.ratings.WithLabelValues(strconv.Itoa(level)).Inc()
	pub := rt.Public()
	u.After(func() { c.feed.publish(HallEvent{Kind: "rating", Type: "rated", At: pub.At, Rating: &pub}) })
	return rt, nil
}

// caseRatingKey is the once-per-applicant-per-case key ("" unless both
// the person hash and the serial are known).
func caseRatingKey(person, serial string) string {
	if person == "" || serial == "" {
		return ""
	}
	return person + "\x00" + serial
}

// checkRatingExtra validates a rating's reasons and comment: reasons only
// for levels 1–2, each a configured code, once; a comment only from the
// phone page (channel qr) with a rating 1–2, at most MaxRatingComment
// characters, without control characters but line breaks.
func (c *Controller) checkRatingExtra(level int, channel string, ex RatingExtra) ([]string, string, error) {
	if len(ex.Reasons) > 0 && level > casesys.FollowUpLevel {
		return nil, "", fmt.Errorf("%w: reasons are for ratings 1 and 2", ErrBadReason)
	}
	var reasons []string
	seen := map[string]bool{}
	for _, code := range ex.Reasons {
		if _, ok := c.cfg.Ratings.Reason(code); !ok || seen[code] {
			return nil, "", fmt.Errorf("%w: reason %q is unknown or repeated", ErrBadReason, code)
		}
		seen[code] = true
		reasons = append(reasons, code)
	}
	comment := strings.TrimSpace(ex.Comment)
	if comment == "" {
		return reasons, "", nil
	}
	switch {
	case channel != ChannelQR:
		return nil, "", fmt.Errorf("%w: a comment is taken on the phone page only", ErrBadReason)
	case level > casesys.FollowUpLevel:
		return nil, "", fmt.Errorf("%w: a comment is for ratings 1 and 2", ErrBadReason)
	case utf8.RuneCountInString(comment) > MaxRatingComment || !utf8.ValidString(comment):
		return nil, "", fmt.Errorf("%w: the comment is longer than %d characters", ErrBadReason, MaxRatingComment)
	}
	for _, r := range comment {
		if unicode.IsControl(r) && r != '\n' {
			return nil, "", fmt.Errorf("%w: the comment has control characters", ErrBadReason)
		}
	}
	return reasons, comment, nil
}
