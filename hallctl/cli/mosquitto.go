package cli

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/enrol"
	"github.com/servicehall/servicehall/internal/secret"
)

// runMosquittoConfig writes an external Mosquitto's mosquitto.conf, passwd
// and acl from the enrolments and the config's server.users.
func runMosquittoConfig(_ context.Context, e *env, args []string) int {
	fs := newFlags(e, "mosquitto-config", "--config FILE --out DIR [--listener 0.0.0.0:1883] [--tls-cert F --tls-key F --tls-ca F]")
	path := fs.String("config", "", "hall config `file`")
	out := fs.String("out", "", "`dir` to write mosquitto.conf, passwd and acl to (e.g. /etc/mosquitto/servicehall)")
	listener := fs.String("listener", "0.0.0.0:1883", "`host:port` Mosquitto listens on")
	cert := fs.String("tls-cert", "", "server certificate `file` (PEM) for a TLS listener")
	key := fs.String("tls-key", "", "server key `file` (PEM)")
	ca := fs.String("tls-ca", "", "CA `file` (PEM)")
	persist := fs.String("persistence-dir", "/var/lib/mosquitto/", "Mosquitto's persistence_location `dir`")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	if *out == "" {
		fmt.Fprintln(e.stderr, "hallctl mosquitto-config: --out is required")
		return 2
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	fail := func(err error) int {
		fmt.Fprintln(e.stderr, "hallctl mosquitto-config:", err)
		return 1
	}
	stateDir := enrol.StateDir(cfg)
	recs, err := enrol.Load(stateDir)
	if err != nil {
		return fail(err)
	}
	users, err := resolveUsers(cfg)
	if err != nil {
		return fail(err)
	}
	// The controller's own credential at the broker: made once, kept in
	// the state dir, read by hallctl serve when no --broker-user is given.
	ctlUser := "hallctl-" + cfg.Hall.ID
	ctlFile := filepath.Join(enrol.Dir(stateDir), enrol.ControllerPasswordName)
	pw, err := secret.Read(ctlFile)
	if errors.Is(err, iofs.ErrNotExist) {
		p, perr := enrol.NewPassword()
		if perr != nil {
			return fail(perr)
		}
		if err = secret.Create(ctlFile, []byte(p+"\n")); err == nil {
			pw = []byte(p)
		}
	}
	if err != nil {
		return fail(err)
	}
	ctlHash, err := enrol.MosquittoHash(strings.TrimSpace(string(pw)))
	if err != nil {
		return fail(err)
	}
	dir, err := filepath.Abs(*out)
	if err != nil {
		return fail(err)
	}
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return a
	}
	files, err := enrol.Mosquitto(enrol.MosquittoOptions{Hall: cfg.Hall.ID, Listener: *listener, Dir: dir, PersistenceDir: *persist,
		TLSCert: abs(*cert), TLSKey: abs(*key), TLSCA: abs(*ca), Controller: ctlUser, ControllerHash: ctlHash,
		Records: recs, Users: users})
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fail(err)
	}
	// Mosquitto drops root for its own user before it reads the password
	// and ACL files: they are root:mosquitto 0640 when that group exists.
	gid := -1
	if g, err := user.LookupGroup("mosquitto"); err == nil && os.Geteuid() == 0 {
		gid, _ = strconv.Atoi(g.Gid)
		_ = os.Chown(dir, 0, gid)
	}
	for _, f := range []struct{ name, body string }{{"mosquitto.conf", files.Conf}, {"passwd", files.Passwd}, {"acl", files.ACL}} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), []byte(f.body), 0o640, gid); err != nil {
			return fail(err)
		}
	}
	for _, w := range files.Warnings {
		fmt.Fprintln(e.stderr, "warning:", w)
	}
	n := 0
	for _, r := range recs {
		if r.Active() {
			n++
		}
	}
	fmt.Fprintf(e.stdout, "wrote %s/{mosquitto.conf,passwd,acl}: %d enrolled agents, %d config users, controller %s\n", dir, n, len(users)-len(files.Warnings), ctlUser)
	if gid < 0 {
		fmt.Fprintf(e.stdout, "make them readable by Mosquitto's user: sudo chown root:mosquitto %s %s/*; sudo chmod 0640 %s/*\n", dir, dir, dir)
	}
	fmt.Fprintf(e.stdout, "run Mosquitto with it: mosquitto -c %s/mosquitto.conf (or include it from /etc/mosquitto/conf.d)\n", dir)
	fmt.Fprintf(e.stdout, "then: hallctl serve --config %s --broker-url tcp://HOST:PORT (it logs in as %s with the password in %s)\n", shellQuote(*path), ctlUser, ctlFile)
	fmt.Fprintln(e.stdout, "after hallctl agent add or revoke: run this again and reload Mosquitto (systemctl reload mosquitto, or SIGHUP).")
	return 0
}

// resolveUsers reads the config's users' password files.
func resolveUsers(cfg *config.Config) ([]config.User, error) {
	out := make([]config.User, 0, len(cfg.Server.Users))
	for _, u := range cfg.Server.Users {
		if u.PasswordFile != "" {
			b, err := secret.Read(u.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("server.users %s: %w", u.Username, err)
			}
			u.PasswordHash = strings.TrimSpace(string(b))
		}
		out = append(out, u)
	}
	return out, nil
}

// writeFileAtomic writes path through a temporary file renamed over it,
// with mode perm and, when gid ≥ 0, group gid.
func writeFileAtomic(path string, body []byte, perm os.FileMode, gid int) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(body)
	if err := f.Chmod(perm); werr == nil {
		werr = err
	}
	if gid >= 0 {
		if err := f.Chown(0, gid); werr == nil {
			werr = err
		}
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}
