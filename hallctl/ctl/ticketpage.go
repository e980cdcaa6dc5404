package ctl

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/internal/keyrate"
)

// The ticket page (/t/<number>?d=…) is what a ticket's QR code opens on a
// phone. The printed link carries a check value d that binds it to that
// one ticket: an HMAC-SHA256, keyed with the hall's ticket-check key, over
// the hall id, the ticket id, its number and its issue day, truncated to
// TicketCheckBytes and base64url-encoded. Without d a number shows
// nothing and cannot be rated, so a guessed number is useless; checks
// that fail are rate-limited per client address.

// TicketCheckBytes is how much of the HMAC d keeps (96 bits: guessing is
// hopeless even without the rate limit).
const TicketCheckBytes = 12

// TicketKeyFile is the name of the ticket-check key file in the state
// directory (hallctl/app creates it, mode 0600, on first start).
const TicketKeyFile = "ticket-check.key"

// ticketScanMax bounds how many tickets, newest first, a page lookup
// looks through for the number (more than a big hall's day).
const ticketScanMax = 20000

// ticketPageDays is how many days back (counting today) a ticket's page
// still answers: today's tickets (and live ones of any day). The engine
// forgets finished tickets of earlier days at the day's rollover
// (queue compaction), so a longer window could not be kept.
const ticketPageDays = 1

// Ticket page errors.
var (
	// ErrBadTicketLink: no ticket with that number matches d (a wrong or
	// missing d, an unknown number, or a ticket too old). One error for
	// all, so the answer does not tell whether the number exists.
	ErrBadTicketLink = errors.New("the ticket link is not valid")
	// ErrRateLimited: the client failed too many checks; try later.
	ErrRateLimited = errors.New("too many failed ticket checks")
)

// TicketRef names one ticket for its check value.
type TicketRef struct {
	Hall   string
	ID     int64
	Number string
	Day    string // issue day in the hall's time zone, YYYYMMDD
}

func ticketMAC(key []byte, r TicketRef) []byte {
	m := hmac.New(sha256.New, key)
	// Length-prefixed fields: no two refs hash the same bytes.
	for _, f := range []string{"servicehall-ticket-v1", r.Hall, strconv.FormatInt(r.ID, 10), r.Number, r.Day} {
		m.Write([]byte(strconv.Itoa(len(f))))
		m.Write([]byte{':'})
		m.Write([]byte(f))
	}
	return m.Sum(nil)[:TicketCheckBytes]
}

// TicketCheck is the check value d of a ticket's link.
func TicketCheck(key []byte, r TicketRef) string {
	return base64.RawURLEncoding.EncodeToString(ticketMAC(key, r))
}

// VerifyTicketCheck reports whether d is exactly the ticket's check value
// (in constant time). The text is compared, not its decoding: Go's base64
// decoder skips \r and \n and tolerates stray trailing bits, so a decoded
// comparison would let several spellings of one d verify.
func VerifyTicketCheck(key []byte, r TicketRef, d string) bool {
	return hmac.Equal([]byte(d), []byte(TicketCheck(key, r)))
}

// TicketURL is the link a ticket's QR code carries: base/t/<number>?d=….
func TicketURL(base string, key []byte, r TicketRef) string {
	return strings.TrimRight(base, "/") + "/t/" + url.PathEscape(r.Number) + "?d=" + TicketCheck(key, r)
}

// ticketRef is the ref of a ticket of this hall.
func (c *Controller) ticketRef(id int64, number string, issued time.Time) TicketRef {
	return TicketRef{Hall: c.cfg.Hall.ID, ID: id, Number: number, Day: issued.In(c.cfg.Loc).Format("20060102")}
}

// TicketURL is the link printed in a ticket's QR code.
func (c *Controller) TicketURL(id int64, number string, issued time.Time) string {
	return TicketURL(c.cfg.Server.PublicURL, c.tpage.key, c.ticketRef(id, number, issued))
}

// TicketPage is what the ticket's page shows.
type TicketPage struct {
	Hall     string `json:"hall"`
	Number   string `json:"number"`
	Item     string `json:"item"`
	ItemName string `json:"item_name"`
	// State: waiting, called, serving, finished, voided (过号作废) or
	// cancelled.
	State    string    `json:"state"`
	IssuedAt time.Time `json:"issued_at"`
	// IssuedLocal is the issue time as the ticket prints it (hall time
	// zone), "2006-01-02 15:04".
	IssuedLocal string `json:"issued_local"`
	// NoShows counts the calls it missed (a waiting ticket with a no-show
	// was put back in the line).
	NoShows int `json:"no_shows,omitempty"`
	// Ahead and the P50–P90 wait range (seconds from now), while waiting.
	Ahead   int `json:"ahead"`
	WaitP50 int `json:"wait_p50_s"`
	WaitP90 int `json:"wait_p90_s"`
	// Window is where to go once called (or where it is served); Zone is
	// the window's zone, when the hall names them.
	Window   int       `json:"window,omitempty"`
	Zone     string    `json:"zone,omitempty"`
	CalledAt time.Time `json:"called_at,omitzero"`
	// Location is the item's guide location (一楼东区 …).
	Location string `json:"location,omitempty"`
	// RatingOpen: served and not yet rated; Rated: rated already.
	RatingOpen bool `json:"rating_open"`
	Rated      bool `json:"rated"`
	// Reasons are the 差评 reasons offered for ratings 1–2, while the
	// rating is open (ratings.reasons).
	Reasons []RatingReason `json:"rating_reasons,omitempty"`
	At      time.Time      `json:"at"`
}

