package casesys

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	secretfile "github.com/servicehall/servicehall/internal/secret"
)

// Config is the hall config's `case_system:` section. The zero value is a
// working hall: the built-in case registry, no webhook, default thresholds.
type Config struct {
	// Region is the 6-digit administrative division code (行政区划代码)
	// that starts every serial number. Default "000000".
	Region string `yaml:"region,omitempty"`
	// Webhook sends case events to an external case system. Absent = the
	// built-in case registry only (nothing leaves the hall).
	Webhook *Webhook `yaml:"webhook,omitempty"`
	// InboundSecret / InboundSecretFile sign status pushes to the inbound
	// API when there is no webhook (with a webhook, its secret is used for
	// both directions). Empty = status changes only from the manager.
	InboundSecret     string `yaml:"inbound_secret,omitempty"`
	InboundSecretFile string `yaml:"inbound_secret_file,omitempty"`
	// RawIdentity sends the ID reader's full record (name, ID number) to
	// the case system. It is held in memory only, never stored. Default off.
	RawIdentity bool `yaml:"raw_identity,omitempty"`
	// FollowUpDays is the whole deadline, in working days after the
	// rating, to follow up a rating of 2 or less. 0 (the default): the sum
	// of the hall config's ratings.steps_days (1 + 3 + 1).
	FollowUpDays int `yaml:"follow_up_days,omitempty"`
	// Supervision tunes the 电子监察 alerts.
	Supervision Supervision `yaml:"supervision,omitempty"`
}

// Webhook is the external case system's endpoint.
type Webhook struct {
	// URL receives every case event as a POST (http or https).
	URL string `yaml:"url"`
	// Secret or SecretFile is the HMAC-SHA256 key (at least 16 bytes).
	Secret     string `yaml:"secret,omitempty"`
	SecretFile string `yaml:"secret_file,omitempty"`
	// TimeoutS bounds one delivery attempt. Default 10.
	TimeoutS float64 `yaml:"timeout_s,omitempty"`
	// MaxAttempts before an event goes to the dead-letter list. Default 10.
	MaxAttempts int `yaml:"max_attempts,omitempty"`
	// BackoffS is the first retry delay; each retry doubles it up to
	// MaxBackoffS. Defaults 2 and 600.
	BackoffS    float64 `yaml:"backoff_s,omitempty"`
	MaxBackoffS float64 `yaml:"max_backoff_s,omitempty"`
	// Workers is how many cases are delivered at once. Default 8.
	Workers int `yaml:"workers,omitempty"`
}

// Supervision tunes the 电子监察 alerts. Zero values take the defaults.
type Supervision struct {
	// WaitMin is the longest acceptable wait in minutes; default 30.
	WaitMin float64 `yaml:"wait_min,omitempty"`
	// ItemWaitMin overrides WaitMin per item code.
	ItemWaitMin map[string]float64 `yaml:"item_wait_min,omitempty"`
	// PauseMin is how long a window may stay paused; default 15.
	PauseMin float64 `yaml:"pause_min,omitempty"`
	// DueSoonDays: a promised case due within this many working days is
	// "due soon"; default 1.
	DueSoonDays int `yaml:"due_soon_days,omitempty"`
	// NoShowRate is the per-clerk no-show share of today's calls that is
	// unusual (with at least NoShowMinCalls calls, and at least
	// NoShowFactor times the rest of the hall's rate); defaults 0.25, 10, 2.
	NoShowRate     float64 `yaml:"no_show_rate,omitempty"`
	NoShowMinCalls int     `yaml:"no_show_min_calls,omitempty"`
	NoShowFactor   float64 `yaml:"no_show_factor,omitempty"`

	// URL receives the 电子监察 events (supervision.alert, .pause,
	// .followup) through an outbox of their own, signed with Secret or
	// SecretFile (≥ 16 bytes). Empty: they go to the case webhook, if
	// any. The secret (or else the webhook's) also signs the daily
	// export file (hallctl cases supervision-export).
	URL        string `yaml:"url,omitempty"`
	Secret     string `yaml:"secret,omitempty"`
	SecretFile string `yaml:"secret_file,omitempty"`
}

