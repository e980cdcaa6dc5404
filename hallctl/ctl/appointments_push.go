package ctl

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
)

// The connector seam of the appointment book: an external booking
// platform pushes bookings and cancellations to POST
// /api/v1/appointments/push, signed with appointments.push_secret. The
// signature binds the method, the path, the time, a nonce and the body:
//
//	X-Servicehall-Timestamp: 1763717400   (Unix seconds)
//	X-Servicehall-Nonce:     16-64 of [A-Za-z0-9_-], never used before
//	X-Servicehall-Signature: sha256=hex(HMAC-SHA256(secret,
//	    METHOD "\n" PATH "\n" TIMESTAMP "\n" NONCE "\n" hex(SHA-256(body))))
//
// A timestamp more than PushMaxSkew from the controller's clock is
// refused; an accepted nonce is kept in the keyed table in the same unit
// as the change it made, so a replay is refused also after a restart (a
// nonce is dropped once its timestamp is too old to be accepted anyway).

// HeaderNonce carries a signed push's nonce (the scheme is shared with
// case-status pushes: casesys.PushCanonical).
const HeaderNonce = casesys.HeaderNonce

// PushMaxSkew is how far a push's timestamp may be from the controller's
// clock (the case system's casesys.MaxSkew).
const PushMaxSkew = casesys.MaxSkew

// nonceBucket keeps the nonces of accepted pushes (value: the timestamp).
const nonceBucket = "appointment-nonces"

// Push errors.
var (
	ErrPushesDisabled = errors.New("no appointments.push_secret is configured: pushes are refused")
	ErrPushUnsigned   = errors.New("push is not signed")
	ErrPushBadSig     = errors.New("push signature does not match")
	ErrPushSkew       = errors.New("push timestamp too far from now")
	ErrPushReplayed   = errors.New("push nonce already used")
	ErrPushBadRequest = errors.New("bad push")
)

func pushCode(err error) string {
	switch {
	case errors.Is(err, ErrPushesDisabled):
		return "pushes_disabled"
	case errors.Is(err, ErrPushUnsigned):
		return "unsigned"
	case errors.Is(err, ErrPushBadSig):
		return "bad_signature"
	case errors.Is(err, ErrPushSkew):
		return "signature_skew"
	case errors.Is(err, ErrPushReplayed):
		return "replayed_nonce"
	case errors.Is(err, ErrPushBadRequest):
		return "bad_request"
	}
	return ""
}

// PushRequest is a push as it came over HTTP (the web layer copies it).
type PushRequest struct {
	Method, Path string
	Timestamp    string // X-Servicehall-Timestamp
	Nonce        string // X-Servicehall-Nonce
	Signature    string // X-Servicehall-Signature
	Body         []byte
}

// AppointmentPush is the body of a push.
type AppointmentPush struct {
	Op      string       `json:"op"` // create | cancel
	Code    string       `json:"code"`
	Item    string       `json:"item,omitempty"`
	Slot    time.Time    `json:"slot,omitzero"`
	Expires time.Time    `json:"expires,omitzero"`
	Contact *PushContact `json:"contact,omitempty"`
	Reason  string       `json:"reason,omitempty"`
}

