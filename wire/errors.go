package wire

import "errors"

// Limits of the contract.
const (
	// Version is the payload version this package writes and accepts ("v").
	Version = 1
	// MaxPayload is the largest payload either side accepts. A ticket print
	// command is well under 2 KiB; 64 KiB leaves room for receipts.
	MaxPayload = 64 << 10
	// MaxTopicLen bounds topic length before it is split.
	MaxTopicLen = 512
)

// Sentinel errors. Every error the decoders return wraps exactly one of
// these, so callers (and the rejection counters) can branch on the reason.
var (
	ErrOutsideRoot = errors.New("topic outside the root")
	ErrBadTopic    = errors.New("bad topic")
	ErrTooLarge    = errors.New("oversize payload")
	ErrMalformed   = errors.New("malformed payload")
	ErrVersion     = errors.New("unknown version")
	ErrMissingID   = errors.New("missing id")
	ErrInvalid     = errors.New("invalid field")
)

// Reason returns a short stable code for err, for log lines and the
// "reason" label of rejection counters.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrOutsideRoot):
		return "outside_root"
	case errors.Is(err, ErrBadTopic):
		return "bad_topic"
	case errors.Is(err, ErrTooLarge):
		return "oversize"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrVersion):
		return "unknown_version"
	case errors.Is(err, ErrMissingID):
		return "missing_id"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	}
	return "other"
}
