package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/enrol"
	"github.com/servicehall/servicehall/hallctl/web"
)

// runAgent is `hallctl agent add|revoke|list`: enrolling the hall's boards.
func runAgent(ctx context.Context, e *env, args []string) int {
	usage := func() {
		fmt.Fprintln(e.stderr, "usage: hallctl agent add ID --config FILE --window N [--window M …] [--zone Z …] [--kiosk] [--broker URL] [--ca FILE] [--out DIR] [--force]")
		fmt.Fprintln(e.stderr, "       hallctl agent revoke ID --config FILE")
		fmt.Fprintln(e.stderr, "       hallctl agent list --config FILE")
	}
	if len(args) == 0 {
		usage()
		return 2
	}
	switch args[0] {
	case "add":
		return runAgentAdd(ctx, e, args[1:])
	case "revoke":
		return runAgentRevoke(ctx, e, args[1:])
	case "list":
		return runAgentList(ctx, e, args[1:])
	case "-h", "--help", "help":
		usage()
		return 0
	}
	fmt.Fprintf(e.stderr, "hallctl agent: unknown subcommand %q\n", args[0])
	usage()
	return 2
}

// parseWithID parses flags with the agent id before or after them.
func parseWithID(fs *flag.FlagSet, args []string) (id string, ok bool, code int) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if ok, code := parse(fs, args); !ok {
		return "", ok, code
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
		if fs.NArg() > 1 {
			fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(1))
			return "", false, 2
		}
	} else if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q (flags come after the id)\n", fs.Name(), fs.Arg(0))
		return "", false, 2
	}
	if id == "" {
		fmt.Fprintf(fs.Output(), "%s: the agent id is required\n", fs.Name())
		fs.Usage()
		return "", false, 2
	}
	return id, true, 0
}

// intList is a repeatable int flag.
type intList []int

func (l *intList) String() string { return fmt.Sprint([]int(*l)) }
func (l *intList) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a window number", p)
		}
		*l = append(*l, n)
	}
	return nil
}

// strList is a repeatable string flag.
type strList []string

func (l *strList) String() string { return strings.Join(*l, ",") }
func (l *strList) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func runAgentAdd(_ context.Context, e *env, args []string) int {
	fs := newFlags(e, "agent add", "ID --config FILE --window N [--zone Z] [--kiosk] [--broker URL] [--ca FILE] [--out DIR] [--force]")
	path := fs.String("config", "", "hall config `file`")
	var windows intList
	var zones strList
	fs.Var(&windows, "window", "window `N` whose keypad, LED screen and rating pad the board may drive (repeat, or 3,4)")
	fs.Var(&zones, "zone", "zone `Z` whose speakers the board may drive (repeat)")
	kiosk := fs.Bool("kiosk", false, "the board runs a kiosk: ticket buttons, printers, ID readers, scanners (gets the ID-hash key)")
	brokerURL := fs.String("broker", "", "broker `URL` the board connects to; default tcp://<this host>:1883, or ssl://<this host>:8883 with --ca")
	caFile := fs.String("ca", "", "PEM CA `file` the board trusts for the broker's TLS certificate (put in the bundle as ca.pem)")
	out := fs.String("out", ".", "`dir` to write <id>.tar.gz to")
	force := fs.Bool("force", false, "issue a new password for an enrolled or revoked agent (the old one stops working)")
	id, ok, code := parseWithID(fs, args)
	if !ok {
		return code
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	var ca []byte
	if *caFile != "" {
		b, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(e.stderr, "hallctl agent add: --ca:", err)
			return 1
		}
		if !strings.Contains(string(b), "-----BEGIN CERTIFICATE-----") {
			fmt.Fprintf(e.stderr, "hallctl agent add: --ca %s holds no PEM certificate\n", *caFile)
			return 1
		}
		ca = b
	}
	url := *brokerURL
	if url == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			fmt.Fprintln(e.stderr, "hallctl agent add: cannot tell this host's name; give --broker URL")
			return 1
		}
		url = "tcp://" + host + ":1883"
		if ca != nil {
			url = "ssl://" + host + ":8883"
		}
	}
	if !strings.Contains(url, "://") {
		fmt.Fprintf(e.stderr, "hallctl agent add: --broker %q: want tcp://host:1883 or ssl://host:8883\n", url)
		return 1
	}
	stateDir := enrol.StateDir(cfg)
	var idKey []byte
	if *kiosk {
		// The hall secret hashes ID numbers on kiosks; it signs nothing.
		k, err := web.LoadSecret(cfg.Server.SecretFile, stateDir, true)
		if err != nil {
			fmt.Fprintln(e.stderr, "hallctl agent add:", err)
			return 1
		}
		idKey = k
	}
	now := time.Now()
	rec, pw, err := enrol.Add(stateDir, cfg, enrol.Grant{ID: id, Windows: windows, Zones: zones, Kiosk: *kiosk, Force: *force}, now)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl agent add:", err)
		return 1
	}
	b := enrol.Bundle{Record: rec, Hall: cfg.Hall.ID, Password: pw, BrokerURL: url, CA: ca, IDKey: idKey, Now: now}
	archive := filepath.Join(*out, id+".tar.gz")
	if err := writeBundle(archive, b); err != nil {
		fmt.Fprintln(e.stderr, "hallctl agent add:", err, "(the agent is enrolled: run again with --force for a new bundle)")
		return 1
	}
	w := e.stdout
	fmt.Fprintf(w, "enrolled %s in hall %s: %s\n", id, cfg.Hall.ID, grants(rec.Agent()))
	fmt.Fprintf(w, "bundle   %s (%s) — it holds the board's password: copy it to the board, then delete it here\n", archive, strings.Join(b.Names(), ", "))
	fmt.Fprintf(w, "broker   %s\n", url)
	fmt.Fprintln(w, "\non the board (servicehall-agent package installed), in the directory holding the bundle:")
	fmt.Fprintf(w, "  %s\n", b.InstallCommand(filepath.Base(archive)))
	fmt.Fprintln(w, "\nthen list its devices in /etc/servicehall/agent.yaml (a commented template is there) and restart servicehall-agent.")
	fmt.Fprintln(w, "A running hallctl serve admits a new agent after a restart (systemctl restart servicehall-hallctl); a re-issued password (--force) at once.")
	fmt.Fprintf(w, "With an external Mosquitto: hallctl mosquitto-config --config %s --out DIR, then systemctl reload mosquitto.\n", shellQuote(*path))
	return 0
}

