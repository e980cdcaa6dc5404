// Package config is the hall config of hallctl: the typed form of the YAML
// in DESIGN.md ("Configuration"), its defaults, and Validate, which lists
// every problem with the file, line and key. Unknown keys are errors.
//
// The same file format serves the live controller, `hallctl check`, and the
// simulator's scenario files (which add a `scenario:` section).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/hallctl/queue"
)

// Config is a whole hall config file.
type Config struct {
	Hall        Hall         `yaml:"hall"`
	Departments []Department `yaml:"departments"`
	Items       []Item       `yaml:"items"`
	Windows     []Window     `yaml:"windows"`
	// Queue tunes the engine; every field has a default (see DefaultQueue).
	Queue Queue `yaml:"queue,omitempty"`
	// Server is how hallctl serve runs; env MQTT_ADDR and HTTP_ADDR override.
	Server Server `yaml:"server,omitempty"`
	// Leases are the blocks of ticket numbers dispensers issue while they
	// cannot reach the controller; every field has a default.
	Leases Leases `yaml:"leases,omitempty"`
	// Appointments tune the appointment book; every field has a default.
	Appointments Appointments `yaml:"appointments,omitempty"`
	// Agents are the enrolled firmware-agents and what each may drive
	// (agents.go); the controller believes no other claim.
	Agents []Agent `yaml:"agents,omitempty"`
	// Limits bound what outsiders can consume (limits.go); every field
	// has a safe default.
	Limits Limits `yaml:"limits,omitempty"`
	// Staff sign in to the clerk and manager consoles (staff.go).
	Staff []Staff `yaml:"staff,omitempty"`
	// Scenario is present only in simulator scenario files.
	Scenario *Scenario `yaml:"scenario,omitempty"`
	// Screen is the hall screen's layout and colours (screen.go) and
	// Announce the spoken calls' templates and zone languages
	// (announce.go); every field has a default. (issue 11, hall screen)
	Screen   Screen   `yaml:"screen,omitempty"`
	Announce Announce `yaml:"announce,omitempty"`
	// Ratings are the 差评 reasons and the follow-up steps' deadlines
	// (ratings.go); every field has a default. (issue 14)
	Ratings Ratings `yaml:"ratings,omitempty"`
	// CaseSystem is the `case_system:` section and Holidays the
	// `holidays:` list. Their types live in hallctl/casesys (which imports
	// this package), so they are kept as YAML here; hallctl/ctl decodes
	// them (DecodeSection, ctl.CaseConfig), and callers pass ctl.CheckConfig
	// to Load or Parse as a Check, so problems are reported with file, line
	// and key like the rest.
	CaseSystem yaml.Node `yaml:"case_system,omitempty"`
	Holidays   yaml.Node `yaml:"holidays,omitempty"`

	// Path is the file the config was loaded from ("" when parsed from bytes).
	Path string `yaml:"-"`
	// Warnings are what Validate found that does not make the config
	// invalid (items no window serves, windows that serve nothing).
	Warnings []Problem `yaml:"-"`
	// Loc is the time zone named by Hall.Timezone.
	Loc  *time.Location `yaml:"-"`
	root *yaml.Node
}

// Hall identifies the hall.
type Hall struct {
	ID       string `yaml:"id"`       // [a-z0-9-], used in MQTT topics
	Name     string `yaml:"name"`     // shown on tickets and screens
	Timezone string `yaml:"timezone"` // day boundaries; default Asia/Shanghai
	Hours    Hours  `yaml:"hours"`    // default 09:00–17:00
}

// Hours is one open interval, "HH:MM" local time.
type Hours struct {
	Open  string `yaml:"open"`
	Close string `yaml:"close"`
}

// OpenMin and CloseMin are minutes after local midnight (-1 if unparsable).
func (h Hours) OpenMin() int  { return clockMin(h.Open) }
func (h Hours) CloseMin() int { return clockMin(h.Close) }

// Department is a 部门.
type Department struct {
	Code string `yaml:"code"`
	Name string `yaml:"name"`
}