// Holiday is one entry of the hall config's `holidays:` list: a public
// holiday (off) or, with work: true, a make-up working day (调休) that
// falls on a weekend.
type Holiday struct {
	Date string `yaml:"date"` // YYYY-MM-DD
	Name string `yaml:"name,omitempty"`
	Work bool   `yaml:"work,omitempty"`
}

// Defaults.
const (
	DefaultRegion       = "000000"
	DefaultFollowUpDays = 3 // follow_up_days' default before issue 14 (now the steps' sum)
)

// WithDefaults returns c with every default filled in.
func (c Config) WithDefaults() Config {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if w := c.Webhook; w != nil {
		cp := *w
		if cp.TimeoutS == 0 {
			cp.TimeoutS = 10
		}
		if cp.MaxAttempts == 0 {
			cp.MaxAttempts = 10
		}
		if cp.BackoffS == 0 {
			cp.BackoffS = 2
		}
		if cp.MaxBackoffS == 0 {
			cp.MaxBackoffS = 600
		}
		if cp.Workers == 0 {
			cp.Workers = 8
		}
		c.Webhook = &cp
	}
	s := &c.Supervision
	if s.WaitMin == 0 {
		s.WaitMin = 30
	}
	if s.PauseMin == 0 {
		s.PauseMin = 15
	}
	if s.DueSoonDays == 0 {
		s.DueSoonDays = 1
	}
	if s.NoShowRate == 0 {
		s.NoShowRate = 0.25
	}
	if s.NoShowMinCalls == 0 {
		s.NoShowMinCalls = 10
	}
	if s.NoShowFactor == 0 {
		s.NoShowFactor = 2
	}
	return c
}

// ErrConfig is wrapped by every *ConfigError.
var ErrConfig = errors.New("invalid case_system config")

// ConfigError lists every problem of a case_system section (keys relative
// to the hall config's root, e.g. "case_system.webhook.url").
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%v: %s", ErrConfig, strings.Join(e.Problems, "; "))
}

// Unwrap makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Unwrap() error { return ErrConfig }

var regionPattern = regexp.MustCompile(`^[0-9]{6}$`)

// MinSecretLen is the shortest HMAC secret accepted.
const MinSecretLen = 16

// Validate checks the section and the holiday list; known lists every
// item code of the hall (for supervision.item_wait_min). It reads secret
// files to check they exist and are long enough.
func (c Config) Validate(holidays []Holiday, known func(item string) bool) error {
	var ps []string
	add := func(key, format string, a ...any) {
		ps = append(ps, key+": "+fmt.Sprintf(format, a...))
	}
	if c.Region != "" && !regionPattern.MatchString(c.Region) {
		add("case_system.region", "%q must be 6 digits (行政区划代码)", c.Region)
	}
	if w := c.Webhook; w != nil {
		checkURL(add, "case_system.webhook.url", w.URL)
		checkSecret(add, "case_system.webhook", w.Secret, w.SecretFile, true)
		if w.TimeoutS < 0 {
			add("case_system.webhook.timeout_s", "must not be negative")
		}
		if w.MaxAttempts < 0 {
			add("case_system.webhook.max_attempts", "must not be negative")
		}
		if w.BackoffS < 0 || w.MaxBackoffS < 0 {
			add("case_system.webhook.backoff_s", "backoff_s and max_backoff_s must not be negative")
		}
		if w.MaxBackoffS > 0 && w.BackoffS > w.MaxBackoffS {
			add("case_system.webhook.backoff_s", "%v is above max_backoff_s %v", w.BackoffS, w.MaxBackoffS)
		}
		if w.Workers < 0 || w.Workers > 256 {
			add("case_system.webhook.workers", "must be 1..256")
		}
	}
	if c.InboundSecret != "" || c.InboundSecretFile != "" {
		checkSecret(add, "case_system", c.InboundSecret, c.InboundSecretFile, false)
	}
	if c.FollowUpDays < 0 {
		add("case_system.follow_up_days", "must not be negative")
	}
	s := c.Supervision
	if s.URL != "" {
		checkURL(add, "case_system.supervision.url", s.URL)
		checkSecret(add, "case_system.supervision", s.Secret, s.SecretFile, c.Webhook == nil)
	} else if s.Secret != "" || s.SecretFile != "" {
		checkSecret(add, "case_system.supervision", s.Secret, s.SecretFile, false)
	}
	if s.WaitMin < 0 || s.PauseMin < 0 || s.DueSoonDays < 0 || s.NoShowMinCalls < 0 || s.NoShowFactor < 0 {
		add("case_system.supervision", "thresholds must not be negative")
	}
	if s.NoShowRate < 0 || s.NoShowRate > 1 {
		add("case_system.supervision.no_show_rate", "must be between 0 and 1")
	}
	for code, v := range s.ItemWaitMin {
		if known != nil && !known(code) {
			add("case_system.supervision.item_wait_min."+code, "unknown item")
		}
		if v <= 0 {
			add("case_system.supervision.item_wait_min."+code, "must be positive")
		}
	}
	if _, err := NewCalendar(holidays); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ps = append(ps, ce.Problems...)
		} else {
			add("holidays", "%v", err)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return &ConfigError{Problems: ps}
}

