package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/certs"
	"github.com/servicehall/servicehall/hallctl/config"
)

// tokenCommands are `hallctl token`'s subcommands; without one it mints a
// token (the flags it always had).
var tokenCommands = map[string]func(context.Context, *env, []string) int{
	"rotate-key": runTokenRotate,
	"retire-key": runTokenRetire,
	"keys":       runTokenKeys,
	"disable":    func(ctx context.Context, e *env, args []string) int { return runTokenSubject(ctx, e, "disable", args) },
	"enable":     func(ctx context.Context, e *env, args []string) int { return runTokenSubject(ctx, e, "enable", args) },
	"disabled":   runTokenDisabled,
}

// CLISubject is the subject of the one-minute admin token `hallctl token
// disable|enable|disabled` mints to reach the running controller.
const CLISubject = "hallctl-cli"

func runToken(ctx context.Context, e *env, args []string) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if f, ok := tokenCommands[args[0]]; ok {
			return f(ctx, e, args[1:])
		}
		fmt.Fprintf(e.stderr, "hallctl token: unknown subcommand %q (rotate-key, retire-key, keys, disable, enable, disabled)\n", args[0])
		return 2
	}
	fs := newFlags(e, "token", "--config FILE --role kiosk|clerk|manager|admin [--window N] [--ttl D] [--subject ID]\n"+
		"       hallctl token rotate-key|retire-key|keys|disable|enable|disabled --config FILE ... (docs/tokens.md)")
	path := fs.String("config", "", "hall config `file` (its hall id and state_dir, which holds the token key ring)")
	role := fs.String("role", "", "kiosk, clerk, manager or admin")
	window := fs.Int("window", 0, "the window a clerk token acts for (required for clerk)")
	ttl := fs.Duration("ttl", 0, "how long the token is valid (default and cap: admin 1h, clerk and manager 12h, kiosk 720h)")
	subject := fs.String("subject", "", "staff id shown in the audit log and disabled by `hallctl token disable` (not a personal ID number; default clerk@N for clerks, else the role)")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	if !auth.ValidRole(*role) {
		fmt.Fprintln(e.stderr, "hallctl token:", auth.ErrBadRole)
		return 2
	}
	switch {
	case *ttl < 0:
		fmt.Fprintln(e.stderr, "hallctl token: --ttl must be positive")
		return 2
	case *ttl == 0:
		*ttl = auth.DefaultTTL(*role)
	case *ttl > auth.MaxTTL(*role):
		fmt.Fprintf(e.stderr, "hallctl token: --ttl %v is over the %s cap of %v\n", *ttl, *role, auth.MaxTTL(*role))
		return 2
	}
	if *subject == "" {
		*subject = auth.DefaultSubject(*role, *window)
	}
	// Create the key ring when missing, so a token made before the first
	// `hallctl serve` still verifies (serve opens the same ring).
	keys, err := auth.Open(stateDir(cfg), cfg.Hall.ID, true)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl token:", err)
		return 1
	}
	now := time.Now()
	tok, err := keys.Sign(auth.Claims{Role: *role, Window: *window, Subject: *subject, Issued: now.Unix(), Expires: now.Add(*ttl).Unix()})
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl token:", err)
		return 2
	}
	fmt.Fprintln(e.stdout, tok)
	return 0
}

func stateDir(cfg *config.Config) string {
	if cfg.Server.StateDir == "" {
		return "state"
	}
	return cfg.Server.StateDir
}

// keyRing parses --config and opens the existing ring.
func keyRing(e *env, fs *flag.FlagSet, args []string, positional int) (*auth.Keys, *config.Config, []string, int) {
	path := fs.Lookup("config")
	if ok, code := parse(fs, args); !ok {
		return nil, nil, nil, code
	}
	if fs.NArg() != positional {
		fs.Usage()
		return nil, nil, nil, 2
	}
	cfg, ok := loadConfig(e, path.Value.String())
	if !ok {
		return nil, nil, nil, 1
	}
	keys, err := auth.Open(stateDir(cfg), cfg.Hall.ID, false)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl token:", err)
		return nil, nil, nil, 1
	}
	return keys, cfg, fs.Args(), 0
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

// ringOpener parses a key command's flags and opens its key ring (the
// hall's or the city's), returning the positional arguments.
type ringOpener func(e *env, fs *flag.FlagSet, args []string, positional int) (*auth.Keys, []string, int)

// hallRing opens the ring of the hall config given by --config.
func hallRing(e *env, fs *flag.FlagSet, args []string, positional int) (*auth.Keys, []string, int) {
	keys, _, rest, code := keyRing(e, fs, args, positional)
	return keys, rest, code
}

// runTokenRotate adds a signing key; --retire drops old ones in the same
// step (their tokens are refused from the next request on).
func runTokenRotate(_ context.Context, e *env, args []string) int {
	return rotateKey(e, args, "token rotate-key", "hall config `file`", hallRing)
}

func runTokenRetire(_ context.Context, e *env, args []string) int {
	return retireKey(e, args, "token retire-key", "hall config `file`", hallRing)
}

func runTokenKeys(_ context.Context, e *env, args []string) int {
	return listKeys(e, args, "token keys", "hall config `file`", hallRing)
}

