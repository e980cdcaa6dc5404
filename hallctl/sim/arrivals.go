package sim

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
)

// Arrival is one row of an arrivals file: a ticket taken T seconds after
// the hall opens. ServiceS and NoShow are what the applicant will do; the
// simulator reads them only once the ticket is called (no clairvoyance).
type Arrival struct {
	T        float64
	Item     string
	Class    queue.Class
	ServiceS float64
	NoShow   bool
}

// ErrBadArrivals is wrapped by every arrivals-file problem.
var ErrBadArrivals = errors.New("bad arrivals file")

// ParseError names the file, line and column (key) of a bad row.
type ParseError struct {
	File   string
	Line   int
	Column string
	Msg    string
}

func (e *ParseError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Unwrap makes errors.Is(err, ErrBadArrivals) true.
func (e *ParseError) Unwrap() error { return ErrBadArrivals }

var header = []string{"t_s", "item", "class", "service_s", "no_show"}

// ReadArrivals reads an arrivals file (bench/README.md): header
// t_s,item,class,service_s,no_show, one ticket a row, in time order. Items
// must exist in cfg when cfg is not nil.
func ReadArrivals(path string, cfg *config.Config) ([]Arrival, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read arrivals: %w", err)
	}
	return ParseArrivals(path, b, cfg)
}

// ParseArrivals is ReadArrivals on bytes; name is used in errors.
func ParseArrivals(name string, b []byte, cfg *config.Config) ([]Arrival, error) {
	r := csv.NewReader(bufio.NewReader(bytes.NewReader(b)))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	bad := func(line int, col, format string, a ...any) error {
		return &ParseError{File: name, Line: line, Column: col, Msg: fmt.Sprintf(format, a...)}
	}
	rec, err := r.Read()
	if err == io.EOF {
		return nil, bad(1, "", "empty file: want header %s", strings.Join(header, ","))
	}
	if err != nil {
		return nil, csvErr(name, err)
	}
	if len(rec) != len(header) {
		return nil, bad(1, "", "header has %d columns, want %s", len(rec), strings.Join(header, ","))
	}
	for i, h := range header {
		got := strings.TrimSpace(rec[i])
		if i == 0 {
			got = strings.TrimPrefix(got, "\ufeff")
		}
		if got != h {
			return nil, bad(1, h, "header column %d is %q, want %q", i+1, rec[i], h)
		}
	}
	var items map[string]bool
	if cfg != nil {
		items = make(map[string]bool, len(cfg.Items))
		for _, it := range cfg.Items {
			items[it.Code] = true
		}
	}
	var out []Arrival
	last := 0.0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvErr(name, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != len(header) {
			return nil, bad(line, "", "%d columns, want %d (%s)", len(rec), len(header), strings.Join(header, ","))
		}
		var a Arrival
		if a.T, err = strconv.ParseFloat(strings.TrimSpace(rec[0]), 64); err != nil || math.IsNaN(a.T) || math.IsInf(a.T, 0) || a.T < 0 {
			return nil, bad(line, "t_s", "%q is not a non-negative number of seconds", rec[0])
		}
		if a.T < last {
			return nil, bad(line, "t_s", "%s is before the previous row (%g): rows must be in time order", rec[0], last)
		}
		last = a.T
		a.Item = strings.TrimSpace(rec[1])
		if a.Item == "" || (items != nil && !items[a.Item]) {
			return nil, bad(line, "item", "unknown item %q", rec[1])
		}
		a.Item = strings.Clone(a.Item)
		if a.Class, err = queue.ParseClass(strings.TrimSpace(rec[2])); err != nil {
			return nil, bad(line, "class", "%q is not walkin, appointment, green or elderly", rec[2])
		}
		if a.ServiceS, err = strconv.ParseFloat(strings.TrimSpace(rec[3]), 64); err != nil || math.IsNaN(a.ServiceS) || math.IsInf(a.ServiceS, 0) || a.ServiceS < 0 {
			return nil, bad(line, "service_s", "%q is not a non-negative number of seconds", rec[3])
		}
		switch strings.TrimSpace(rec[4]) {
		case "0":
		case "1":
			a.NoShow = true
		default:
			return nil, bad(line, "no_show", "%q must be 0 or 1", rec[4])
		}
		out = append(out, a)
	}
	return out, nil
}

func csvErr(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{File: name, Line: pe.Line, Column: columnName(pe.Column), Msg: pe.Err.Error()}
	}
	return &ParseError{File: name, Msg: err.Error()}
}

func columnName(c int) string {
	if c >= 1 && c <= len(header) {
		return header[c-1]
	}
	return fmt.Sprintf("column %d", c)
}

// LoadScenario reads a scenario file (a hall config with a scenario:
// section) and its arrivals.
func LoadScenario(path string) (*config.Config, []Arrival, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Scenario == nil {
		return nil, nil, fmt.Errorf("%s: scenario: section missing (a scenario is a hall config with scenario: {name, arrivals, walk_s, no_show_hold_s})", path)
	}
	arr, err := ReadArrivals(cfg.Scenario.ArrivalsPath, cfg)
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%s: scenario.arrivals: %w", path, err)
	}
	return cfg, arr, nil
}
