package casesys

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Two signature schemes share the headers below.
//
// Webhooks out (the outbox to the case system):
//
//	X-Servicehall-Timestamp: 1763717400            (Unix seconds, UTC)
//	X-Servicehall-Signature: sha256=<hex>           HMAC-SHA256(secret, timestamp + "." + body)
//	Idempotency-Key:         <event id>             (same on every retry)
//	X-Servicehall-Event:     ticket.called
//	X-Servicehall-Nonce:     new for every attempt
//	X-Servicehall-Signature-V2: sha256=hex(HMAC-SHA256(secret, PushCanonical("POST", PATH, TIMESTAMP, NONCE, body)))
//
// A receiver checks the timestamp is within MaxSkew of its clock, then the
// signature in constant time (Verify, or VerifyWebhook for the V2
// signature, which also binds the method and the receiver's path and may
// be checked against a store of used nonces), then de-duplicates by
// Idempotency-Key. Both signatures are sent on every webhook: V1 for
// receivers built against it, V2 for those that bind the request.
//
// Pushes in (a case-status push, an appointment push) are bound to what
// they change: the signature covers the method, the path (with the case
// serial), the time, a single-use nonce and the body's hash:
//
//	X-Servicehall-Timestamp: 1763717400            (Unix seconds, UTC)
//	X-Servicehall-Nonce:     16-64 of [A-Za-z0-9_-], new for every request
//	X-Servicehall-Signature: sha256=hex(HMAC-SHA256(secret, PushCanonical(...)))
//
// PushCanonical is METHOD "\n" PATH "\n" TIMESTAMP "\n" NONCE "\n"
// hex(SHA-256(body)). The receiver refuses a timestamp more than MaxSkew
// in the past or the future and a nonce it accepted before (kept
// durably for MaxSkew: a replay is refused also after a restart).
// docs/casesys.md has a worked example (TestPushSignatureVector).
const (
	HeaderTimestamp   = "X-Servicehall-Timestamp"
	HeaderSignature   = "X-Servicehall-Signature"
	HeaderNonce       = "X-Servicehall-Nonce"
	HeaderIdempotency = "Idempotency-Key"
	HeaderEvent       = "X-Servicehall-Event"
	// HeaderSignatureV2 is the webhook signature bound to the request
	// (method, path, time, nonce, body), as pushes are signed.
	HeaderSignatureV2 = "X-Servicehall-Signature-V2"
)

// MaxSkew is how far a signed request's timestamp may be from the
// receiver's clock.
const MaxSkew = 5 * time.Minute

// Signature errors.
var (
	ErrUnsigned     = errors.New("request is not signed")
	ErrBadSignature = errors.New("signature does not match")
	ErrSkew         = errors.New("signature timestamp too far from now")
	// ErrFuture: a push's timestamp lies more than MaxSkew ahead of the
	// receiver's clock (code signature_future).
	ErrFuture = errors.New("signature timestamp is in the future")
	// ErrReplayed: a push's nonce was accepted before (code
	// replayed_nonce).
	ErrReplayed = errors.New("push nonce already used")
)

// Sign returns the webhook signature header value for body at ts.
func Sign(secret []byte, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// SignRequest sets a webhook's timestamp, nonce and both signature
// headers on req (V1: timestamp and body; V2: bound to req's method and
// path as well, with the nonce).
func SignRequest(req *http.Request, secret []byte, ts time.Time, body []byte) {
	t := strconv.FormatInt(ts.Unix(), 10)
	nonce := NewNonce()
	req.Header.Set(HeaderTimestamp, t)
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))
	req.Header.Set(HeaderNonce, nonce)
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/" // what the receiver sees for a URL without a path
	}
	req.Header.Set(HeaderSignatureV2, SignPush(secret, req.Method, path, t, nonce, body))
}

// NewNonce is a fresh random nonce (22 characters of base64url).
func NewNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// VerifyWebhook is the receiver's check of a webhook's V2 signature for
// the method and path it was received at: the nonce's form, the
// signature in constant time, the time within MaxSkew either way. It
// returns the nonce, which a receiver may keep for MaxSkew to refuse a
// replayed request outright (the Idempotency-Key already makes a replay
// harmless).
func VerifyWebhook(h http.Header, secret []byte, method, path string, now time.Time, body []byte) (nonce string, err error) {
	hh := http.Header{}
	hh.Set(HeaderTimestamp, h.Get(HeaderTimestamp))
	hh.Set(HeaderNonce, h.Get(HeaderNonce))
	hh.Set(HeaderSignature, h.Get(HeaderSignatureV2))
	sp, err := VerifyPush(hh, secret, method, path, now, body)
	return sp.Nonce, err
}