func checkURL(add func(key, format string, a ...any), key, raw string) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		add(key, "is empty")
	case err != nil:
		add(key, "%q is not a URL: %v", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		add(key, "%q must be http:// or https://", raw)
	case u.Host == "":
		add(key, "%q has no host", raw)
	case u.User != nil:
		add(key, "must not carry credentials (the HMAC secret authenticates)")
	}
}

func checkSecret(add func(key, format string, a ...any), key, secret, file string, required bool) {
	switch {
	case secret != "" && file != "":
		add(key, "set secret or secret_file, not both")
	case secret == "" && file == "":
		if required {
			add(key+".secret", "a webhook needs secret or secret_file (HMAC-SHA256 key)")
		}
	case file != "":
		b, err := secretfile.Read(file)
		if err != nil {
			add(key+".secret_file", "%v", err)
		} else if len(strings.TrimSpace(string(b))) < MinSecretLen {
			add(key+".secret_file", "secret is shorter than %d bytes", MinSecretLen)
		}
	case len(secret) < MinSecretLen:
		add(key+".secret", "is shorter than %d bytes", MinSecretLen)
	}
}

// WebhookSecret returns the webhook's HMAC key (read from its file if
// set), or nil when there is no webhook.
func (c Config) WebhookSecret() ([]byte, error) {
	if c.Webhook == nil {
		return nil, nil
	}
	return readSecret(c.Webhook.Secret, c.Webhook.SecretFile)
}

// SupervisionWebhook is the 电子监察 endpoint with the case webhook's
// tuning (or the defaults), or nil when case_system.supervision.url is
// unset (supervision events then go with the case events, if any).
func (c Config) SupervisionWebhook() *Webhook {
	if c.Supervision.URL == "" {
		return nil
	}
	w := Webhook{}
	if c.Webhook != nil {
		w = *c.Webhook
	}
	w.URL, w.Secret, w.SecretFile = c.Supervision.URL, "", ""
	return Config{Webhook: &w}.WithDefaults().Webhook
}

// SupervisionSecret is the key that signs supervision events and the
// daily export: case_system.supervision's secret, else the webhook's;
// nil when neither is set.
func (c Config) SupervisionSecret() ([]byte, error) {
	if s := c.Supervision; s.Secret != "" || s.SecretFile != "" {
		return readSecret(s.Secret, s.SecretFile)
	}
	return c.WebhookSecret()
}

// InboundKey is the key that signs inbound status pushes: the webhook's
// secret if there is a webhook, else the inbound secret; nil = inbound
// pushes are refused.
func (c Config) InboundKey() ([]byte, error) {
	if c.Webhook != nil {
		return c.WebhookSecret()
	}
	if c.InboundSecret == "" && c.InboundSecretFile == "" {
		return nil, nil
	}
	return readSecret(c.InboundSecret, c.InboundSecretFile)
}

func readSecret(s, file string) ([]byte, error) {
	if file == "" {
		return []byte(s), nil
	}
	b, err := secretfile.Read(file)
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

func (w Webhook) timeout() time.Duration { return secs(w.TimeoutS) }

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
