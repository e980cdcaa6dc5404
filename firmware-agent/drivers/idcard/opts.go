package idcard

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/idcardemu"
	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/sam"
	"github.com/servicehall/servicehall/internal/mqtturl"
)

// Opts are the driver's `options:` in the agent config. Every field has a
// working default (DefaultOpts).
type Opts struct {
	// Raw adds the full name and ID number (wire.Card.Raw) to evt/card for
	// the hall's case connector. Off by default. The agent must refuse it
	// unless its MQTT url is TLS: see CheckTransport.
	Raw bool `yaml:"raw"`
	// Poll is the find-card interval. Default 500ms (DEVICES.md §2.5:
	// 300–1000 ms).
	Poll time.Duration `yaml:"poll"`
	// Timeout bounds replies to status, find and select. Default 500ms.
	Timeout time.Duration `yaml:"timeout"`
	// ReadTimeout bounds the 1295-byte read reply. Default 1500ms.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// MaxMisses unanswered or garbled replies in a row mark the reader
	// offline and reopen the port. Default 3.
	MaxMisses int `yaml:"max_misses"`
	// Repeat ignores the same card read again within this time after its
	// event (a card wobbling at the edge of the field). Default 2s; 0 off.
	Repeat time.Duration `yaml:"repeat"`
	// Emulator configures the built-in emulator when the device has
	// `emulate: true`.
	Emulator EmulatorOpts `yaml:"emulator"`
}

// EmulatorOpts configure the emulated reader of `emulate: true`.
type EmulatorOpts struct {
	// Card is the emulated card; default idcardemu.DemoCard().
	Card *CardSpec `yaml:"card"`
	// Present puts the card in the field at start. Default true.
	Present bool `yaml:"present"`
	// Cycle removes the card and presents it again every Cycle, so a demo
	// hall sees a card event now and then. Default 0: never.
	Cycle time.Duration `yaml:"cycle"`
}

// CardSpec is an emulated card's record (fake data only).
type CardSpec struct {
	Name      string `yaml:"name"`
	Sex       string `yaml:"sex"` // 1 male, 2 female
	Nation    string `yaml:"nation"`
	Birth     string `yaml:"birth"` // YYYYMMDD
	Address   string `yaml:"address"`
	ID        string `yaml:"id"`
	Issuer    string `yaml:"issuer"`
	ValidFrom string `yaml:"valid_from"`
	ValidTo   string `yaml:"valid_to"` // YYYYMMDD or 长期
}

// Identity converts the spec.
func (c CardSpec) Identity() sam.Identity {
	return sam.Identity{Name: c.Name, Sex: c.Sex, Nation: c.Nation, Birth: c.Birth, Address: c.Address,
		ID: c.ID, Issuer: c.Issuer, ValidFrom: c.ValidFrom, ValidTo: c.ValidTo}
}

// DefaultOpts returns the defaults.
func DefaultOpts() Opts {
	return Opts{
		Poll:        500 * time.Millisecond,
		Timeout:     500 * time.Millisecond,
		ReadTimeout: 1500 * time.Millisecond,
		MaxMisses:   3,
		Repeat:      2 * time.Second,
		Emulator:    EmulatorOpts{Present: true},
	}
}

// Validate lists every problem.
func (o Opts) Validate() error {
	var errs []error
	if o.Poll <= 0 {
		errs = append(errs, errors.New("poll must be > 0"))
	}
	if o.Timeout <= 0 {
		errs = append(errs, errors.New("timeout must be > 0"))
	}
	if o.ReadTimeout <= 0 {
		errs = append(errs, errors.New("read_timeout must be > 0"))
	}
	if o.MaxMisses < 1 {
		errs = append(errs, errors.New("max_misses must be >= 1"))
	}
	if o.Repeat < 0 {
		errs = append(errs, errors.New("repeat must be >= 0"))
	}
	if o.Emulator.Cycle < 0 {
		errs = append(errs, errors.New("emulator.cycle must be >= 0"))
	}
	if c := o.Emulator.Card; c != nil {
		if _, err := sam.EncodeText(c.Identity()); err != nil {
			errs = append(errs, fmt.Errorf("emulator.card: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ErrRawNeedsTLS refuses raw: true over a plain MQTT connection.
var ErrRawNeedsTLS = errors.New("idcard: options.raw needs a TLS MQTT url (tls://, ssl://, tcps://, mqtts://, mqtt+ssl:// or wss://)")

// DecodeOpts decodes and validates a device's options over the defaults.
func DecodeOpts(cfg device.Config) (Opts, error) {
	o := DefaultOpts()
	if err := cfg.DecodeOptions(&o); err != nil {
		return o, err
	}
	if err := o.Validate(); err != nil {
		return o, fmt.Errorf("device %s: options: %w", cfg.ID, err)
	}
	return o, nil
}

// CheckTransport is the agent's start-up check for an idcard-reader: with
// options.raw true, the raw name and number would travel on MQTT, so the
// broker url must be TLS. The driver cannot check this itself (Env has no
// url); the agent calls it for every device of kind idcard-reader while
// validating its config and refuses to start on an error. Devices of
// other kinds and raw: false always pass.
func CheckTransport(cfg device.Config, mqttURL string) error {
	if cfg.Kind != Kind {
		return nil
	}
	o, err := DecodeOpts(cfg)
	if err != nil {
		return err
	}
	if !o.Raw {
		return nil
	}
	// mqtt.url may list several brokers (a cluster): every one must be TLS.
	parts := mqtturl.Split(mqttURL)
	if len(parts) == 0 {
		return fmt.Errorf("device %s: %w: no broker URL", cfg.ID, ErrRawNeedsTLS)
	}
	for _, p := range parts {
		u, err := url.Parse(p)
		if err != nil {
			return fmt.Errorf("device %s: %w: %v", cfg.ID, ErrRawNeedsTLS, err)
		}
		if !mqtturl.TLS(u) {
			return fmt.Errorf("device %s: %w (got %s://)", cfg.ID, ErrRawNeedsTLS, u.Scheme)
		}
	}
	return nil
}

func (e EmulatorOpts) card() sam.Identity {
	if e.Card != nil {
		return e.Card.Identity()
	}
	return idcardemu.DemoCard()
}