// Item is a 事项.
type Item struct {
	Code        string `yaml:"code"`
	Name        string `yaml:"name"`
	Dept        string `yaml:"dept"`
	Prefix      string `yaml:"prefix"`
	Kind        string `yaml:"kind"` // immediate | promised
	PromiseDays int    `yaml:"promise_days"`
	ServiceS    int    `yaml:"service_s"` // prior for estimates; default 300
	Guide       Guide  `yaml:"guide,omitempty"`
	GuideEN     Guide  `yaml:"guide_en,omitempty"` // issue 11: the guide in English for the kiosk's English mode (optional)
}

// Guide is the 办事指南 shown on kiosks.
type Guide struct {
	Conditions string   `yaml:"conditions"`
	Materials  []string `yaml:"materials"`
	Fee        string   `yaml:"fee"`
	Location   string   `yaml:"location"`
}

// Window is a 窗口.
type Window struct {
	Number int      `yaml:"number"`
	Dept   string   `yaml:"dept"`
	Serves []string `yaml:"serves"` // "*", item codes, or "dept:XX"
	Backup []string `yaml:"backup"` // same forms, taken when waits escalate
	Zone   string   `yaml:"zone"`
	Hours  []Hours  `yaml:"hours,omitempty"` // default: the hall's hours
}

// NoDifference reports whether the window serves every item (无差别).
func (w Window) NoDifference() bool {
	for _, s := range w.Serves {
		if s == "*" {
			return true
		}
	}
	return false
}

// Queue tunes the engine. Zero values take the defaults in DefaultQueue.
type Queue struct {
	// HeadStartMin is each class's head start in minutes (linear aging:
	// score = minutes waited + head start). Classes: walkin, appointment,
	// green, elderly.
	HeadStartMin map[string]float64 `yaml:"head_start_min,omitempty"`
	// HeadStartShare is each class's head start as a share (0–1) of its
	// line's current wait at issue (how long the line's longest waiter has
	// waited): a ticket gets the larger of this and HeadStartMin, so
	// priority keeps its weight when every wait is long (docs/queue.md).
	HeadStartShare map[string]float64 `yaml:"head_start_share,omitempty"`
	// HeadStartMaxMin caps a wait-proportional head start, in minutes.
	HeadStartMaxMin float64 `yaml:"head_start_max_min,omitempty"`
	// EscalateAfterS: a backup item becomes eligible for a window when its
	// head ticket has waited this long.
	EscalateAfterS int `yaml:"escalate_after_s,omitempty"`
	// NoShowRequeueAfter: a no-show ticket goes back behind this many
	// waiting tickets (0 = void at once).
	NoShowRequeueAfter int `yaml:"no_show_requeue_after,omitempty"`
	// NoShowVoidAfter: the n-th no-show voids the ticket.
	NoShowVoidAfter int `yaml:"no_show_void_after,omitempty"`
	// ElderlyAge is the age from which an ID card gives the elderly class.
	ElderlyAge int `yaml:"elderly_age,omitempty"`
	// MaxOvertake bounds how many later tickets may be called before a
	// waiting one (starvation guard).
	MaxOvertake int `yaml:"max_overtake,omitempty"`
}

// DefaultQueue are the engine defaults.
var DefaultQueue = Queue{
	HeadStartMin:       map[string]float64{"walkin": 0, "appointment": 5, "elderly": 10, "green": 30},
	HeadStartShare:     map[string]float64{"walkin": 0, "appointment": 0, "elderly": 0.25, "green": 0.75},
	HeadStartMaxMin:    60,
	EscalateAfterS:     900,
	NoShowRequeueAfter: 3,
	NoShowVoidAfter:    2,
	ElderlyAge:         70,
	MaxOvertake:        50,
}

// Leases tune offline numbering: the controller keeps every online
// dispenser (ticket button) holding a lease of Block numbers of its item,
// usable until Expires, so a press while the controller is unreachable
// prints a ticket at once. The zero value is the default: on, 20 numbers,
// a new block when fewer than 5 remain, until the end of the local day.
type Leases struct {
	// Off turns offline numbering off for the whole hall.
	Off bool `yaml:"off,omitempty"`
	// Block is how many numbers a lease reserves (1–999); default 20.
	Block int `yaml:"block,omitempty"`
	// RefillBelow: a new block is granted when fewer of the dispenser's
	// numbers remain unused (as far as the controller knows); default
	// a quarter of Block, at least 1.
	RefillBelow int `yaml:"refill_below,omitempty"`
	// LifetimeS bounds a lease's life in seconds; 0 = until the end of
	// the local day (a lease never outlives its day).
	LifetimeS int `yaml:"lifetime_s,omitempty"`
	// Dispensers switches leases per dispenser, keyed "agent/device"
	// (e.g. "kiosk-1/btn-1": false); a dispenser not listed gets leases.
	Dispensers map[string]bool `yaml:"dispensers,omitempty"`
}

