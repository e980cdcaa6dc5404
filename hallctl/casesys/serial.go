package casesys

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Serial numbers (统一业务流水号).
//
// Format: <region 6 digits><item code><YYYYMMDD><sequence 6 digits>, e.g.
// 440300HR-00120261121000042. The date is the local date of acceptance in
// the hall's time zone; the sequence counts every case the hall accepted
// that day (all items together) from 000001, so a serial is unique in the
// hall even when one item code is a prefix of another. The fixed-width
// head and tail make a serial parseable from both ends; within an item,
// serials sort in acceptance order, and (Date, Seq) orders any two.

// SerialSeqMax is the last sequence of a day.
const SerialSeqMax = 999999

// Serial errors.
var (
	ErrBadSerial   = errors.New("malformed serial number")
	ErrSerialsFull = errors.New("the day's serial sequence is exhausted")
	ErrBadItemCode = errors.New("item code cannot be used in a serial number")
)

var itemCodePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,40}$`)

// SerialParts is a parsed serial number.
type SerialParts struct {
	Region string
	Item   string
	Date   string // YYYYMMDD
	Seq    int
}

// String formats the parts as a serial number.
func (p SerialParts) String() string {
	return fmt.Sprintf("%s%s%s%06d", p.Region, p.Item, p.Date, p.Seq)
}

// ParseSerial splits a serial number into its parts.
func ParseSerial(s string) (SerialParts, error) {
	if len(s) < 6+1+8+6 || len(s) > 6+40+8+6 {
		return SerialParts{}, fmt.Errorf("%w: %q has the wrong length", ErrBadSerial, s)
	}
	p := SerialParts{Region: s[:6], Item: s[6 : len(s)-14], Date: s[len(s)-14 : len(s)-6]}
	if !regionPattern.MatchString(p.Region) {
		return SerialParts{}, fmt.Errorf("%w: %q: region is not 6 digits", ErrBadSerial, s)
	}
	if !itemCodePattern.MatchString(p.Item) {
		return SerialParts{}, fmt.Errorf("%w: %q: bad item code", ErrBadSerial, s)
	}
	if _, err := time.Parse("20060102", p.Date); err != nil {
		return SerialParts{}, fmt.Errorf("%w: %q: bad date", ErrBadSerial, s)
	}
	seq, err := strconv.Atoi(s[len(s)-6:])
	if err != nil || seq < 1 || s[len(s)-6] == '+' || s[len(s)-6] == '-' {
		return SerialParts{}, fmt.Errorf("%w: %q: bad sequence", ErrBadSerial, s)
	}
	p.Seq = seq
	return p, nil
}

// Serials hands out serial numbers. Its state is the last day and
// sequence issued; rebuild it after a restart by passing every issued
// serial (the "accepted" records of CaseStream) to Observe. It is a pure
// value: not safe for concurrent use, no clock of its own.
type Serials struct {
	region string
	loc    *time.Location
	day    string
	seq    int
}

// NewSerials starts a counter for a hall (region "" = DefaultRegion).
func NewSerials(region string, loc *time.Location) (*Serials, error) {
	if region == "" {
		region = DefaultRegion
	}
	if !regionPattern.MatchString(region) {
		return nil, fmt.Errorf("%w: region %q must be 6 digits", ErrConfig, region)
	}
	if loc == nil {
		loc = time.UTC
	}
	return &Serials{region: region, loc: loc}, nil
}

// Next returns the serial number for a case of item accepted at now.
func (s *Serials) Next(now time.Time, item string) (string, error) {
	if !itemCodePattern.MatchString(item) {
		return "", fmt.Errorf("%w: %q", ErrBadItemCode, item)
	}
	day := now.In(s.loc).Format("20060102")
	seq := 1
	switch {
	case day == s.day:
		seq = s.seq + 1
	case day < s.day:
		// The clock stepped back across midnight: keep counting on the
		// newer day rather than reuse a sequence.
		day, seq = s.day, s.seq+1
	}
	if seq > SerialSeqMax {
		return "", ErrSerialsFull
	}
	s.day, s.seq = day, seq
	return SerialParts{Region: s.region, Item: item, Date: day, Seq: seq}.String(), nil
}

// Observe moves the counter past an issued serial (replay).
func (s *Serials) Observe(serial string) error {
	p, err := ParseSerial(serial)
	if err != nil {
		return err
	}
	if p.Date > s.day || (p.Date == s.day && p.Seq > s.seq) {
		s.day, s.seq = p.Date, p.Seq
	}
	return nil
}

// Last is the last day (YYYYMMDD) and sequence handed out.
func (s *Serials) Last() (day string, seq int) { return s.day, s.seq }
