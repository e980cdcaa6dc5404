// Package enrol keeps the controller's list of enrolled firmware agents
// (`hallctl agent add/revoke/list`): which windows and zones each board may
// drive and the hashes of its MQTT password, in
// <state_dir>/enrolled/agents.json (0600, replaced atomically). The running
// controller merges the active records with the config's `agents:` and
// `server.users`; the bundle a board installs and the external broker's
// (Mosquitto's) password and ACL files are made from them too.
package enrol

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/wire"
)

// Names of the enrolment directory and files under the state dir.
const (
	DirName  = "enrolled"
	FileName = "agents.json"
	// ControllerPasswordName holds the controller's own password at an
	// external broker (made by `hallctl mosquitto-config`).
	ControllerPasswordName = "controller-mqtt-password"
)

// Errors callers branch on.
var (
	ErrExists      = errors.New("agent is already enrolled")
	ErrNotEnrolled = errors.New("agent is not enrolled")
	ErrConflict    = errors.New("agent enrolled twice with different grants")
)

// Record is one enrolled agent. The plaintext password is never stored:
// only its bcrypt hash (checked by the embedded broker) and its Mosquitto
// PBKDF2 hash (written to an external Mosquitto's password file).
type Record struct {
	ID            string     `json:"id"`
	Windows       []int      `json:"windows,omitempty"`
	Zones         []string   `json:"zones,omitempty"`
	Kiosk         bool       `json:"kiosk,omitempty"`
	BcryptHash    string     `json:"bcrypt_hash"`
	MosquittoHash string     `json:"mosquitto_hash"`
	Created       time.Time  `json:"created"`
	Revoked       *time.Time `json:"revoked,omitempty"`
}

// Active reports whether the record admits its agent.
func (r Record) Active() bool { return r.Revoked == nil }

// Agent is the record's grants in the config's terms.
func (r Record) Agent() config.Agent {
	return config.Agent{ID: r.ID, Windows: r.Windows, Zones: r.Zones, Kiosk: r.Kiosk}
}

// Dir is the enrolment directory of a state dir.
func Dir(stateDir string) string { return filepath.Join(stateDir, DirName) }

// Path is the enrolment file of a state dir.
func Path(stateDir string) string { return filepath.Join(Dir(stateDir), FileName) }

// StateDir is the config's state dir with its default (as hallctl serve).
func StateDir(cfg *config.Config) string {
	if cfg.Server.StateDir != "" {
		return cfg.Server.StateDir
	}
	return "state"
}

// Load reads the enrolment records; a missing file is no records.
func Load(stateDir string) ([]Record, error) {
	p := Path(stateDir)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read enrolments: %w", err)
	}
	var recs []Record
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("enrolment file %s: %w", p, err)
	}
	for i, r := range recs {
		if err := wire.CheckID("agent id", r.ID); err != nil {
			return nil, fmt.Errorf("enrolment file %s, record %d: %w", p, i, err)
		}
	}
	return recs, nil
}

