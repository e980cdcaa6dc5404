package config

import (
	"net/url"
	"strings"
)

// storeProblems checks server.store: a PostgreSQL URL that parses
// (postgres://user@host:port/database?sslmode=…). The value is never
// repeated in a message: it may hold a password.
func (c *Config) storeProblems(add func(key, format string, a ...any)) {
	if f := c.Server.Failover; f != nil {
		switch {
		case c.Server.Store == "":
			add("server.failover", "needs server.store: active and standby controllers share a PostgreSQL event log")
		case f.LeaseS != 0 && (f.LeaseS < 1 || f.LeaseS > 60):
			add("server.failover.lease_s", "%v: want 1 to 60 seconds (default 3)", f.LeaseS)
		}
	}
	dsn := c.Server.Store
	if dsn == "" {
		return
	}
	u, err := url.Parse(dsn)
	switch {
	case err != nil:
		add("server.store", "does not parse as a URL (want postgres://user@host/database)")
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		add("server.store", "scheme %q: want postgres://user@host/database (SQLite needs no server.store: it lives in state_dir)", u.Scheme)
	case strings.Trim(u.Path, "/") == "":
		add("server.store", "names no database (want postgres://user@host/database)")
	}
}

// storeWarnings: a password written in server.store (a config file is
// read by more people than a password file should be).
func (c *Config) storeWarnings() []Problem {
	u, err := url.Parse(c.Server.Store)
	if c.Server.Store == "" || err != nil {
		return nil
	}
	_, hasPass := u.User.Password()
	if !hasPass && u.Query().Get("password") == "" {
		return nil
	}
	return []Problem{{File: c.Path, Line: c.lineOf("server.store"), Key: "server.store", Warning: true,
		Msg: "holds a password: prefer a password file (PGPASSFILE, or passfile=/path in the URL, mode 0600)"}}
}