// PushContact is the contact a platform sends; the controller keeps only
// its masked form.
type PushContact struct {
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// PushResult is what a push did.
type PushResult struct {
	Appointment Appointment `json:"appointment"`
	Changed     bool        `json:"changed"`
}

// SignPush is the X-Servicehall-Signature value of a push.
func SignPush(secret []byte, method, path, timestamp, nonce string, body []byte) string {
	return casesys.SignPush(secret, method, path, timestamp, nonce, body)
}

// SignPushRequest sets a push's timestamp, nonce and signature headers
// (the booking platform's side; tests use it).
func SignPushRequest(req *http.Request, secret []byte, ts time.Time, nonce string, body []byte) {
	t := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set(casesys.HeaderTimestamp, t)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(casesys.HeaderSignature, SignPush(secret, req.Method, req.URL.Path, t, nonce, body))
}

// verify checks a push's signature and time; the nonce is checked in the
// unit that applies it.
func (b *book) verify(p PushRequest, now time.Time) (time.Time, error) {
	if b.key == nil {
		return time.Time{}, ErrPushesDisabled
	}
	if p.Timestamp == "" || p.Nonce == "" || p.Signature == "" {
		return time.Time{}, fmt.Errorf("%w: %s, %s and %s are required", ErrPushUnsigned,
			casesys.HeaderTimestamp, HeaderNonce, casesys.HeaderSignature)
	}
	if !casesys.ValidNonce(p.Nonce) {
		return time.Time{}, fmt.Errorf("%w: the nonce must be 16-64 letters, digits, _ or -", ErrPushUnsigned)
	}
	sec, err := strconv.ParseInt(p.Timestamp, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s is not Unix seconds", ErrPushBadSig, casesys.HeaderTimestamp)
	}
	want := SignPush(b.key, p.Method, p.Path, p.Timestamp, p.Nonce, p.Body)
	if !hmac.Equal([]byte(p.Signature), []byte(want)) {
		return time.Time{}, ErrPushBadSig
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > PushMaxSkew || d < -PushMaxSkew {
		return time.Time{}, fmt.Errorf("%w: off by %s", ErrPushSkew, d.Round(time.Second))
	}
	return ts, nil
}

// DecodeAppointmentPush reads a push body strictly (unknown fields and
// trailing data are errors).
func DecodeAppointmentPush(body []byte) (AppointmentPush, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var p AppointmentPush
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%w: %v", ErrPushBadRequest, err)
	}
	if dec.More() {
		return p, fmt.Errorf("%w: trailing data after the JSON object", ErrPushBadRequest)
	}
	switch p.Op {
	case "create":
		if p.Item == "" {
			return p, fmt.Errorf("%w: create needs item", ErrPushBadRequest)
		}
	case "cancel":
	default:
		return p, fmt.Errorf("%w: op %q (create or cancel)", ErrPushBadRequest, p.Op)
	}
	if len(p.Reason) > 600 || p.Contact != nil && (len(p.Contact.Name) > 200 || len(p.Contact.Phone) > 40) {
		return p, fmt.Errorf("%w: reason or contact too long", ErrPushBadRequest)
	}
	return p, nil
}

// Push applies a signed push from the booking platform: create (or
// re-book) or cancel an appointment. A refused push changes nothing and is
// counted by its code (servicehall_appointment_pushes_total).
func (c *Controller) Push(ctx context.Context, p PushRequest) (res PushResult, err error) {
	defer func() {
		outcome := "accepted"
		if err != nil {
			outcome = Code(err)
			c.log.Warn("appointment push refused", "code", outcome, "err", err)
		}
		c.appts.pushes.WithLabelValues(outcome).Inc()
	}()
	ts, err := c.appts.verify(p, c.clock.Now())
	if err != nil {
		return PushResult{}, err
	}
	body, err := DecodeAppointmentPush(p.Body)
	if err != nil {
		return PushResult{}, err
	}
	uerr := c.inUnit(ctx, func(u *unit) error {
		if _, used := c.appts.nonces[p.Nonce]; used {
			err = fmt.Errorf("%w: %s", ErrPushReplayed, p.Nonce)
			return nil
		}
		switch body.Op {
		case "create":
			bk := Booking{Code: body.Code, Item: body.Item, Slot: body.Slot, Expires: body.Expires, By: "push"}
			if ct := body.Contact; ct != nil {
				bk.Name, bk.Phone = ct.Name, ct.Phone
			}
			res.Appointment, res.Changed, err = c.book(u, bk)
		default:
			res.Appointment, res.Changed, err = c.cancel(u, body.Code, body.Reason, "push")
		}
		if err != nil {
			return nil
		}
		tsText, _ := ts.UTC().MarshalText()
		u.Put(nonceBucket, p.Nonce, tsText)
		c.appts.nonces[p.Nonce] = ts
		return nil
	})
	if uerr != nil {
		return PushResult{}, uerr
	}
	return res, err
}