// RatingReason is a 差评 reason as the kiosk and the phone page show it.
type RatingReason struct {
	Code string `json:"code"`
	ZH   string `json:"zh"`
	EN   string `json:"en"`
}

// RatingReasons are the hall's 差评 reasons (ratings.reasons).
func (c *Controller) RatingReasons() []RatingReason {
	out := make([]RatingReason, 0, len(c.cfg.Ratings.Reasons))
	for _, r := range c.cfg.Ratings.Reasons {
		out = append(out, RatingReason{Code: r.Code, ZH: r.ZH, EN: r.EN})
	}
	return out
}

// TicketPage looks the ticket up by its printed number and check value d
// for the client at address client (an IP, for the rate limit). A check
// that fails is counted against the client; once it failed too often,
// every lookup answers ErrRateLimited until the limit refills.
func (c *Controller) TicketPage(number, d, client string) (TicketPage, error) {
	var p TicketPage
	err := c.findChecked(number, d, client, func(e *queue.Engine, t queue.TicketView) {
		p = c.ticketPage(e, t)
		p.Rated = c.desk.rated[t.ID]
		p.RatingOpen = t.State == queue.Finished && !p.Rated
		if p.RatingOpen {
			p.Reasons = c.RatingReasons()
		}
	})
	if err != nil {
		return TicketPage{}, err
	}
	return p, nil
}

// RateTicketPage rates the ticket from its page, once; the check value
// must match (a guessed number cannot be rated).
func (c *Controller) RateTicketPage(ctx context.Context, number, d, client string, level int, extra ...RatingExtra) (Rating, error) {
	var id int64
	if err := c.findChecked(number, d, client, func(_ *queue.Engine, t queue.TicketView) { id = t.ID }); err != nil {
		return Rating{}, err
	}
	return c.Rate(ctx, id, level, ChannelQR, "", extra...)
}

// findChecked finds the ticket of number whose check value is d and calls
// f with it under the controller's lock.
func (c *Controller) findChecked(number, d, client string, f func(*queue.Engine, queue.TicketView)) error {
	tp := c.tpage
	ip := clientKey(client)
	if wait := tp.limited(ip, c.clock.Now()); wait > 0 {
		tp.limitedTotal.Inc()
		return &RetryError{Err: ErrRateLimited, After: wait}
	}
	number = strings.ToUpper(strings.TrimSpace(number))
	found := false
	if validTicketNumber(number) && proofLenOK(d) {
		c.View(func(e *queue.Engine) {
			t, ok := c.checkedTicket(e, number, d)
			if ok {
				found = true
				f(e, t)
			}
		})
	}
	if !found {
		tp.failures.Inc()
		tp.fail(ip, c.clock.Now())
		return ErrBadTicketLink
	}
	return nil
}

// checkedTicket looks through the tickets of the last ticketPageDays days,
// newest first, for number with check value d.
func (c *Controller) checkedTicket(e *queue.Engine, number, d string) (queue.TicketView, bool) {
	return c.recentTicket(e, number, func(t queue.TicketView) bool {
		return verifyProof(c.tpage.key, c.ticketRef(t.ID, t.Number, t.IssuedAt), d)
	})
}

// recentTicket looks through the tickets of the last ticketPageDays days,
// the live one first then newest first, for number with ok(t).
func (c *Controller) recentTicket(e *queue.Engine, number string, ok func(queue.TicketView) bool) (queue.TicketView, bool) {
	now := c.clock.Now().In(c.cfg.Loc)
	y, m, dd := now.Date()
	since := time.Date(y, m, dd-(ticketPageDays-1), 0, 0, 0, 0, c.cfg.Loc)
	try := func(t queue.TicketView) bool { return t.Number == number && ok(t) }
	if t, found := e.TicketByNumber(number); found && try(t) {
		return t, true
	}
	n := int64(e.TicketCount())
	for id := n; id >= 1 && id > n-ticketScanMax; id-- {
		t, found := e.Ticket(id)
		if !found {
			continue
		}
		if t.IssuedAt.Before(since) {
			break
		}
		if try(t) {
			return t, true
		}
	}
	return queue.TicketView{}, false
}