// On reports whether the dispenser agent/dev gets leases.
func (l Leases) On(agent, dev string) bool {
	if l.Off {
		return false
	}
	on, listed := l.Dispensers[agent+"/"+dev]
	return on || !listed
}

// Server is how hallctl serve runs.
type Server struct {
	MQTTAddr   string `yaml:"mqtt_addr,omitempty"`  // embedded broker; default 127.0.0.1:1883 (env MQTT_ADDR)
	BrokerURL  string `yaml:"broker_url,omitempty"` // external broker instead of the embedded one; a cluster's nodes separated by commas
	HTTPAddr   string `yaml:"http_addr,omitempty"`  // default 127.0.0.1:8080 (env HTTP_ADDR)
	StateDir   string `yaml:"state_dir,omitempty"`  // event log and keys; default ./state
	SecretFile string `yaml:"secret_file,omitempty"`
	// Store, when set, is the URL of a PostgreSQL database holding the
	// event log instead of SQLite in state_dir (postgres://user@host/db;
	// prefer PGPASSFILE or passfile= to a password in it). Keys and
	// secrets stay in state_dir.
	Store string `yaml:"store,omitempty"`
	// Users is the broker's credential list: every agent is listed; only
	// the demo hall (Demo) lets loopback clients in without credentials.
	Users []User `yaml:"users,omitempty"`
	// CommandTTLS is how long a command stays valid (exp); default 60.
	CommandTTLS int `yaml:"command_ttl_s,omitempty"`
	// PublicURL is the base of links printed in QR codes (a ticket's status
	// page), as applicants' phones reach it; default http://<http_addr>.
	PublicURL string `yaml:"public_url,omitempty"`
	// Demo marks the demo hall: anonymous loopback MQTT clients and, when
	// agents: is empty, devices of any agent are accepted. A production
	// config leaves it false (docs/security.md).
	Demo bool `yaml:"demo,omitempty"`
	// TLS, when set, makes the embedded broker's listener (mqtt_addr)
	// MQTT over TLS only and HTTP (http_addr) HTTPS only, TLS 1.2 or
	// later; public_url then defaults to https://<http_addr>. The
	// addresses keep their defaults (tls.go, docs/security.md "TLS").
	TLS *ServerTLS `yaml:"tls,omitempty"`
	// Failover, when set, makes this controller one of an active/standby
	// set sharing server.store (PostgreSQL) and an external broker: one
	// leads the hall, the others answer HTTP 503 until they take over
	// (docs/failover.md).
	Failover *Failover `yaml:"failover,omitempty"`
}

// Failover configures active/standby controllers (server.failover).
type Failover struct {
	// LeaseS is the leadership lease in seconds (default 3): a dead
	// leader's standby takes over within about this long.
	LeaseS float64 `yaml:"lease_s,omitempty"`
	// Node names this controller in the lease and in logs; default the
	// host name.
	Node string `yaml:"node,omitempty"`
}

