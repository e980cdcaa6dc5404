package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/servicehall/servicehall/hallctl/web"
)

func runToken(_ context.Context, e *env, args []string) int {
	fs := newFlags(e, "token", "--config FILE --role kiosk|clerk|manager|admin [--window N] [--ttl D] [--subject ID]")
	path := fs.String("config", "", "hall config `file` (its server.secret_file, or state_dir/hall.secret)")
	role := fs.String("role", "", "kiosk, clerk, manager or admin")
	window := fs.Int("window", 0, "the window a clerk token acts for (required for clerk)")
	ttl := fs.Duration("ttl", 12*time.Hour, "how long the token is valid")
	subject := fs.String("subject", "", "staff id shown in the audit log (not a personal ID number)")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	if !web.ValidRole(*role) {
		fmt.Fprintln(e.stderr, "hallctl token:", web.ErrBadRole)
		return 2
	}
	if *ttl <= 0 {
		fmt.Fprintln(e.stderr, "hallctl token: --ttl must be positive")
		return 2
	}
	stateDir := cfg.Server.StateDir
	if stateDir == "" {
		stateDir = "state"
	}
	// Create the state-dir secret when missing, so a token made before the
	// first `hallctl serve` still verifies (serve reads the same file).
	secret, err := web.LoadSecret(cfg.Server.SecretFile, stateDir, true)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl token:", err)
		return 1
	}
	now := time.Now()
	tok, err := web.NewToken(secret, web.Claims{Role: *role, Window: *window, Subject: *subject, Issued: now.Unix(), Expires: now.Add(*ttl).Unix()})
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl token:", err)
		return 2
	}
	fmt.Fprintln(e.stdout, tok)
	return 0
}
