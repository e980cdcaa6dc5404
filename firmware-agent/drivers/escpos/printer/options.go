package printer

import (
	"errors"
	"fmt"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos"
	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos/ticket"
)

// Options are the printer's keys under `options:` in the agent config.
// Unset keys take the model's preset, then the defaults written here.
//
//	options: {model: generic-58, width_mm: 58, qr: raster, font: gb2312}
type Options struct {
	// Model names a preset of capabilities (see Presets): "generic"
	// (default), "generic-58", "emulator". The keys below override it.
	Model string `yaml:"model" default:"generic"`
	// WidthMM is the paper width: 58 or 80 (default 80).
	WidthMM int `yaml:"width_mm" default:"the model's (80)"`
	// QR is "native" (GS ( k, default) or "raster" (GS v 0 image, for
	// printers without 2-D code support).
	QR string `yaml:"qr" default:"the model's (native)"`
	// Font is what the resident font covers: gb2312, gbk (default) or
	// gb18030 (4-byte codes too). Characters outside it print as '?'.
	Font string `yaml:"font" default:"the model's (gbk)"`
	// QRSize is the QR module size in dots, 1..16 (default 6).
	QRSize int `yaml:"qr_size" default:"6"`
	// QREC is the QR error correction: L, M (default), Q or H.
	QREC string `yaml:"qr_ec" default:"M"`
	// FeedLines are fed before the cut (default 3).
	FeedLines int `yaml:"feed_lines" default:"3"`
	// Timezone is the hall's zone for the printed time (default
	// Asia/Shanghai; UTC+8 if the zone database is missing).
	Timezone string `yaml:"timezone" default:"Asia/Shanghai"`
	// ASB turns on Automatic Status Back (GS a 15) so faults are reported
	// as they happen, not only at the next poll. Off by default: not every
	// model implements it.
	ASB bool `yaml:"asb" default:"false"`
	// PollS is the status poll period in seconds (default 5).
	PollS float64 `yaml:"poll_s" default:"5"`
	// ReplyTimeoutMS bounds a DLE EOT status reply (default 1000).
	ReplyTimeoutMS int `yaml:"reply_timeout_ms" default:"1000"`
	// JobTimeoutS bounds printing a job until GS r 1 answers (default 20).
	JobTimeoutS float64 `yaml:"job_timeout_s" default:"20"`
}

// Presets are starting points per printer model. Which Chinese models
// support GS ( k, ASB or XON/XOFF is not verified (DEVICES.md §7): set the
// keys explicitly after testing a model.
var Presets = map[string]Options{
	"generic":    {WidthMM: 80, QR: "native", Font: "gbk"},
	"generic-58": {WidthMM: 58, QR: "raster", Font: "gb2312"},
	"emulator":   {WidthMM: 80, QR: "native", Font: "gb18030"},
}

// settings are validated Options.
type settings struct {
	layout  ticket.Layout
	asb     bool
	poll    time.Duration
	reply   time.Duration
	job     time.Duration
	model   string
	qrNativ bool
	widthMM int
}

func (o Options) settings() (settings, error) {
	model := o.Model
	if model == "" {
		model = "generic"
	}
	pre, ok := Presets[model]
	if !ok {
		return settings{}, fmt.Errorf("printer model %q is not one of generic, generic-58, emulator", o.Model)
	}
	if o.WidthMM == 0 {
		o.WidthMM = pre.WidthMM
	}
	if o.QR == "" {
		o.QR = pre.QR
	}
	if o.Font == "" {
		o.Font = pre.Font
	}
	var errs []error
	l, err := ticket.ForWidth(o.WidthMM)
	if err != nil {
		errs = append(errs, err)
	}
	switch o.QR {
	case "native":
		l.QRNative = true
	case "raster":
		l.QRNative = false
	default:
		errs = append(errs, fmt.Errorf("qr %q is not native or raster", o.QR))
	}
	if l.Font, err = escpos.ParseFont(o.Font); err != nil {
		errs = append(errs, err)
	}
	if o.QRSize != 0 {
		if o.QRSize < 1 || o.QRSize > 16 {
			errs = append(errs, fmt.Errorf("qr_size %d is not 1..16", o.QRSize))
		}
		l.QRSize = o.QRSize
	}
	if l.QREC, err = escpos.ParseECLevel(o.QREC); err != nil {
		errs = append(errs, err)
	}
	if o.FeedLines < 0 || o.FeedLines > 20 {
		errs = append(errs, fmt.Errorf("feed_lines %d is not 0..20", o.FeedLines))
	} else if o.FeedLines > 0 {
		l.FeedLines = o.FeedLines
	}
	tz := o.Timezone
	if tz == "" {
		tz = "Asia/Shanghai"
	}
	if loc, err := time.LoadLocation(tz); err == nil {
		l.Location = loc
	} else if o.Timezone != "" && o.Timezone != "Asia/Shanghai" {
		errs = append(errs, fmt.Errorf("timezone %q: %v", o.Timezone, err))
	}
	s := settings{layout: l, asb: o.ASB, model: model, qrNativ: l.QRNative, widthMM: o.WidthMM,
		poll: 5 * time.Second, reply: time.Second, job: 20 * time.Second}
	if o.PollS < 0 || o.ReplyTimeoutMS < 0 || o.JobTimeoutS < 0 {
		errs = append(errs, fmt.Errorf("poll_s, reply_timeout_ms and job_timeout_s must not be negative"))
	}
	if o.PollS > 0 {
		s.poll = time.Duration(o.PollS * float64(time.Second))
	}
	if o.ReplyTimeoutMS > 0 {
		s.reply = time.Duration(o.ReplyTimeoutMS) * time.Millisecond
	}
	if o.JobTimeoutS > 0 {
		s.job = time.Duration(o.JobTimeoutS * float64(time.Second))
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("printer options: %w", errors.Join(errs...))
	}
	return s, nil
}