// User is one MQTT credential. Password is a bcrypt hash or, with
// PasswordFile, read from a file.
type User struct {
	Username     string `yaml:"username"`
	PasswordHash string `yaml:"password_hash,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
	Controller   bool   `yaml:"controller,omitempty"`
}

// Scenario is the simulator's extra section (../shared/bench/README.md).
type Scenario struct {
	Name         string  `yaml:"name"`
	Arrivals     string  `yaml:"arrivals"`
	WalkS        float64 `yaml:"walk_s"`
	NoShowHoldS  float64 `yaml:"no_show_hold_s"`
	ArrivalsPath string  `yaml:"-"` // resolved against the YAML file
}

// Problem is one thing wrong with a config.
type Problem struct {
	File string
	Line int
	Key  string
	Msg  string
	// Warning marks a problem that does not make the config invalid
	// (issue 11: items no window serves, windows that serve nothing).
	Warning bool
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 {
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem found in a config, and its warnings.
type Error struct {
	Problems []Problem
	Warnings []Problem
}

// ErrInvalid is wrapped by every *Error.
var ErrInvalid = errors.New("invalid config")

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	for _, p := range e.Warnings {
		lines = append(lines, p.String())
	}
	return fmt.Sprintf("invalid config (%d problems):\n  %s", len(e.Problems), strings.Join(lines, "\n  "))
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

// Load reads, decodes and validates a config file; checks validate the
// sections other packages own (see Check).
func Load(path string, checks ...Check) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b, checks...)
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// Parse decodes and validates config bytes; path is used in messages and to
// resolve relative paths.
func Parse(path string, b []byte, checks ...Check) (*Config, error) {
	c := &Config{Path: path}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, &Error{Problems: yamlProblems(path, err)}
	}
	// Every unknown key is reported with its path and a did-you-mean
	// (check.go); type errors do not stop the rest of the checks.
	pre := c.unknownKeyProblems(&root)
	var typeErrs []Problem
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, &Error{Problems: append(pre, yamlProblems(path, err)...)}
		}
		typeErrs = yamlProblems(path, err)
		keyTypeErrors(&root, typeErrs)
	}
	c.root = &root
	c.Path = path
	c.applyDefaults()
	if err := c.validate(pre, typeErrs, checks...); err != nil {
		return nil, err
	}
	return c, nil
}

func yamlProblems(path string, err error) []Problem {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var out []Problem
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		p := Problem{File: path, Msg: m}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Msg = sm[2]
			if f, ok := strings.CutPrefix(p.Msg, "field "); ok {
				if name, _, ok := strings.Cut(f, " not found"); ok {
					p.Key = name
					p.Msg = "unknown key"
				}
			}
		}
		out = append(out, p)
	}
	return out
}

func (c *Config) applyDefaults() {
	if c.Hall.Timezone == "" {
		c.Hall.Timezone = "Asia/Shanghai"
	}
	if c.Hall.Hours.Open == "" {
		c.Hall.Hours.Open = "09:00"
	}
	if c.Hall.Hours.Close == "" {
		c.Hall.Hours.Close = "17:00"
	}
	for i := range c.Items {
		it := &c.Items[i]
		if it.Kind == "" {
			it.Kind = "immediate"
		}
		if it.ServiceS == 0 {
			it.ServiceS = 300
		}
	}
	for i := range c.Windows {
		if len(c.Windows[i].Hours) == 0 {
			c.Windows[i].Hours = []Hours{c.Hall.Hours}
		}
	}
	q := &c.Queue
	d := DefaultQueue
	if q.HeadStartMin == nil {
		q.HeadStartMin = map[string]float64{}
	}
	for k, v := range d.HeadStartMin {
		if _, ok := q.HeadStartMin[k]; !ok {
			q.HeadStartMin[k] = v
		}
	}
	if q.HeadStartShare == nil {
		q.HeadStartShare = map[string]float64{}
	}
	for k, v := range d.HeadStartShare {
		if _, ok := q.HeadStartShare[k]; !ok {
			q.HeadStartShare[k] = v
		}
	}
	if q.HeadStartMaxMin == 0 {
		q.HeadStartMaxMin = d.HeadStartMaxMin
	}
	if q.EscalateAfterS == 0 {
		q.EscalateAfterS = d.EscalateAfterS
	}
	if q.NoShowRequeueAfter == 0 {
		q.NoShowRequeueAfter = d.NoShowRequeueAfter
	}
	if q.NoShowVoidAfter == 0 {
		q.NoShowVoidAfter = d.NoShowVoidAfter
	}
	if q.ElderlyAge == 0 {
		q.ElderlyAge = d.ElderlyAge
	}
	if q.MaxOvertake == 0 {
		q.MaxOvertake = d.MaxOvertake
	}
	if c.Server.CommandTTLS == 0 {
		c.Server.CommandTTLS = 60
	}
	if c.Leases.Block == 0 {
		c.Leases.Block = 20
	}
	if c.Leases.RefillBelow == 0 {
		c.Leases.RefillBelow = max(1, c.Leases.Block/4)
	}
	c.Appointments.applyDefaults()
	c.Limits.applyDefaults()
	c.Screen.applyDefaults()   // issue 11, hall screen
	c.Announce.applyDefaults() // issue 11, announcements
	c.Ratings.applyDefaults()  // issue 14, 好差评
	if c.Scenario != nil && c.Scenario.Arrivals != "" {
		p := c.Scenario.Arrivals
		if !strings.HasPrefix(p, "/") && c.Path != "" {
			if i := strings.LastIndex(c.Path, "/"); i >= 0 {
				p = c.Path[:i+1] + p
			}
		}
		c.Scenario.ArrivalsPath = p
	}
}

var hallIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

var dispenserID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`) // wire.ValidID

