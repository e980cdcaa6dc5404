package config

import (
	"fmt"
	"strings"

	"github.com/servicehall/servicehall/internal/secret"
)

// Appointments tune the appointment book (docs/appointments.md): when a
// booking that was not checked in expires, and the key that signs pushes
// from an external booking platform. The zero value is the default:
// expiry 30 minutes after the slot, pushes refused.
type Appointments struct {
	// ExpireAfterMin: a booking not checked in by its slot plus this many
	// minutes expires (a check-in after it is refused); default 30.
	ExpireAfterMin int `yaml:"expire_after_min,omitempty"`
	// PushSecret or PushSecretFile (preferred: the file keeps the key out
	// of the config) is the HMAC-SHA256 key of POST
	// /api/v1/appointments/push, at least 16 bytes; none = pushes refused.
	PushSecret     string `yaml:"push_secret,omitempty"`
	PushSecretFile string `yaml:"push_secret_file,omitempty"`
}

// DefaultExpireAfterMin is appointments.expire_after_min's default.
const DefaultExpireAfterMin = 30

// minPushSecret is the shortest push key accepted.
const minPushSecret = 16

func (a *Appointments) applyDefaults() {
	if a.ExpireAfterMin == 0 {
		a.ExpireAfterMin = DefaultExpireAfterMin
	}
}

// problems checks the section (it reads the secret file, if any).
func (a Appointments) problems(add func(key, format string, args ...any)) {
	if a.ExpireAfterMin < 0 || a.ExpireAfterMin > 24*60 {
		add("appointments.expire_after_min", "%d must be 1 to 1440 minutes", a.ExpireAfterMin)
	}
	switch {
	case a.PushSecret != "" && a.PushSecretFile != "":
		add("appointments.push_secret", "set push_secret or push_secret_file, not both")
	case a.PushSecretFile != "":
		b, err := secret.Read(a.PushSecretFile)
		if err != nil {
			add("appointments.push_secret_file", "%v", err)
		} else if len(strings.TrimSpace(string(b))) < minPushSecret {
			add("appointments.push_secret_file", "secret is shorter than %d bytes", minPushSecret)
		}
	case a.PushSecret != "" && len(a.PushSecret) < minPushSecret:
		add("appointments.push_secret", "is shorter than %d bytes", minPushSecret)
	}
}

// PushKey is the key that signs appointment pushes (read from its file
// when set); nil when none is configured.
func (a Appointments) PushKey() ([]byte, error) {
	if a.PushSecretFile != "" {
		b, err := secret.Read(a.PushSecretFile)
		if err != nil {
			return nil, fmt.Errorf("appointments.push_secret_file: %w", err)
		}
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if a.PushSecret == "" {
		return nil, nil
	}
	return []byte(a.PushSecret), nil
}