func (c *Controller) ticketPage(e *queue.Engine, t queue.TicketView) TicketPage {
	p := TicketPage{Hall: c.cfg.Hall.Name, Number: t.Number, Item: t.Item, State: t.State.String(),
		IssuedAt: t.IssuedAt, IssuedLocal: t.IssuedAt.In(c.cfg.Loc).Format("2006-01-02 15:04"), NoShows: t.NoShows, CalledAt: t.CalledAt, At: c.clock.Now()}
	if it := c.cfg.Item(t.Item); it != nil {
		p.ItemName, p.Location = it.Name, it.Guide.Location
	}
	switch t.State {
	case queue.Waiting:
		if est, err := e.Estimate(t.ID, c.clock.Now()); err == nil {
			p.Ahead, p.WaitP50, p.WaitP90 = est.Ahead, etaS(est.P50S), etaS(est.P90S) // -1: no estimate
		}
	case queue.Called, queue.Serving:
		p.Window = t.Window
		if w := c.cfg.Window(t.Window); w != nil {
			p.Zone = w.Zone
		}
	case queue.Finished:
		p.Window = t.Window
	}
	return p
}

func validTicketNumber(s string) bool {
	if len(s) == 0 || len(s) > 9 {
		return false
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= '0' && ch <= '9':
			digits++
		case ch >= 'A' && ch <= 'Z' && digits == 0 && i < 4:
		default:
			return false
		}
	}
	return digits > 0
}

// RetryError is an error the caller may retry after After.
type RetryError struct {
	Err   error
	After time.Duration
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("%v; retry in %s", e.Err, e.After.Round(time.Second))
}

// Unwrap returns the cause.
func (e *RetryError) Unwrap() error { return e.Err }

// The rate limit on failed checks: each client address has a bucket of
// checkBurst failures that refills one every checkRefill. An address
// with an empty bucket is refused (no check is made, so guesses learn
// nothing) until a failure has refilled. IPv6 clients count per /64.
const (
	checkBurst   = 20
	checkRefill  = 10 * time.Second
	checkClients = 4096 // addresses remembered at most
)

// ticketPager holds the key and the rate limit of the ticket page.
type ticketPager struct {
	key []byte

	mu      sync.Mutex
	buckets map[string]checkBucket

	failures     prometheus.Counter
	limitedTotal prometheus.Counter
}

// checkBucket is a client's failures: spent, as of at.
type checkBucket struct {
	spent float64
	at    time.Time
}

func newTicketPager(o Options, log func(msg string)) *ticketPager {
	tp := &ticketPager{key: o.TicketKey, buckets: map[string]checkBucket{},
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "hallctl_ticket_check_failures_total",
			Help: "Ticket page requests whose check value d matched no ticket (wrong or missing d, unknown number)."}),
		limitedTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "hallctl_ticket_check_limited_total",
			Help: "Ticket page requests refused (429) because their client failed too many checks."}),
	}
	if len(tp.key) == 0 {
		// Links printed now will not survive a restart; hallctl/app
		// always passes the state directory's key.
		tp.key = make([]byte, 32)
		if _, err := rand.Read(tp.key); err != nil {
			panic(err)
		}
		log("no ticket-check key: printed QR links are valid until this process stops")
	}
	o.Registry.MustRegister(tp.failures, tp.limitedTotal)
	return tp
}

// level is how much of the bucket is spent at now.
func (b checkBucket) level(now time.Time) float64 {
	return max(0, b.spent-float64(now.Sub(b.at))/float64(checkRefill))
}

// limited says how long ip must wait (0 = not limited).
func (tp *ticketPager) limited(ip string, now time.Time) time.Duration {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	b, ok := tp.buckets[ip]
	if !ok {
		return 0
	}
	lv := b.level(now)
	if lv <= checkBurst-1 {
		return 0
	}
	return time.Duration((lv - (checkBurst - 1)) * float64(checkRefill))
}

// fail spends one failure of ip's bucket.
func (tp *ticketPager) fail(ip string, now time.Time) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	b, ok := tp.buckets[ip]
	if !ok && len(tp.buckets) >= checkClients {
		for k, ob := range tp.buckets {
			if ob.level(now) == 0 {
				delete(tp.buckets, k)
			}
		}
		if len(tp.buckets) >= checkClients {
			for k := range tp.buckets { // still full: forget one at random
				delete(tp.buckets, k)
				break
			}
		}
	}
	tp.buckets[ip] = checkBucket{spent: b.level(now) + 1, at: now}
}

// clientKey is the rate-limit key of a client address (keyrate.ClientKey).
func clientKey(client string) string { return keyrate.ClientKey(client) }
