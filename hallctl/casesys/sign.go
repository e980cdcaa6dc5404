package casesys

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Signature headers, the same both ways (webhooks out, status pushes in).
//
//	X-Servicehall-Timestamp: 1763717400            (Unix seconds, UTC)
//	X-Servicehall-Signature: sha256=<hex>           HMAC-SHA256(secret, timestamp + "." + body)
//	Idempotency-Key:         <event id>             (webhooks; same on every retry)
//	X-Servicehall-Event:     ticket.called          (webhooks)
//
// A receiver checks the timestamp is within MaxSkew of its clock, then the
// signature in constant time, then de-duplicates by Idempotency-Key.
const (
	HeaderTimestamp   = "X-Servicehall-Timestamp"
	HeaderSignature   = "X-Servicehall-Signature"
	HeaderIdempotency = "Idempotency-Key"
	HeaderEvent       = "X-Servicehall-Event"
)

// MaxSkew is how far a signed request's timestamp may be from the
// receiver's clock.
const MaxSkew = 5 * time.Minute

// Signature errors.
var (
	ErrUnsigned     = errors.New("request is not signed")
	ErrBadSignature = errors.New("signature does not match")
	ErrSkew         = errors.New("signature timestamp too far from now")
)

// Sign returns the signature header value for body at ts.
func Sign(secret []byte, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// SignRequest sets the timestamp and signature headers on req.
func SignRequest(req *http.Request, secret []byte, ts time.Time, body []byte) {
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))
}

// Verify checks a request's timestamp and signature headers for body.
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
