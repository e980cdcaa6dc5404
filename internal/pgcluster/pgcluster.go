// Package pgcluster starts a private PostgreSQL cluster: initdb in a
// temporary directory and pg_ctl on a free loopback port, trust
// authentication as user postgres (as the postgres system user when run
// as root). internal/pgtest uses it when no server is reachable, and
// `hallctl loadtest --halls N --pg-private` for a server sized for N halls.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Options say how to configure the cluster.
type Options struct {
	// Durable keeps fsync on: a cluster that measures like a real one.
	// Without it fsync is off (tests: speed over durability).
	Durable bool
	// MaxConns is max_connections; 0 keeps PostgreSQL's default (100).
	MaxConns int
	// Settings are more `-c name=value` settings.
	Settings []string
}

// Cluster is a started cluster.
type Cluster struct {
	// DSN is the admin URL of its postgres database.
	DSN  string
	Port int
	bin  string
	data string
	dir  string
	run  func(ctx context.Context, args ...string) error
}

// Available reports whether initdb can be found.
func Available() bool { return findBin() != "" }

// Start runs initdb and pg_ctl start. Stop removes the cluster.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	bin := findBin()
	if bin == "" {
		return nil, errors.New("no initdb found (install postgresql)")
	}
	dir, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	asPostgres := os.Geteuid() == 0
	if asPostgres {
		if err := exec.CommandContext(ctx, "chown", "postgres:postgres", dir).Run(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("chown %s: %w", dir, err)
		}
	}
	c.run = func(ctx context.Context, args ...string) error {
		var cmd *exec.Cmd
		if asPostgres {
			cmd = exec.CommandContext(ctx, "su", "postgres", "-s", "/bin/sh", "-c", shellJoin(args))
		} else {
			cmd = exec.CommandContext(ctx, args[0], args[1:]...)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", filepath.Base(args[0]), err, out)
		}
		return nil
	}
	if err := c.run(ctx, filepath.Join(bin, "initdb"), "-A", "trust", "-U", "postgres", "-D", c.data); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if c.Port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", c.Port, dir)
	if !o.Durable {
		opts += " -c fsync=off"
	}
	if o.MaxConns > 0 {
		opts += fmt.Sprintf(" -c max_connections=%d", o.MaxConns)
	}
	for _, s := range o.Settings {
		opts += " -c " + s
	}
	if err := c.run(ctx, filepath.Join(bin, "pg_ctl"), "-D", c.data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
	return c, nil
}

// Stop stops the cluster at once and removes its files.
func (c *Cluster) Stop() {
	_ = c.run(context.Background(), filepath.Join(c.bin, "pg_ctl"), "-D", c.data, "-m", "immediate", "stop")
	os.RemoveAll(c.dir)
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// findBin is the directory of initdb on PATH, or the newest
// /usr/lib/postgresql/N/bin holding initdb.
func findBin() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(m)
	if len(m) == 0 {
		return ""
	}
	return filepath.Dir(m[len(m)-1])
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
