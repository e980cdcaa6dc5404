package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/servicehall/servicehall/hallctl/certs"
)

// `hallctl certs` (docs/security.md, "TLS"): `certs init` makes a hall CA
// and the server certificate the broker and HTTPS present, `certs agent`
// a client certificate for one agent (CN = its id). Both refuse to
// replace files without --force and print the config to paste.

const certsUsage = "usage: hallctl certs init --dir DIR --host NAME[,NAME|IP...] [--days N] [--force]\n" +
	"       hallctl certs agent ID --dir DIR [--days N] [--force]"

func runCerts(_ context.Context, e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, certsUsage)
		return 2
	}
	switch args[0] {
	case "init":
		return runCertsInit(e, args[1:])
	case "agent":
		return runCertsAgent(e, args[1:])
	case "-h", "--help", "help":
		fmt.Fprintln(e.stderr, certsUsage)
		return 0
	}
	fmt.Fprintf(e.stderr, "hallctl certs: unknown subcommand %q (init, agent)\n", args[0])
	return 2
}

func runCertsInit(e *env, args []string) int {
	fs := newFlags(e, "certs init", "--dir DIR --host NAME[,NAME|IP...] [--days N] [--force]\n"+
		"  writes DIR/ca.pem, ca.key (the hall CA, 10 years) and DIR/server.pem, server.key (SANs: the hosts, localhost, 127.0.0.1)")
	dir := fs.String("dir", "", "directory for the certificates and keys (created 0700)")
	hosts := fs.String("host", "", "comma-separated DNS names and IP addresses agents and browsers use to reach hallctl")
	days := fs.Int("days", certs.ServerDays, "the server certificate's validity in days")
	force := fs.Bool("force", false, "replace existing files (a new CA: every agent certificate must be made again)")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	var hs []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	if *dir == "" || len(hs) == 0 || *days <= 0 {
		fmt.Fprintln(e.stderr, "hallctl certs init: --dir and --host are required, --days must be positive")
		return 2
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl certs init:", err)
		return 1
	}
	paths, err := certs.Init(abs, hs, certs.Options{Days: *days, Force: *force})
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl certs init:", err)
		return 1
	}
	w := e.stdout
	wrote(w, paths)
	p := func(name string) string { return filepath.Join(abs, name) }
	fmt.Fprintf(w, `
# Hall config (hallctl serve): MQTT over TLS only on server.mqtt_addr, HTTPS only on server.http_addr.
server:
  tls:
    cert_file: %s
    key_file: %s
    ca_file: %s
    # client_ca_file: %s   # also require agent client certificates (hallctl certs agent ID)

# Each agent's config: copy ca.pem to the board (it is not secret; ca.key never leaves this machine).
mqtt:
  url: ssl://%s:<port of server.mqtt_addr>
  tls:
    ca_file: /etc/servicehall/ca.pem
`, p(certs.ServerCert), p(certs.ServerKey), p(certs.CACert), p(certs.CACert), hs[0])
	return 0
}

func runCertsAgent(e *env, args []string) int {
	fs := newFlags(e, "certs agent", "ID --dir DIR [--days N] [--force]\n"+
		"  writes DIR/agents/ID.pem and ID.key: a client certificate with CN = ID, signed by DIR/ca.pem")
	dir := fs.String("dir", "", "the directory hallctl certs init wrote")
	days := fs.Int("days", certs.AgentDays, "the certificate's validity in days")
	force := fs.Bool("force", false, "replace existing files")
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
		if ok, code := parseFlagsOnly(fs, args); !ok {
			return code
		}
	} else {
		if ok, code := parse(fs, args); !ok {
			return code
		}
		if fs.NArg() != 1 {
			fmt.Fprintln(e.stderr, certsUsage)
			return 2
		}
		id = fs.Arg(0)
	}
	if *dir == "" || *days <= 0 {
		fmt.Fprintln(e.stderr, "hallctl certs agent: --dir is required, --days must be positive")
		return 2
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl certs agent:", err)
		return 1
	}
	paths, err := certs.Agent(abs, id, certs.Options{Days: *days, Force: *force})
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl certs agent:", err)
		return 1
	}
	wrote(e.stdout, paths)
	fmt.Fprintf(e.stdout, `
# Agent %[1]s's config: copy %[2]s and the key (mode 0600) to the board; the hall
# config's server.tls.client_ca_file (%[3]s) makes the broker require them.
# The certificate is required in addition to the agent's password (mqtt.password_file).
mqtt:
  username: %[1]s
  tls:
    ca_file: /etc/servicehall/ca.pem
    cert_file: /etc/servicehall/%[1]s.pem
    key_file: /etc/servicehall/%[1]s.key
`, id, paths[0], filepath.Join(abs, certs.CACert))
	return 0
}

func wrote(w io.Writer, paths []string) {
	for _, p := range paths {
		fmt.Fprintln(w, "wrote", p)
	}
}
