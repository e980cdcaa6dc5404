package ctl

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/servicehall/servicehall/wire"
)

// ID-card reads go only to the kiosk session that asked for them
// (docs/devices.md, "How card reads flow"): the kiosk page opens a card
// session for its agent's reader and gets a secret; a read on that reader
// goes to the session's one listener, and a ticket takes the card only
// with the session's secret. Nothing else (the public stream, another
// client) ever sees a card read. Card reads are moments, not history:
// they are never logged or stored.

// CardEvent is an ID card read on a kiosk's reader, as the kiosk gets it:
// the masked name and number and whether the elderly priority applies.
// The keyed hash and the birth year stay on the server (the masked number
// with the birth year would narrow the ID down to a few dozen numbers).
type CardEvent struct {
	Agent      string    `json:"agent"`
	Device     string    `json:"device"`
	At         time.Time `json:"at"`
	IDHash     string    `json:"-"`
	MaskedID   string    `json:"masked_id"`
	MaskedName string    `json:"masked_name"`
	BirthYear  int       `json:"-"`
	Elderly    bool      `json:"elderly"`
}

// cardTTL is how long an ID card read stays usable on its kiosk.
const cardTTL = 60 * time.Second

// cardSessionIdle is how long a card session outlives its listener (a
// kiosk page that reconnects keeps its session); until then no other
// session can be opened for the reader.
const cardSessionIdle = 30 * time.Second

// Card-session errors.
var (
	ErrCardSessionBusy = errors.New("the kiosk's reader has a live card session")
	ErrCardSession     = errors.New("unknown card session or wrong secret")
	ErrNoReader        = errors.New("no ID-card reader on this kiosk agent")
)

// CardSession is what the kiosk page keeps: its id and secret.
type CardSession struct {
	ID     string `json:"session"`
	Secret string `json:"secret"`
	Agent  string `json:"agent"`
	IdleS  int    `json:"idle_s"`
}

type cardSession struct {
	id       string
	secret   [32]byte // SHA-256 of the secret
	agent    string
	ch       chan CardEvent // the one listener, nil when none
	lastSeen time.Time
	last     *CardEvent
}

// cardHub holds the card sessions, one per kiosk agent.
type cardHub struct {
	mu      sync.Mutex
	byAgent map[string]*cardSession
	byID    map[string]*cardSession
	closed  bool
}

func newCardHub() *cardHub {
	return &cardHub{byAgent: map[string]*cardSession{}, byID: map[string]*cardSession{}}
}

// close forgets every session and card (the controller ended).
func (h *cardHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, s := range h.byID {
		if s.ch != nil {
			close(s.ch)
		}
	}
	clear(h.byAgent)
	clear(h.byID)
}

func (s *cardSession) live(now time.Time) bool {
	return s.ch != nil || now.Sub(s.lastSeen) < cardSessionIdle
}

// OpenCardSession opens the card session of a kiosk agent's reader. It is
// refused while another session of that reader is live (its page is
// connected, or was within cardSessionIdle).
func (c *Controller) OpenCardSession(agent string) (CardSession, error) {
	if len(c.bus.Find(func(a string, d wire.DeviceInfo) bool {
		return a == agent && d.Kind == wire.KindIDReader && d.Window == 0
	})) == 0 {
		return CardSession{}, ErrNoReader
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return CardSession{}, fmt.Errorf("card session secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	now := c.clock.Now()
	s := &cardSession{id: wire.NewID(now), secret: sha256.Sum256([]byte(secret)), agent: agent, lastSeen: now}
	h := c.cardHub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return CardSession{}, ErrUnavailable
	}
	if old, ok := h.byAgent[agent]; ok {
		if old.live(now) {
			return CardSession{}, ErrCardSessionBusy
		}
		delete(h.byID, old.id)
	}
	h.byAgent[agent], h.byID[s.id] = s, s
	return CardSession{ID: s.id, Secret: secret, Agent: agent, IdleS: int(cardSessionIdle / time.Second)}, nil
}

// session finds a session by id and secret. The caller holds h.mu.
func (h *cardHub) session(id, secret string) (*cardSession, bool) {
	s, ok := h.byID[id]
	if !ok {
		return nil, false
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], s.secret[:]) != 1 {
		return nil, false
	}
	return s, true
}

// CardReads is the listener of a card session: the reads of its reader
// (buffered, dropped when full). A new listener replaces the previous
// one (its channel is closed). Call stop when the page goes.
func (c *Controller) CardReads(id, secret string, n int) (<-chan CardEvent, func(), error) {
	h := c.cardHub
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.session(id, secret)
	if !ok || h.closed {
		return nil, nil, ErrCardSession
	}
	if s.ch != nil {
		close(s.ch)
	}
	ch := make(chan CardEvent, max(n, 1))
	s.ch = ch
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if s.ch == ch {
			close(ch)
			s.ch = nil
			s.lastSeen = c.clock.Now()
		}
	}, nil
}

// TakeCard uses (and forgets) the card last read for the session of the
// kiosk agent, if it was read within the last minute and the secret is
// the session's.
func (c *Controller) TakeCard(agent, id, secret string) (CardEvent, bool) {
	h := c.cardHub
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.session(id, secret)
	if !ok || s.agent != agent || s.last == nil || c.clock.Now().Sub(s.last.At) > cardTTL {
		return CardEvent{}, false
	}
	ce := *s.last
	s.last = nil
	return ce, true
}

// OnCard hands a kiosk reader's ID-card read to the live card session of
// its agent, and to no one else; without one it is dropped. The raw
// record (card.Raw) never comes here.
func (c *Controller) OnCard(agent, device string, card wire.Card) {
	now := c.clock.Now()
	ev := CardEvent{Agent: agent, Device: device, At: now, IDHash: card.IDHash,
		MaskedID: card.MaskedID, MaskedName: card.MaskedName, BirthYear: card.BirthYear}
	ev.Elderly = c.desk.elderly(&ev, now)
	h := c.cardHub
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.byAgent[agent]
	if h.closed || !ok || !s.live(now) {
		c.metrics.Rejected("card", "no_session")
		return
	}
	s.last = &ev
	if s.ch != nil {
		select {
		case s.ch <- ev:
		default:
		}
	}
}

// checkRaw refuses a card's raw record unless it may go somewhere: a
// reader at a window, with the case connector's outbox on (which sends it
// over TLS and never stores it).
func (c *Controller) checkRaw(window int, cd wire.Card) error {
	if cd.Raw == nil {
		return nil
	}
	if window == 0 || c.cases == nil || c.cases.outbox == nil {
		return fmt.Errorf("%w: card.raw is not allowed here (only at a window with the case connector on)", wire.ErrInvalid)
	}
	return nil
}
