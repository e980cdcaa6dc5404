package ctl

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/internal/keyrate"
)

// The public case look-up (GET /api/v1/cases/{serial}?k=… and the
// receipt's QR page /c/{serial}?k=…) needs the serial AND the check code
// printed on the acceptance receipt: CaseCheckDigits decimal digits of an
// HMAC-SHA256, keyed with the hall's case-check key (CaseKeyFile, a key
// of its own: one key per purpose), over the hall id and the serial.
//
// Why 8 digits are enough: every look-up takes one token of its client's
// limits.lookups_per_min (default 20 a minute, so 28,800 a day), and a
// guess of a code hits with probability 10⁻⁸ whatever serial it aims at
// (serials are predictable). One address finds a case in about 10,000
// years on average (3·10⁻⁴ a day, ~0.1 a year); a hundred addresses in
// about a century — and what a hit shows is a status and dates, no
// personal data. Digits type on the kiosk's keypad.
//
// A wrong or missing code, an unknown serial and a malformed one all get
// the same answer (ErrCaseNotFound: 404 unknown_case), after the same
// work (the code is checked before the store is read), so the answer is
// no oracle for which serials exist.

// CaseCheckDigits is the length of a case's check code.
const CaseCheckDigits = 8

// CaseKeyFile is the name of the case-check key file in the state
// directory (hallctl/app creates it, mode 0600, on first start).
const CaseKeyFile = "case-check.key"

// Case look-up errors.
var (
	// ErrCaseNotFound: no case with that serial and check code (one error
	// for unknown, malformed, wrong or missing code).
	ErrCaseNotFound = errors.New("no case with that serial and check code")
	// ErrLookupLimited: the client made too many look-ups; try later.
	ErrLookupLimited = errors.New("too many case look-ups")
)

// CaseCheck is the check code of serial in hall (CaseCheckDigits digits).
func CaseCheck(key []byte, hall, serial string) string {
	m := hmac.New(sha256.New, key)
	// Length-prefixed fields: no two (hall, serial) pairs hash the same bytes.
	for _, f := range []string{"servicehall-case-v1", hall, serial} {
		m.Write([]byte(strconv.Itoa(len(f)) + ":" + f))
	}
	n := binary.BigEndian.Uint64(m.Sum(nil)[:8]) % 100_000_000
	return fmt.Sprintf("%0*d", CaseCheckDigits, n)
}

// NormalizeCaseCheck drops the spaces and dashes a person may type
// between the digits ("1234 5678").
func NormalizeCaseCheck(k string) string {
	return strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(k))
}

// VerifyCaseCheck reports (in constant time) whether k is serial's code.
func VerifyCaseCheck(key []byte, hall, serial, k string) bool {
	k = NormalizeCaseCheck(k)
	want := CaseCheck(key, hall, serial)
	return len(k) == len(want) && hmac.Equal([]byte(k), []byte(want))
}

// CaseURL is the link a receipt's QR code carries: base/c/<serial>?k=<code>.
func CaseURL(base, serial, check string) string {
	return strings.TrimRight(base, "/") + "/c/" + url.PathEscape(serial) + "?k=" + check
}

// caseLookups holds the key, the per-client limit and the counters of
// the public look-up.
type caseLookups struct {
	key   []byte
	lim   *keyrate.Set
	count *prometheus.CounterVec
}

func newCaseLookups(key []byte, perMin int, reg prometheus.Registerer, warn func(string)) *caseLookups {
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			panic(err)
		}
		warn("no case-check key: printed receipt codes are valid until this process stops")
	}
	if perMin <= 0 {
		perMin = 20
	}
	l := &caseLookups{key: key, lim: keyrate.New(perMin, perMin, checkClients),
		count: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "servicehall_case_lookups_total",
			Help: "Public case look-ups by outcome: found, refused (unknown serial or wrong/missing check code: 404), rate_limited (429)."},
			[]string{"outcome"})}
	for _, o := range []string{"found", "refused", "rate_limited"} {
		l.count.WithLabelValues(o)
	}
	reg.MustRegister(l.count)
	return l
}

// CaseCheck is the check code printed on serial's receipt.
func (c *Controller) CaseCheck(serial string) string {
	if c.cases == nil || c.cases.lookups == nil {
		return ""
	}
	return CaseCheck(c.cases.lookups.key, c.cfg.Hall.ID, serial)
}

// CaseLookup is the public look-up of a case by serial and check code k
// for the client at address client: status and dates only, never notes.
// Every look-up takes one of the client's limits.lookups_per_min; over
// it, a *RetryError wrapping ErrLookupLimited (no check is made). A
// wrong code, an unknown or malformed serial: ErrCaseNotFound.
func (c *Controller) CaseLookup(ctx context.Context, serial, k, client string) (casesys.PublicProgress, error) {
	if c.cases == nil || c.cases.reg == nil || c.cases.lookups == nil {
		return casesys.PublicProgress{}, ErrCasesOff
	}
	l := c.cases.lookups
	if ok, wait := l.lim.Allow(clientKey(client), c.clock.Now()); !ok {
		l.count.WithLabelValues("rate_limited").Inc()
		return casesys.PublicProgress{}, &RetryError{Err: ErrLookupLimited, After: wait}
	}
	refuse := func() (casesys.PublicProgress, error) {
		l.count.WithLabelValues("refused").Inc()
		return casesys.PublicProgress{}, ErrCaseNotFound
	}
	if !VerifyCaseCheck(l.key, c.cfg.Hall.ID, serial, k) {
		return refuse()
	}
	if _, err := casesys.ParseSerial(serial); err != nil {
		return refuse()
	}
	cas, err := c.cases.reg.Get(ctx, serial)
	if errors.Is(err, casesys.ErrUnknownCase) {
		return refuse()
	}
	if err != nil {
		return casesys.PublicProgress{}, err
	}
	l.count.WithLabelValues("found").Inc()
	return casesys.PublicProgressOf(cas), nil
}
