// Package auth issues and verifies the hall's bearer tokens.
//
// A token is a JWT (RFC 7519) signed HS256 with one key of the
// controller's key ring (keys.go), named by the `kid` header. Its claims:
// `iss` "hallctl", `aud` "servicehall:<hall id>", `sub` the staff id, `iat`,
// a required `exp`, and the private claims `role` and `window`. Lifetimes
// are short and capped per role (MaxTTL). The hall secret that kiosks
// hold for ID hashing signs nothing: token keys live only on the
// controller (docs/tokens.md).
//
// Keys.Parse is the one verification function; it refuses tokens without
// exp, with another audience or issuer, an unknown kid, any algorithm but
// HS256 (alg none included), a lifetime over the role's cap, or no
// subject. Revocation (a disabled subject) is the controller's: see
// ctl.SubjectDisabled.
package auth

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// The roles of DESIGN.md.
const (
	RoleKiosk   = "kiosk"
	RoleClerk   = "clerk"
	RoleManager = "manager"
	RoleAdmin   = "admin"
	// RoleCity reads the city view (hallctl/city) across halls; only a
	// city key ring (OpenCity) signs or accepts it, never a hall's.
	RoleCity = "city"
)

// Issuer is every token's `iss`.
const Issuer = "hallctl"

// Audience is the `aud` of a hall's tokens: a token for one hall is
// refused by another.
func Audience(hall string) string { return "servicehall:" + hall }

// CityAudience is the `aud` of a city view's tokens: "servicehall-city:"
// and the city id, never a hall's audience.
func CityAudience(city string) string { return "servicehall-city:" + city }

// AllHalls in a city token's halls claim lets it read every hall.
const AllHalls = "*"

// Leeway is the clock skew allowed on exp and iat.
const Leeway = 30 * time.Second

// MaxTokenLen bounds a token's length; longer ones are refused unparsed.
const MaxTokenLen = 2048

// MaxSubjectLen bounds a subject, in characters.
const MaxSubjectLen = 64

// Claims is what a token says.
type Claims struct {
	Role    string
	Window  int    // clerk tokens: the window they act for
	Subject string // staff id shown in the audit log; the unit of revocation
	Issued  int64  // Unix seconds
	Expires int64  // Unix seconds; required
	KeyID   string // the kid that signed it (set by Parse)
	// Session is the token's jti: set on staff sign-in sessions
	// (hallctl/web signin.go) so that signing out ends that one session.
	Session string
	// Halls are the hall ids a city token may read (AllHalls: every
	// hall); required on city tokens, ignored by hall controllers.
	Halls []string
}

// MaxHalls bounds a city token's halls claim.
const MaxHalls = 200

// CanRead reports whether city claims c may read hall.
func (c Claims) CanRead(hall string) bool {
	for _, h := range c.Halls {
		if h == AllHalls || h == hall {
			return true
		}
	}
	return false
}

// Errors. Parse's errors wrap ErrBadToken or ErrTokenExpired; Reason
// gives the refusal's metric label. No error contains the token.
var (
	ErrBadToken     = errors.New("malformed or wrongly signed token")
	ErrTokenExpired = errors.New("token expired")
	ErrTokenRevoked = errors.New("token's subject is disabled")
	ErrBadRole      = errors.New("role must be kiosk, clerk, manager or admin")
	ErrBadSubject   = errors.New("subject must be 1 to 64 letters, digits or . _ - @ :")
	ErrTTL          = errors.New("token lifetime is over its role's cap")
)

// ValidRole reports whether r is a role.
func ValidRole(r string) bool {
	switch r {
	case RoleKiosk, RoleClerk, RoleManager, RoleAdmin:
		return true
	}
	return false
}

// ValidSubject reports whether s can be a token's subject: 1 to
// MaxSubjectLen letters (any script), digits or . _ - @ : — safe in a URL
// path segment, a log line and the audit log.
func ValidSubject(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxSubjectLen {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("._-@:", r) {
			return false
		}
	}
	return true
}

// MaxTTL is the longest lifetime a role's token may have: admin 1 h,
// clerk, manager and city 12 h (a shift), kiosk 30 days (a device).
func MaxTTL(role string) time.Duration {
	switch role {
	case RoleAdmin:
		return time.Hour
	case RoleClerk, RoleManager, RoleCity:
		return 12 * time.Hour
	case RoleKiosk:
		return 30 * 24 * time.Hour
	}
	return 0
}

// DefaultTTL is the lifetime `hallctl token` gives without --ttl: the cap.
func DefaultTTL(role string) time.Duration { return MaxTTL(role) }

// DefaultSubject is the subject `hallctl token` gives without --subject:
// "clerk@<window>" for clerks, else the role's name. Disabling it revokes
// every token minted without a subject for that role (or window).
func DefaultSubject(role string, window int) string {
	if role == RoleClerk {
		return "clerk@" + strconv.Itoa(window)
	}
	return role
}

// ErrBadHalls: a city token without halls, or with a bad hall id.
var ErrBadHalls = errors.New("a city token needs 1 to 200 hall ids (or *)")

// validHalls reports whether hs can be a city token's halls claim.
func validHalls(hs []string) bool {
	if len(hs) == 0 || len(hs) > MaxHalls {
		return false
	}
	for _, h := range hs {
		if h != AllHalls && !ValidSubject(h) {
			return false
		}
	}
	return true
}

// roleOK reports whether a ring accepts role: a city ring only RoleCity,
// a hall's ring only the hall roles.
func roleOK(city bool, role string) bool {
	if city {
		return role == RoleCity
	}
	return ValidRole(role)
}

// check validates claims being signed by a hall's (city false) or a
// city's ring.
func (c Claims) check(city bool) error {
	if !roleOK(city, c.Role) {
		if city {
			return errors.New("a city key ring signs only role city")
		}
		return ErrBadRole
	}
	if city && !validHalls(c.Halls) {
		return ErrBadHalls
	}
	if c.Role == RoleClerk && c.Window <= 0 {
		return errors.New("a clerk token needs a window (--window N)")
	}
	if !ValidSubject(c.Subject) {
		return ErrBadSubject
	}
	if c.Issued <= 0 || c.Expires <= c.Issued {
		return errors.New("a token needs an issue time and a later expiry")
	}
	if time.Duration(c.Expires-c.Issued)*time.Second > MaxTTL(c.Role) {
		return ErrTTL
	}
	return nil
}

// jwtClaims is the JSON of a token.
type jwtClaims struct {
	jwt.RegisteredClaims
	Role   string   `json:"role"`
	Window int      `json:"window,omitempty"`
	Halls  []string `json:"halls,omitempty"`
}

// refusal is a Parse error with its metric label.
type refusal struct {
	reason string
	base   error
}

func (r *refusal) Error() string { return r.base.Error() + " (" + r.reason + ")" }
func (r *refusal) Unwrap() error { return r.base }

func refuse(reason string) error { return &refusal{reason: reason, base: ErrBadToken} }

// Reason is the refusal's label for err from Parse: malformed, algorithm,
// unknown_key, signature, no_expiry, expired, audience, issuer,
// issued_in_future, not_yet_valid, claims, lifetime, no_subject, role,
// revoked; "" for nil.
func Reason(err error) string {
	var r *refusal
	switch {
	case err == nil:
		return ""
	case errors.As(err, &r):
		return r.reason
	case errors.Is(err, ErrTokenRevoked):
		return "revoked"
	case errors.Is(err, ErrTokenExpired):
		return "expired"
	}
	return "malformed"
}