func rotateKey(e *env, args []string, name, configUsage string, open ringOpener) int {
	fs := newFlags(e, name, "--config FILE [--retire KID]...")
	fs.String("config", "", configUsage)
	var retire multi
	fs.Var(&retire, "retire", "also remove key `KID` (repeatable); its tokens stop working")
	keys, _, code := open(e, fs, args, 0)
	if keys == nil {
		return code
	}
	kid, err := keys.Rotate(time.Now())
	if err != nil {
		fmt.Fprintf(e.stderr, "hallctl %s: %v\n", name, err)
		return 1
	}
	fmt.Fprintln(e.stdout, "new signing key", kid)
	for _, old := range retire {
		if err := keys.Retire(old); err != nil {
			fmt.Fprintf(e.stderr, "hallctl %s: %v\n", name, err)
			return 1
		}
		fmt.Fprintln(e.stdout, "retired", old)
	}
	return 0
}

func retireKey(e *env, args []string, name, configUsage string, open ringOpener) int {
	fs := newFlags(e, name, "--config FILE KID")
	fs.String("config", "", configUsage)
	keys, rest, code := open(e, fs, args, 1)
	if keys == nil {
		return code
	}
	if err := keys.Retire(rest[0]); err != nil {
		fmt.Fprintf(e.stderr, "hallctl %s: %v\n", name, err)
		return 1
	}
	fmt.Fprintln(e.stdout, "retired", rest[0])
	return 0
}

func listKeys(e *env, args []string, name, configUsage string, open ringOpener) int {
	fs := newFlags(e, name, "--config FILE")
	fs.String("config", "", configUsage)
	keys, _, code := open(e, fs, args, 0)
	if keys == nil {
		return code
	}
	for _, k := range keys.List() {
		mark := ""
		if k.Signing {
			mark = "  (signs new tokens)"
		}
		fmt.Fprintln(e.stdout, k.KID+mark)
	}
	return 0
}

// adminCall sends one admin request to the running controller with a
// one-minute admin token from the local key ring.
func adminCall(ctx context.Context, e *env, keys *auth.Keys, cfg *config.Config, base, method, path string) (int, []byte, error) {
	return adminCallBody(ctx, e, keys, cfg, base, method, path, nil)
}

// adminCallBody is adminCall with a JSON body (nil: none).
func adminCallBody(ctx context.Context, e *env, keys *auth.Keys, cfg *config.Config, base, method, path string, body []byte) (int, []byte, error) {
	client := http.DefaultClient
	if t := cfg.Server.TLS; t != nil {
		// server.tls: HTTPS, trusting the hall CA (ca_file) or else the
		// server certificate itself.
		pool, err := certs.LoadPool(first(t.CAFile, t.CertFile))
		if err != nil {
			return 0, nil, err
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	if base == "" {
		scheme := "http://"
		if cfg.Server.TLS != nil {
			scheme = "https://"
		}
		base = scheme + first(e.getenv("HTTP_ADDR"), cfg.Server.HTTPAddr, "127.0.0.1:8080")
	}
	now := time.Now()
	tok, err := keys.Sign(auth.Claims{Role: auth.RoleAdmin, Subject: CLISubject, Issued: now.Unix(), Expires: now.Add(time.Minute).Unix()})
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("the controller at %s is not reachable (is hallctl serve running? --url): %w", base, errors.Unwrap(err))
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, b, err
}

// runTokenSubject disables or enables a token subject on the running
// controller (POST /api/v1/admin/subjects/{subject}/disable|enable).
func runTokenSubject(ctx context.Context, e *env, op string, args []string) int {
	fs := newFlags(e, "token "+op, "--config FILE [--url URL] SUBJECT")
	fs.String("config", "", "hall config `file` (its state_dir's key ring and server.http_addr)")
	base := fs.String("url", "", "the controller's `URL` (default http://$HTTP_ADDR or server.http_addr)")
	keys, cfg, rest, code := keyRing(e, fs, args, 1)
	if keys == nil {
		return code
	}
	subject := rest[0]
	if !auth.ValidSubject(subject) {
		fmt.Fprintln(e.stderr, "hallctl token "+op+":", auth.ErrBadSubject)
		return 2
	}
	status, body, err := adminCall(ctx, e, keys, cfg, *base, "POST", "/api/v1/admin/subjects/"+url.PathEscape(subject)+"/"+op)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl token "+op+":", err)
		return 1
	}
	if status != http.StatusOK {
		fmt.Fprintf(e.stderr, "hallctl token %s: %d %s\n", op, status, strings.TrimSpace(string(body)))
		return 1
	}
	var out struct{ Changed bool }
	_ = json.Unmarshal(body, &out)
	state := map[string]string{"disable": "disabled", "enable": "enabled"}[op]
	if !out.Changed {
		fmt.Fprintf(e.stdout, "%s was already %s\n", subject, state)
		return 0
	}
	fmt.Fprintf(e.stdout, "%s %s\n", subject, state)
	return 0
}

func runTokenDisabled(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "token disabled", "--config FILE [--url URL]")
	fs.String("config", "", "hall config `file`")
	base := fs.String("url", "", "the controller's `URL` (default http://$HTTP_ADDR or server.http_addr)")
	keys, cfg, _, code := keyRing(e, fs, args, 0)
	if keys == nil {
		return code
	}
	status, body, err := adminCall(ctx, e, keys, cfg, *base, "GET", "/api/v1/admin/subjects")
	if err != nil || status != http.StatusOK {
		fmt.Fprintf(e.stderr, "hallctl token disabled: %v %d %s\n", err, status, strings.TrimSpace(string(body)))
		return 1
	}
	var out struct {
		Disabled []struct {
			Subject, By string
			At          time.Time
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		fmt.Fprintln(e.stderr, "hallctl token disabled:", err)
		return 1
	}
	for _, d := range out.Disabled {
		fmt.Fprintf(e.stdout, "%s\tby %s\t%s\n", d.Subject, d.By, d.At.Format(time.RFC3339))
	}
	return 0
}