// Verify checks a webhook's timestamp and signature headers for body.
func Verify(h http.Header, secret []byte, now time.Time, body []byte) error {
	tsStr, sig := h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if tsStr == "" || sig == "" {
		return fmt.Errorf("%w: %s and %s are required", ErrUnsigned, HeaderTimestamp, HeaderSignature)
	}
	sec, err := strconv.ParseInt(tsStr, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not Unix seconds", ErrBadSignature, HeaderTimestamp)
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > MaxSkew || d < -MaxSkew {
		return fmt.Errorf("%w: %s off by %s", ErrSkew, HeaderTimestamp, d.Round(time.Second))
	}
	want := Sign(secret, ts, body)
	if !strings.HasPrefix(sig, "sha256=") || !hmac.Equal([]byte(sig), []byte(want)) {
		return ErrBadSignature
	}
	return nil
}

// PushCanonical is the string a push's signature covers:
//
//	METHOD "\n" PATH "\n" TIMESTAMP "\n" NONCE "\n" hex(SHA-256(body))
//
// PATH is the request path as sent, with the case serial, without the
// query; TIMESTAMP the X-Servicehall-Timestamp header as sent.
func PushCanonical(method, path, timestamp, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	return method + "\n" + path + "\n" + timestamp + "\n" + nonce + "\n" + hex.EncodeToString(sum[:])
}

// PushMAC is the raw HMAC-SHA256 of a push's canonical string.
func PushMAC(secret []byte, method, path, timestamp, nonce string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(PushCanonical(method, path, timestamp, nonce, body)))
	return m.Sum(nil)
}

// SignPush is the X-Servicehall-Signature value of a push.
func SignPush(secret []byte, method, path, timestamp, nonce string, body []byte) string {
	return "sha256=" + hex.EncodeToString(PushMAC(secret, method, path, timestamp, nonce, body))
}

// SignPushRequest sets a push's timestamp, nonce and signature headers
// on req (the pushing system's side; tests use it). The path signed is
// req.URL.EscapedPath().
func SignPushRequest(req *http.Request, secret []byte, ts time.Time, nonce string, body []byte) {
	t := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set(HeaderTimestamp, t)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, SignPush(secret, req.Method, req.URL.EscapedPath(), t, nonce, body))
}

var nonceRe = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// ValidNonce reports whether s has a nonce's form (16-64 of A-Z a-z 0-9 _ -).
func ValidNonce(s string) bool { return nonceRe.MatchString(s) }

// SignedPush is a push whose signature and time VerifyPush accepted; the
// nonce is checked where the push is applied (Registry.SetStatusOnce).
type SignedPush struct {
	Nonce string
	At    time.Time // the signed timestamp
}

// VerifyPush checks a push's headers for method, path and body at now:
// all three headers present (a request signed the old way, without a
// nonce, is ErrUnsigned), the nonce's form, the signature in constant
// time, then the time: ErrSkew more than MaxSkew in the past, ErrFuture
// more than MaxSkew ahead.
func VerifyPush(h http.Header, secret []byte, method, path string, now time.Time, body []byte) (SignedPush, error) {
	tsStr, nonce, sig := h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSignature)
	if tsStr == "" || nonce == "" || sig == "" {
		return SignedPush{}, fmt.Errorf("%w: %s, %s and %s are required (the timestamp.body signature is no longer accepted)",
			ErrUnsigned, HeaderTimestamp, HeaderNonce, HeaderSignature)
	}
	if !ValidNonce(nonce) {
		return SignedPush{}, fmt.Errorf("%w: %s must be 16-64 letters, digits, _ or -", ErrUnsigned, HeaderNonce)
	}
	sec, err := strconv.ParseInt(tsStr, 10, 64)
	if err != nil {
		return SignedPush{}, fmt.Errorf("%w: %s is not Unix seconds", ErrBadSignature, HeaderTimestamp)
	}
	want := SignPush(secret, method, path, tsStr, nonce, body)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return SignedPush{}, ErrBadSignature
	}
	ts := time.Unix(sec, 0)
	switch d := now.Sub(ts); {
	case d > MaxSkew:
		return SignedPush{}, fmt.Errorf("%w: %s is %s old (at most %s)", ErrSkew, HeaderTimestamp, d.Round(time.Second), MaxSkew)
	case d < -MaxSkew:
		return SignedPush{}, fmt.Errorf("%w: %s is %s ahead of the receiver's clock (at most %s)", ErrFuture, HeaderTimestamp, (-d).Round(time.Second), MaxSkew)
	}
	return SignedPush{Nonce: nonce, At: ts}, nil
}
