package enrol

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/wire"
)

// mosqHashRE is a well-formed "$7$" hash (nothing that could add a line
// to the password file).
var mosqHashRE = regexp.MustCompile(`^\$7\$[0-9]{1,8}\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$`)

// MosquittoOptions say how to write an external Mosquitto's files.
type MosquittoOptions struct {
	Hall string
	// Listener is host:port; default 0.0.0.0:1883.
	Listener string
	// Dir is where passwd and acl will be (absolute paths in mosquitto.conf).
	Dir string
	// PersistenceDir; default /var/lib/mosquitto/.
	PersistenceDir string
	// TLS files (all three, or none).
	TLSCert, TLSKey, TLSCA string
	// Controller is the controller's own username and "$7$" hash.
	Controller, ControllerHash string
	// Records are the enrolments (revoked ones are left out).
	Records []Record
	// Users are the config's server.users (with PasswordFile resolved into
	// PasswordHash by the caller).
	Users []config.User
}

// MosquittoFiles are the three files' contents, and what could not be
// carried over (users with only a bcrypt hash).
type MosquittoFiles struct {
	Conf, Passwd, ACL string
	Warnings          []string
}

// Mosquitto writes mosquitto.conf, the password file and the ACL for a
// Mosquitto that enforces what the embedded broker does: an agent reads
// and writes only its own subtree (and reads ctl/status); the controller
// has the hall's whole root.
func Mosquitto(o MosquittoOptions) (MosquittoFiles, error) {
	var f MosquittoFiles
	if err := wire.CheckID("hall", o.Hall); err != nil {
		return f, err
	}
	if o.Listener == "" {
		o.Listener = "0.0.0.0:1883"
	}
	host, port, err := net.SplitHostPort(o.Listener)
	if err != nil {
		return f, fmt.Errorf("--listener %q: %w", o.Listener, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if o.PersistenceDir == "" {
		o.PersistenceDir = "/var/lib/mosquitto/"
	}
	if !strings.HasSuffix(o.PersistenceDir, "/") {
		o.PersistenceDir += "/"
	}
	tls := 0
	for _, s := range []string{o.TLSCert, o.TLSKey, o.TLSCA} {
		if s != "" {
			tls++
		}
	}
	if tls != 0 && tls != 3 {
		return f, errors.New("--tls-cert, --tls-key and --tls-ca go together")
	}
	var conf strings.Builder
	conf.WriteString("# Mosquitto for servicehall hall " + o.Hall + ", made by hallctl mosquitto-config.\n")
	conf.WriteString("# Regenerate it after hallctl agent add/revoke, then: systemctl reload mosquitto (SIGHUP).\n")
	conf.WriteString("per_listener_settings false\n")
	conf.WriteString("allow_anonymous false\n")
	conf.WriteString("password_file " + o.Dir + "/passwd\n")
	conf.WriteString("acl_file " + o.Dir + "/acl\n")
	conf.WriteString("persistence true\n")
	conf.WriteString("persistence_location " + o.PersistenceDir + "\n")
	conf.WriteString("# Without it Mosquitto adds ~44 ms to every request/response round trip.\n")
	conf.WriteString("set_tcp_nodelay true\n")
	conf.WriteString("listener " + port + " " + host + "\n")
	if tls == 3 {
		conf.WriteString("certfile " + o.TLSCert + "\nkeyfile " + o.TLSKey + "\ncafile " + o.TLSCA + "\n")
		conf.WriteString("tls_version tlsv1.2\nrequire_certificate false\n")
	}
	f.Conf = conf.String()

	type entry struct {
		user, hash string
		controller bool
	}
	var ents []entry
	seen := map[string]bool{}
	add := func(e entry) error {
		if seen[e.user] {
			return fmt.Errorf("user %s is listed twice (config server.users and enrolment)", e.user)
		}
		seen[e.user] = true
		ents = append(ents, e)
		return nil
	}
	if o.Controller != "" {
		if err := add(entry{o.Controller, o.ControllerHash, true}); err != nil {
			return f, err
		}
	}
	for _, u := range o.Users {
		if err := wire.CheckID("server.users username", u.Username); err != nil {
			return f, err
		}
		if IsMosquittoHash(u.PasswordHash) && !mosqHashRE.MatchString(u.PasswordHash) {
			return f, fmt.Errorf("server.users %s: password_hash is not a well-formed $7$ hash", u.Username)
		}
		if !IsMosquittoHash(u.PasswordHash) {
			f.Warnings = append(f.Warnings, fmt.Sprintf("server.users %s has a bcrypt hash, which Mosquitto cannot check: it is left out "+
				"(enrol the board with 'hallctl agent add %s --force …' after removing it from the config, or replace its password_hash "+
				"with the $7$ hash 'mosquitto_passwd' writes for the same password)", u.Username, u.Username))
			continue
		}
		if err := add(entry{u.Username, u.PasswordHash, u.Controller}); err != nil {
			return f, err
		}
	}
	for _, r := range o.Records {
		if !r.Active() {
			continue
		}
		if err := add(entry{r.ID, r.MosquittoHash, false}); err != nil {
			return f, err
		}
	}
	sort.SliceStable(ents, func(i, j int) bool {
		if ents[i].controller != ents[j].controller {
			return ents[i].controller
		}
		return ents[i].user < ents[j].user
	})
	var pw, acl strings.Builder
	acl.WriteString("# ACL for servicehall hall " + o.Hall + " (the embedded broker's rules, hallctl/broker/acl.go).\n")
	root := wire.Root + o.Hall + "/"
	for _, e := range ents {
		pw.WriteString(e.user + ":" + e.hash + "\n")
		acl.WriteString("\nuser " + e.user + "\n")
		if e.controller {
			acl.WriteString("topic readwrite " + root + "#\n")
			continue
		}
		a := root + "agent/" + e.user + "/"
		for _, t := range []string{"status", "info", "dev/+/status", "dev/+/evt/+", "dev/+/ack", "dev/+/reported"} {
			acl.WriteString("topic write " + a + t + "\n")
		}
		for _, t := range []string{"dev/+/cmd/+", "dev/+/desired"} {
			acl.WriteString("topic read " + a + t + "\n")
		}
		acl.WriteString("topic read " + wire.CtlStatus(o.Hall) + "\n")
	}
	f.Passwd, f.ACL = pw.String(), acl.String()
	return f, nil
}
