package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicehall/servicehall/internal/secret"
)

// KeyDir is the key ring's directory inside the state directory: one
// file <kid>.key per key (64 hex digits, mode 0600, directory 0700).
const KeyDir = "token-keys"

// keyLen is a token key's length in bytes.
const keyLen = 32

// kidRE is what a kid may look like (also what a key file may be named).
var kidRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z-]{0,39}$`)

// ErrUnknownKey is returned by Retire for a kid not in the ring.
var ErrUnknownKey = errors.New("no such token key")

// Keys is the controller's token key ring. The newest key (greatest kid;
// kids are k<sequence>-<UTC creation time>) signs; every key in the ring
// verifies. A ring opened from a directory sees keys added (hallctl token
// rotate-key) and removed (--retire) by another process at the next
// Parse. Safe for concurrent use.
type Keys struct {
	dir  string // "" = in memory only
	aud  string
	city bool // a city view's ring: role city, CityAudience

	mu      sync.Mutex
	keys    map[string][]byte
	signing string
	dirMod  time.Time
	loadErr error

	refused *prometheus.CounterVec
}

func newKeys(dir, hall string) *Keys {
	return &Keys{dir: dir, aud: Audience(hall), keys: map[string][]byte{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "servicehall_token_refusals_total",
			Help: "Bearer tokens refused, by reason (expired, revoked, signature, unknown_key, audience, ...)."}, []string{"reason"})}
}

// Memory is a ring held in memory (tests, fuzzing): kid → key.
func Memory(hall string, keys map[string][]byte) *Keys {
	k := newKeys("", hall)
	for kid, key := range keys {
		k.keys[kid] = append([]byte(nil), key...)
	}
	k.pickSigning()
	return k
}

// MemoryCity is a city view's ring held in memory (tests): kid → key.
func MemoryCity(city string, keys map[string][]byte) *Keys {
	k := Memory("", keys)
	k.aud, k.city = CityAudience(city), true
	return k
}

// OpenCity opens the city view's key ring in stateDir/KeyDir (hallctl
// city): its tokens have the audience CityAudience(city), the role city
// and a halls claim; hall controllers refuse them, and it refuses
// theirs. With create, an empty or missing ring gets its first key.
func OpenCity(stateDir, city string, create bool) (*Keys, error) {
	k := newKeys(filepath.Join(stateDir, KeyDir), "")
	k.aud, k.city = CityAudience(city), true
	if err := k.load(); err != nil {
		return nil, err
	}
	if len(k.keys) == 0 {
		if !create {
			return nil, fmt.Errorf("city token key ring %s is empty (run hallctl city token once)", k.dir)
		}
		if _, err := k.Rotate(time.Now()); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Open opens the key ring in stateDir/KeyDir for hall. With create, an
// empty or missing ring gets its first key. A key file that group or
// others can access, or that is not a key, is an error.
func Open(stateDir, hall string, create bool) (*Keys, error) {
	k := newKeys(filepath.Join(stateDir, KeyDir), hall)
	if err := k.load(); err != nil {
		return nil, err
	}
	if len(k.keys) == 0 {
		if !create {
			return nil, fmt.Errorf("token key ring %s is empty (start hallctl serve once, or run hallctl token rotate-key)", k.dir)
		}
		if _, err := k.Rotate(time.Now()); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Dir is the ring's directory ("" in memory).
func (k *Keys) Dir() string { return k.dir }

// Collector is the refusal counter, for the controller's registry.
func (k *Keys) Collector() prometheus.Collector { return k.refused }

// Refused counts a refusal decided outside Parse (a revoked subject).
func (k *Keys) Refused(reason string) { k.refused.WithLabelValues(reason).Inc() }

// load reads the directory (caller holds mu or owns k).
func (k *Keys) load() error {
	fi, err := os.Stat(k.dir)
	if errors.Is(err, os.ErrNotExist) {
		k.keys, k.signing = map[string][]byte{}, ""
		return nil
	}
	if err != nil {
		return fmt.Errorf("token key ring: %w", err)
	}
	ents, err := os.ReadDir(k.dir)
	if err != nil {
		return fmt.Errorf("token key ring: %w", err)
	}
	keys := map[string][]byte{}
	for _, e := range ents {
		kid, ok := strings.CutSuffix(e.Name(), ".key")
		if !ok || e.IsDir() {
			continue
		}
		path := filepath.Join(k.dir, e.Name())
		if !kidRE.MatchString(kid) {
			return fmt.Errorf("token key file %s: name is not a key id", path)
		}
		b, err := secret.Read(path)
		if err != nil {
			return fmt.Errorf("token key: %w", err)
		}
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < keyLen {
			return fmt.Errorf("token key file %s is not %d hex-encoded bytes", path, keyLen)
		}
		keys[kid] = key
	}
	k.keys, k.dirMod = keys, fi.ModTime()
	k.pickSigning()
	return nil
}

func (k *Keys) pickSigning() {
	k.signing = ""
	for kid := range k.keys {
		if kid > k.signing {
			k.signing = kid
		}
	}
}

// refresh reloads the ring when its directory changed (caller holds mu).
// A ring that fails to load verifies nothing until it loads again: a key
// file made readable to others is no longer trusted.
func (k *Keys) refresh() {
	if k.dir == "" {
		return
	}
	fi, err := os.Stat(k.dir)
	if err == nil && fi.ModTime().Equal(k.dirMod) && k.loadErr == nil {
		return
	}
	if k.loadErr = k.load(); k.loadErr != nil {
		k.keys, k.signing = map[string][]byte{}, ""
	}
}

// key returns kid's key, nil if unknown.
func (k *Keys) key(kid string) []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refresh()
	return k.keys[kid]
}

// Rotate adds a new key, which signs from now on; older keys keep
// verifying until retired. It returns the new kid.
func (k *Keys) Rotate(now time.Time) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := make([]byte, keyLen)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	// kid: a sequence number above every kid in the ring, then the UTC
	// creation time; kids sort in creation order whatever the clock does.
	seq := 1
	if n, ok := kidSeq(k.signing); ok {
		seq = n + 1
	}
	for range 5 {
		kid := fmt.Sprintf("k%04d-%s", seq, now.UTC().Format("20060102T150405Z"))
		if k.dir == "" {
			k.keys[kid] = key
			k.pickSigning()
			return kid, nil
		}
		err := secret.Create(filepath.Join(k.dir, kid+".key"), []byte(hex.EncodeToString(key)+"\n"))
		if secret.IsExist(err) {
			seq++
			continue
		}
		if err != nil {
			return "", fmt.Errorf("token key: %w", err)
		}
		if err := k.load(); err != nil {
			return "", err
		}
		return kid, nil
	}
	return "", errors.New("token key: could not pick a new key id")
}

// kidSeq is the sequence number of a kid made by Rotate.
func kidSeq(kid string) (int, bool) {
	var n int
	if _, err := fmt.Sscanf(kid, "k%04d-", &n); err != nil {
		return 0, false
	}
	return n, true
}

// Retire removes kid from the ring: tokens it signed are refused from the
// next request on. The signing (newest) key cannot be retired; rotate
// first.
func (k *Keys) Retire(kid string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refresh()
	if _, ok := k.keys[kid]; !ok || !kidRE.MatchString(kid) {
		return fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	if kid == k.signing {
		return fmt.Errorf("token key %s signs new tokens; run hallctl token rotate-key first", kid)
	}
	if k.dir == "" {
		delete(k.keys, kid)
		return nil
	}
	if err := os.Remove(filepath.Join(k.dir, kid+".key")); err != nil {
		return fmt.Errorf("retire token key: %w", err)
	}
	return k.load()
}

// KeyInfo describes one key of the ring (never its bytes).
type KeyInfo struct {
	KID     string
	Signing bool
}

// List is the ring's kids, oldest first.
func (k *Keys) List() []KeyInfo {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refresh()
	var out []KeyInfo
	for kid := range k.keys {
		out = append(out, KeyInfo{KID: kid, Signing: kid == k.signing})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].KID < out[j].KID })
	return out
}

// Sign makes a token of c with the signing key. c needs a role, a subject,
// a window for clerks, Issued and Expires no further apart than the
// role's MaxTTL.
func (k *Keys) Sign(c Claims) (string, error) {
	if err := c.check(k.city); err != nil {
		return "", err
	}
	k.mu.Lock()
	k.refresh()
	kid, key := k.signing, k.keys[k.signing]
	k.mu.Unlock()
	if key == nil {
		return "", errors.New("token key ring has no key")
	}
	jc := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{k.aud},
			IssuedAt:  jwt.NewNumericDate(time.Unix(c.Issued, 0)),
			ExpiresAt: jwt.NewNumericDate(time.Unix(c.Expires, 0)),
			ID:        c.Session,
		},
		Role: c.Role, Window: c.Window,
	}
	if k.city {
		jc.Halls = c.Halls
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jc)
	t.Header["kid"] = kid
	return t.SignedString(key)
}

// Parse verifies tok at now and returns its claims; refusals are counted
// by Reason. It is the one token check: the API's bearer tokens and the
// browser session both go through it. Revocation is checked by the
// caller (ctl.SubjectDisabled).
func (k *Keys) Parse(tok string, now time.Time) (Claims, error) {
	c, err := k.parse(tok, now)
	if err != nil {
		k.refused.WithLabelValues(Reason(err)).Inc()
	}
	return c, err
}

var errNoKey = errors.New("unknown kid")

func (k *Keys) parse(tok string, now time.Time) (Claims, error) {
	if tok == "" || len(tok) > MaxTokenLen {
		return Claims{}, refuse("malformed")
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(k.aud),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithStrictDecoding(),
	)
	var jc jwtClaims
	var kid string
	t, err := p.ParseWithClaims(tok, &jc, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		key := k.key(kid)
		if key == nil {
			return nil, errNoKey
		}
		return key, nil
	})
	if err != nil {
		switch {
		case errors.Is(err, errNoKey):
			return Claims{}, refuse("unknown_key")
		case t != nil && t.Header != nil && t.Header["alg"] != jwt.SigningMethodHS256.Alg():
			return Claims{}, refuse("algorithm")
		case errors.Is(err, jwt.ErrTokenMalformed):
			return Claims{}, refuse("malformed")
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			return Claims{}, refuse("signature")
		case jc.ExpiresAt == nil && errors.Is(err, jwt.ErrTokenInvalidClaims):
			return Claims{}, refuse("no_expiry")
		case errors.Is(err, jwt.ErrTokenInvalidAudience), errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && len(jc.Audience) == 0:
			return Claims{}, refuse("audience")
		case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && jc.Issuer == "":
			return Claims{}, refuse("issuer")
		case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			return Claims{}, refuse("issued_in_future")
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			return Claims{}, refuse("not_yet_valid")
		case errors.Is(err, jwt.ErrTokenExpired):
			return Claims{}, &refusal{reason: "expired", base: ErrTokenExpired}
		}
		return Claims{}, refuse("claims")
	}
	c := Claims{Role: jc.Role, Window: jc.Window, Subject: jc.Subject, KeyID: kid, Expires: jc.ExpiresAt.Unix(), Session: jc.ID}
	if k.city {
		c.Halls = jc.Halls
	}
	if jc.IssuedAt == nil {
		return Claims{}, refuse("claims")
	}
	c.Issued = jc.IssuedAt.Unix()
	switch {
	case !roleOK(k.city, c.Role), c.Role == RoleClerk && c.Window <= 0:
		return Claims{}, refuse("role")
	case k.city && !validHalls(c.Halls):
		return Claims{}, refuse("halls")
	case !ValidSubject(c.Subject):
		return Claims{}, refuse("no_subject")
	case c.Expires <= c.Issued || time.Duration(c.Expires-c.Issued)*time.Second > MaxTTL(c.Role):
		return Claims{}, refuse("lifetime")
	}
	return c, nil
}
