package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/servicehall/servicehall/hallctl/broker"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/enrol"
	"github.com/servicehall/servicehall/internal/secret"
)

// EnrolmentPoll is how often a running hallctl looks at the enrolment
// file (on its clock).
const EnrolmentPoll = time.Second

// enrolment is who the embedded broker admits: the config's server.users,
// the controller itself, and the agents enrolled with hallctl agent add.
// The controller's grants (cfg.Agents) are fixed at start, so a running
// hallctl applies revocations and re-issued passwords of the agents it
// started with; a new enrolment, or changed grants, waits for a restart.
type enrolment struct {
	stateDir    string
	configUsers []broker.User
	controller  broker.User
	admitted    map[string]config.Agent // enrolled agents merged at start

	mu      sync.Mutex
	records []enrol.Record
	stamp   string // the file's size and mtime at the last load
}

// loadEnrolment reads the enrolment file and merges its active agents into
// cfg (the controller's copy).
func loadEnrolment(cfg *config.Config, stateDir string) (*enrolment, error) {
	e := &enrolment{stateDir: stateDir, admitted: map[string]config.Agent{}}
	for _, u := range cfg.Server.Users {
		bu := broker.User{Username: u.Username, PasswordHash: []byte(u.PasswordHash), Controller: u.Controller}
		if u.PasswordFile != "" {
			b, err := secret.Read(u.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("server.users %s: %w", u.Username, err)
			}
			bu.PasswordHash = trimNL(b)
		}
		e.configUsers = append(e.configUsers, bu)
	}
	e.stamp = fileStamp(enrol.Path(stateDir))
	recs, err := enrol.Load(stateDir)
	if err != nil {
		return nil, err
	}
	if err := enrol.Merge(cfg, recs); err != nil {
		return nil, fmt.Errorf("enrolled agents (%s): %w", enrol.Path(stateDir), err)
	}
	var errs []error
	for _, r := range recs {
		if !r.Active() {
			continue
		}
		for _, u := range e.configUsers {
			if u.Username == r.ID {
				errs = append(errs, fmt.Errorf("%w: %s has a password in server.users and one from hallctl agent add; remove one", enrol.ErrConflict, r.ID))
			}
		}
		e.admitted[r.ID] = r.Agent()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	e.records = recs
	return e, nil
}

// users are the broker's accounts now.
func (e *enrolment) users() ([]broker.User, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.usersLocked(e.records), nil
}

func (e *enrolment) usersLocked(recs []enrol.Record) []broker.User {
	out := append([]broker.User(nil), e.configUsers...)
	if e.controller.Username != "" {
		out = append(out, e.controller)
	}
	for _, r := range recs {
		if a, ok := e.admitted[r.ID]; ok && r.Active() && enrol.SameGrants(a, r.Agent()) {
			out = append(out, broker.User{Username: r.ID, PasswordHash: []byte(r.BcryptHash)})
		}
	}
	return out
}

// ReloadEnrolments applies the enrolment file now: agents revoked (or
// re-issued a password) since are disconnected, and their old password
// is refused from now on. Run calls it when the file changes.
func (a *App) ReloadEnrolments() error {
	if a.Broker == nil || a.enrolment == nil {
		return nil
	}
	e := a.enrolment
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stamp = fileStamp(enrol.Path(e.stateDir))
	recs, err := enrol.Load(e.stateDir)
	if err != nil {
		return err
	}
	before := hashes(e.usersLocked(e.records))
	users := e.usersLocked(recs)
	if err := a.Broker.SetUsers(users); err != nil {
		return err
	}
	after := hashes(users)
	for id, h := range before {
		if nh, ok := after[id]; !ok || nh != h {
			n := a.Broker.Disconnect(id)
			a.log.Info("enrolment changed: agent's old credential refused", "agent", id, "disconnected", n)
		}
	}
	for _, r := range recs {
		if a0, ok := e.admitted[r.ID]; r.Active() && (!ok || !enrol.SameGrants(a0, r.Agent())) {
			a.log.Warn("agent enrolled while running: restart hallctl to admit it with its grants", "agent", r.ID)
		}
	}
	e.records = recs
	return nil
}

// watchEnrolments reloads when the enrolment file's size or mtime change.
func (a *App) watchEnrolments(ctx context.Context) {
	t := a.clock.NewTicker(EnrolmentPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
		a.enrolment.mu.Lock()
		old := a.enrolment.stamp
		a.enrolment.mu.Unlock()
		if fileStamp(enrol.Path(a.enrolment.stateDir)) == old {
			continue
		}
		if err := a.ReloadEnrolments(); err != nil {
			a.log.Error("reload enrolments", "err", err)
		}
	}
}

func hashes(users []broker.User) map[string]string {
	m := make(map[string]string, len(users))
	for _, u := range users {
		m[u.Username] = string(u.PasswordHash) + "\x00" + u.Password
	}
	return m
}

func fileStamp(path string) string {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "none"
	}
	if err != nil {
		return "error " + err.Error()
	}
	return fmt.Sprintf("%d %d", fi.Size(), fi.ModTime().UnixNano())
}

// controllerCredential is the controller's password at an external broker
// when serve is given none: the one hallctl mosquitto-config made
// (<state_dir>/enrolled/controller-mqtt-password), username hallctl-<hall>.
// No file means no credentials (a broker that lets hallctl in without).
func controllerCredential(cfg *config.Config, stateDir string) (user, pass string, err error) {
	p := filepath.Join(enrol.Dir(stateDir), enrol.ControllerPasswordName)
	b, err := secret.Read(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("controller's broker password: %w", err)
	}
	return "hallctl-" + cfg.Hall.ID, strings.TrimSpace(string(b)), nil
}