// writeBundle writes the archive atomically, mode 0600.
func writeBundle(path string, b enrol.Bundle) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	tmp := f.Name()
	werr := f.Chmod(0o600)
	if werr == nil {
		werr = b.WriteTarGz(f)
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("bundle %s: %w", path, werr)
	}
	return nil
}

func grants(a config.Agent) string {
	var parts []string
	if a.Kiosk {
		parts = append(parts, "kiosk")
	}
	if len(a.Windows) > 0 {
		ws := make([]string, len(a.Windows))
		for i, n := range a.Windows {
			ws[i] = strconv.Itoa(n)
		}
		parts = append(parts, "windows "+strings.Join(ws, ","))
	}
	if len(a.Zones) > 0 {
		parts = append(parts, "zones "+strings.Join(a.Zones, ","))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

func runAgentRevoke(_ context.Context, e *env, args []string) int {
	fs := newFlags(e, "agent revoke", "ID --config FILE")
	path := fs.String("config", "", "hall config `file`")
	id, ok, code := parseWithID(fs, args)
	if !ok {
		return code
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	if err := enrol.Revoke(enrol.StateDir(cfg), cfg, id, time.Now()); err != nil {
		fmt.Fprintln(e.stderr, "hallctl agent revoke:", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "revoked %s: a running hallctl serve disconnects it and refuses it within a second.\n", id)
	fmt.Fprintf(e.stdout, "With an external Mosquitto: hallctl mosquitto-config --config %s --out DIR, then systemctl reload mosquitto.\n", shellQuote(*path))
	return 0
}

func runAgentList(_ context.Context, e *env, args []string) int {
	fs := newFlags(e, "agent list", "--config FILE")
	path := fs.String("config", "", "hall config `file`")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	recs, err := enrol.Load(enrol.StateDir(cfg))
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl agent list:", err)
		return 1
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tSOURCE\tSTATE\tGRANTS\tCREATED\tREVOKED")
	for _, a := range cfg.Agents {
		fmt.Fprintf(tw, "%s\tconfig\tactive\t%s\t-\t-\n", a.ID, grants(a))
	}
	for _, r := range recs {
		state, revoked := "active", "-"
		if !r.Active() {
			state, revoked = "revoked", r.Revoked.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\tenrolled\t%s\t%s\t%s\t%s\n", r.ID, state, grants(r.Agent()), r.Created.Local().Format(time.DateTime), revoked)
	}
	tw.Flush()
	return 0
}