// Save replaces the enrolment file atomically (a temporary file renamed
// over it), mode 0600 in a 0700 directory.
func Save(stateDir string, recs []Record) error {
	dir := Dir(stateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("enrolment dir: %w", err)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".agents-*.json")
	if err != nil {
		return fmt.Errorf("save enrolments: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(append(b, '\n'))
	if err := f.Chmod(0o600); werr == nil {
		werr = err
	}
	if err := f.Sync(); werr == nil {
		werr = err
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(tmp, Path(stateDir))
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("save enrolments: %w", werr)
	}
	return nil
}

// Find returns the record of id.
func Find(recs []Record, id string) (Record, bool) {
	for _, r := range recs {
		if r.ID == id {
			return r, true
		}
	}
	return Record{}, false
}

// Grant is what `hallctl agent add` is asked to enrol.
type Grant struct {
	ID      string
	Windows []int
	Zones   []string
	Kiosk   bool
	// Force re-issues the password of an enrolled (or revoked) agent; the
	// old password stops working.
	Force bool
}

// Add enrols g (checked against the hall config) in stateDir, and returns
// the record and the new plaintext password (for the bundle only).
func Add(stateDir string, cfg *config.Config, g Grant, now time.Time) (Record, string, error) {
	if err := wire.CheckID("agent id", g.ID); err != nil {
		return Record{}, "", err
	}
	if err := checkGrant(cfg, g); err != nil {
		return Record{}, "", err
	}
	if _, ok := cfg.Enrolled(g.ID); ok {
		return Record{}, "", fmt.Errorf("%w: %s is listed in the config's agents: (remove it there to enrol it with hallctl agent add)", ErrExists, g.ID)
	}
	for _, u := range cfg.Server.Users {
		if u.Username == g.ID {
			return Record{}, "", fmt.Errorf("%w: %s has a credential in the config's server.users (remove it there to enrol it with hallctl agent add)", ErrExists, g.ID)
		}
	}
	recs, err := Load(stateDir)
	if err != nil {
		return Record{}, "", err
	}
	i := slices.IndexFunc(recs, func(r Record) bool { return r.ID == g.ID })
	if i >= 0 && !g.Force {
		state := "enrolled"
		if !recs[i].Active() {
			state = "revoked"
		}
		return Record{}, "", fmt.Errorf("%w: %s is %s (use --force to issue a new password; the old one stops working)", ErrExists, g.ID, state)
	}
	pw, err := NewPassword()
	if err != nil {
		return Record{}, "", err
	}
	bh, err := BcryptHash(pw)
	if err != nil {
		return Record{}, "", err
	}
	mh, err := MosquittoHash(pw)
	if err != nil {
		return Record{}, "", err
	}
	r := Record{ID: g.ID, Windows: slices.Clone(g.Windows), Zones: slices.Clone(g.Zones), Kiosk: g.Kiosk,
		BcryptHash: bh, MosquittoHash: mh, Created: now.UTC()}
	if i >= 0 {
		recs[i] = r
	} else {
		recs = append(recs, r)
	}
	if err := Save(stateDir, recs); err != nil {
		return Record{}, "", err
	}
	return r, pw, nil
}

// Revoke marks id revoked. An agent listed only in the config is not
// revoked here: the config must change.
func Revoke(stateDir string, cfg *config.Config, id string, now time.Time) error {
	recs, err := Load(stateDir)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(recs, func(r Record) bool { return r.ID == id })
	if i < 0 {
		if _, ok := cfg.Enrolled(id); ok {
			return fmt.Errorf("%w: %s is listed in the config's agents: and server.users, not enrolled with hallctl agent add; remove it from the config and restart (or reload) hallctl", ErrNotEnrolled, id)
		}
		return fmt.Errorf("%w: %s", ErrNotEnrolled, id)
	}
	if !recs[i].Active() {
		return nil // already revoked: nothing changes
	}
	t := now.UTC()
	recs[i].Revoked = &t
	return Save(stateDir, recs)
}

// checkGrant refuses windows and zones the hall does not have.
func checkGrant(cfg *config.Config, g Grant) error {
	windows := map[int]bool{}
	zones := map[string]bool{}
	for _, w := range cfg.Windows {
		windows[w.Number] = true
		if w.Zone != "" {
			zones[w.Zone] = true
		}
	}
	var errs []error
	for _, n := range g.Windows {
		if !windows[n] {
			errs = append(errs, fmt.Errorf("window %d is not in the config's windows:", n))
		}
	}
	for _, z := range g.Zones {
		if !zones[z] {
			errs = append(errs, fmt.Errorf("zone %q is no window's zone", z))
		}
	}
	if len(g.Windows) == 0 && len(g.Zones) == 0 && !g.Kiosk {
		errs = append(errs, errors.New("grants nothing: give --window, --zone or --kiosk"))
	}
	return errors.Join(errs...)
}

// Merge adds the active records' grants to cfg.Agents (cfg is changed: pass
// the copy the controller will own). The same id in the config and in the
// enrolment file with different grants is an error (which grant would
// hold?); with the same grants it is listed once.
func Merge(cfg *config.Config, recs []Record) error {
	var errs []error
	for _, r := range recs {
		if !r.Active() {
			continue
		}
		if a, ok := cfg.Enrolled(r.ID); ok {
			if !SameGrants(a, r.Agent()) {
				errs = append(errs, fmt.Errorf("%w: %s is in the config's agents: and in %s; remove one (or make them equal)", ErrConflict, r.ID, FileName))
			}
			continue
		}
		cfg.Agents = append(cfg.Agents, r.Agent())
	}
	return errors.Join(errs...)
}

// SameGrants reports whether a and b grant the same windows, zones and kiosk.
func SameGrants(a, b config.Agent) bool {
	w1, w2 := slices.Clone(a.Windows), slices.Clone(b.Windows)
	z1, z2 := slices.Clone(a.Zones), slices.Clone(b.Zones)
	slices.Sort(w1)
	slices.Sort(w2)
	slices.Sort(z1)
	slices.Sort(z2)
	return a.Kiosk == b.Kiosk && slices.Equal(w1, w2) && slices.Equal(z1, z2)
}

// CheckConfig is the config.Check `hallctl check` runs in place of
// config.CheckEnrolment: agents enrolled here count as enrolled, and a
// clash between them and the config is a problem (serve would refuse it).
func CheckConfig(c *config.Config) []config.Problem {
	recs, err := Load(StateDir(c))
	if err != nil {
		return []config.Problem{c.Problemf("server.state_dir", "%v", err)}
	}
	cp := *c
	cp.Agents = slices.Clone(c.Agents)
	if err := Merge(&cp, recs); err != nil {
		return []config.Problem{c.Problemf("agents", "%v", err)}
	}
	for _, r := range recs {
		for _, u := range c.Server.Users {
			if r.Active() && u.Username == r.ID {
				return []config.Problem{c.Problemf("server.users", "%s has a password here and one from hallctl agent add; remove one", r.ID)}
			}
		}
	}
	return config.CheckEnrolment(&cp)
}