// Validate checks the whole config, and with checks the sections other
// packages own, and returns an *Error listing every problem, or nil.
func (c *Config) Validate(checks ...Check) error { return c.validate(nil, nil, checks...) }

// validate is Validate with the problems already found while decoding
// (pre: unknown keys; typeErrs: values of the wrong type) listed first.
func (c *Config) validate(pre, typeErrs []Problem, checks ...Check) error {
	pre = append(pre, typeErrs...)
	ps := pre
	add := func(key, format string, a ...any) {
		ps = append(ps, Problem{File: c.Path, Line: c.lineOf(key), Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	if !hallIDPattern.MatchString(c.Hall.ID) {
		add("hall.id", "%q must match [a-z0-9][a-z0-9-]* (it is used in MQTT topics)", c.Hall.ID)
	}
	if loc, err := time.LoadLocation(c.Hall.Timezone); err != nil {
		add("hall.timezone", "unknown time zone %q", c.Hall.Timezone)
	} else {
		c.Loc = loc
	}
	checkHours := func(key string, h Hours) {
		o, cl := h.OpenMin(), h.CloseMin()
		if o < 0 {
			add(key+".open", "%q is not HH:MM", h.Open)
		}
		if cl < 0 {
			add(key+".close", "%q is not HH:MM", h.Close)
		}
		if o >= 0 && cl >= 0 && cl <= o {
			add(key, "closes (%s) before it opens (%s)", h.Close, h.Open)
		}
	}
	checkHours("hall.hours", c.Hall.Hours)
	depts := map[string]bool{}
	for i, d := range c.Departments {
		k := fmt.Sprintf("departments[%d]", i)
		if d.Code == "" {
			add(k+".code", "is empty")
		} else if depts[d.Code] {
			add(k+".code", "department %q is listed twice", d.Code)
		}
		depts[d.Code] = true
	}
	if len(c.Items) == 0 {
		add("items", "a hall needs at least one item")
	}
	items := map[string]bool{}
	for i, it := range c.Items {
		k := fmt.Sprintf("items[%d]", i)
		switch {
		case it.Code == "":
			add(k+".code", "is empty")
		case items[it.Code]:
			add(k+".code", "item %q is listed twice", it.Code)
		case strings.ContainsAny(it.Code, " /+#*:"):
			add(k+".code", "%q may not contain spaces or / + # * :", it.Code)
		}
		items[it.Code] = true
		if !depts[it.Dept] {
			add(k+".dept", "unknown department %q", it.Dept)
		}
		if len(it.Prefix) == 0 || len(it.Prefix) > 2 || strings.ToUpper(it.Prefix) != it.Prefix {
			add(k+".prefix", "%q must be one or two capital letters", it.Prefix)
		}
		if it.Kind != "immediate" && it.Kind != "promised" {
			add(k+".kind", "%q must be immediate or promised", it.Kind)
		}
		if it.Kind == "promised" && it.PromiseDays < 0 {
			add(k+".promise_days", "must not be negative")
		}
		if it.ServiceS < 0 {
			add(k+".service_s", "must be positive")
		}
		if msg := it.guideENProblem(); msg != "" { // issue 11: guide_en (guide_en.go)
			add(k+".guide_en", "%s", msg)
		}
	}
	checkRefs := func(key string, refs []string) {
		for j, s := range refs {
			switch {
			case s == "*":
			case strings.HasPrefix(s, "dept:"):
				if !depts[strings.TrimPrefix(s, "dept:")] {
					add(fmt.Sprintf("%s[%d]", key, j), "unknown department in %q%s", s, refHint(s, items, depts))
				}
			default:
				if !items[s] {
					add(fmt.Sprintf("%s[%d]", key, j), "unknown item %q%s", s, refHint(s, items, depts))
				}
			}
		}
	}
	nums := map[int]bool{}
	if len(c.Windows) == 0 {
		add("windows", "a hall needs at least one window")
	}
	for i, w := range c.Windows {
		k := fmt.Sprintf("windows[%d]", i)
		if w.Number <= 0 {
			add(k+".number", "must be a positive window number")
		} else if nums[w.Number] {
			add(k+".number", "window %d is listed twice", w.Number)
		}
		nums[w.Number] = true
		if !depts[w.Dept] {
			add(k+".dept", "unknown department %q", w.Dept)
		}
		if len(w.Serves) == 0 {
			add(k+".serves", "is empty: the window could serve nothing")
		}
		checkRefs(k+".serves", w.Serves)
		checkRefs(k+".backup", w.Backup)
		for j, h := range w.Hours {
			checkHours(fmt.Sprintf("%s.hours[%d]", k, j), h)
		}
	}
	for cls, v := range c.Queue.HeadStartMin {
		switch cls {
		case "walkin", "appointment", "green", "elderly":
		default:
			add("queue.head_start_min."+cls, "unknown class (walkin, appointment, green, elderly)")
		}
		if v < 0 {
			add("queue.head_start_min."+cls, "must not be negative")
		}
	}
	for cls, v := range c.Queue.HeadStartShare {
		switch cls {
		case "walkin", "appointment", "green", "elderly":
		default:
			add("queue.head_start_share."+cls, "unknown class (walkin, appointment, green, elderly)")
		}
		if v < 0 || v > 1 || math.IsNaN(v) {
			add("queue.head_start_share."+cls, "must be a share from 0 to 1")
		}
	}
	if v := c.Queue.HeadStartMaxMin; v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		add("queue.head_start_max_min", "must be a positive number of minutes")
	}
	if c.Queue.EscalateAfterS < 0 {
		add("queue.escalate_after_s", "must not be negative")
	}
	if s := c.Scenario; s != nil {
		if s.Arrivals == "" {
			add("scenario.arrivals", "is empty")
		}
		if s.WalkS < 0 {
			add("scenario.walk_s", "must not be negative")
		}
		if s.NoShowHoldS < 0 {
			add("scenario.no_show_hold_s", "must not be negative")
		}
	}
	if l := c.Leases; l.Block < 1 || l.Block > 999 {
		add("leases.block", "%d must be 1 to 999", l.Block)
	} else if l.RefillBelow < 1 || l.RefillBelow > l.Block {
		add("leases.refill_below", "%d must be 1 to leases.block (%d)", l.RefillBelow, l.Block)
	}
	if c.Leases.LifetimeS < 0 {
		add("leases.lifetime_s", "must not be negative")
	}
	for k := range c.Leases.Dispensers {
		a, d, ok := strings.Cut(k, "/")
		if !ok || !dispenserID.MatchString(a) || !dispenserID.MatchString(d) {
			add("leases.dispensers."+k, "must be agent/device (ids as in MQTT topics: [a-z0-9][a-z0-9_-]*)")
		}
	}
	for i, u := range c.Server.Users {
		k := fmt.Sprintf("server.users[%d]", i)
		if u.Username == "" {
			add(k+".username", "is empty")
		}
		if u.PasswordHash == "" && u.PasswordFile == "" {
			add(k, "needs password_hash or password_file")
		}
	}
	c.Appointments.problems(add)
	c.Limits.problems(add)
	c.Ratings.problems(add) // issue 14, 好差评
	c.agentProblems(add)
	c.screenProblems(add)   // issue 11, hall screen
	c.announceProblems(add) // issue 11, announcements
	c.staffProblems(add)    // staff.go
	c.tlsProblems(add)      // tls.go
	c.storeProblems(add)    // store.go
	var checkWarnings []Problem
	for _, chk := range checks {
		for _, p := range chk(c) {
			if p.Warning { // a Check's warnings do not make the config invalid
				checkWarnings = append(checkWarnings, p)
			} else {
				ps = append(ps, p)
			}
		}
	}
	// A value of the wrong type is reported once, as a type error, not
	// again as the zero value it decoded to.
	kept := ps[:len(pre)]
	for _, p := range ps[len(pre):] {
		if !c.typeErrorOf(p, typeErrs) {
			kept = append(kept, p)
		}
	}
	ps = kept
	c.Warnings = append(c.coverageWarnings(), checkWarnings...)
	c.Warnings = append(c.Warnings, c.storeWarnings()...)
	if len(ps) == 0 {
		return nil
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return &Error{Problems: ps, Warnings: c.Warnings}
}

// Check validates a section whose types live in a package that imports
// this one (the case system's `case_system:`); the caller that knows the
// owner passes it to Load, Parse or Validate — no package-level registry.
type Check func(c *Config) []Problem

// Problemf is a problem at key (a path like "case_system.webhook.url"),
// with the key's line in the file when it can be found.
func (c *Config) Problemf(key, format string, a ...any) Problem {
	return Problem{File: c.Path, Line: c.lineOf(key), Key: key, Msg: fmt.Sprintf(format, a...)}
}

// DecodeSection decodes a section kept as YAML (n, found at key) into v,
// strictly: unknown keys and type errors are problems with their lines.
// An absent section leaves v as it is.
func (c *Config) DecodeSection(key string, n *yaml.Node, v any) []Problem {
	if n == nil || n.Kind == 0 {
		return nil
	}
	var ps []Problem
	unknownKeys(n, reflect.TypeOf(v), key, func(k *yaml.Node, path string, known []string) {
		ps = append(ps, Problem{File: c.Path, Line: k.Line, Key: path, Msg: unknownKeyMsg(k.Value, known)})
	})
	if err := n.Decode(v); err != nil {
		for _, p := range yamlProblems(c.Path, err) {
			if p.Key == "" {
				p.Key = key
			}
			ps = append(ps, p)
		}
	}
	return ps
}

// unknownKeys reports mapping keys of n that the type t has no yaml field for.
func unknownKeys(n *yaml.Node, t reflect.Type, path string, report func(k *yaml.Node, path string, known []string)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode || t == yamlNodeType {
		return // a section kept as YAML is checked by its owner
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		fields := map[string]reflect.Type{}
		var known []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = f.Type
			known = append(known, name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				report(k, path+"."+k.Value, known)
				continue
			}
			unknownKeys(n.Content[i+1], ft, path+"."+k.Value, report)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, e := range n.Content {
			unknownKeys(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), report)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			unknownKeys(n.Content[i+1], t.Elem(), path+"."+n.Content[i].Value, report)
		}
	}
}

// lineOf finds the line of a key path like "windows[3].serves[0]" in the
// parsed YAML, or the nearest parent that exists; 0 when unknown.
func (c *Config) lineOf(key string) int {
	if c.root == nil || len(c.root.Content) == 0 {
		return 0
	}
	n := c.root.Content[0]
	line := 0
	for _, part := range strings.Split(key, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			name = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		next := mapValue(n, name)
		if next == nil {
			return line
		}
		line = next.Line
		if idx >= 0 {
			if next.Kind != yaml.SequenceNode || idx >= len(next.Content) {
				return line
			}
			next = next.Content[idx]
			line = next.Line
		}
		n = next
	}
	return line
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func clockMin(s string) int {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return -1
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return -1
	}
	return hh*60 + mm
}

// Item returns the item with the code, or nil.
func (c *Config) Item(code string) *Item {
	for i := range c.Items {
		if c.Items[i].Code == code {
			return &c.Items[i]
		}
	}
	return nil
}

// Window returns the window with the number, or nil.
func (c *Config) Window(n int) *Window {
	for i := range c.Windows {
		if c.Windows[i].Number == n {
			return &c.Windows[i]
		}
	}
	return nil
}

// Expand resolves serves/backup entries ("*", "dept:XX", item codes) to
// item codes, in config order, without duplicates (the rule is
// queue.Spec.Expand's).
func (c *Config) Expand(refs []string) []string {
	s := queue.Spec{Items: make([]queue.ItemSpec, len(c.Items))}
	for i, it := range c.Items {
		s.Items[i] = queue.ItemSpec{Code: it.Code, Dept: it.Dept}
	}
	return s.Expand(refs)
}
