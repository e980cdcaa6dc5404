// Package cli is hallctl's command line: serve, check, demo, sim and the
// other subcommands, with their flags and environment variables. main only
// calls Main; everything here takes its streams so that tests can run it.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/servicehall/servicehall/hallctl/app"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/enrol"
	"github.com/servicehall/servicehall/internal/lograte"
	"github.com/servicehall/servicehall/internal/secret"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) int
}

// env is what a subcommand gets.
type env struct {
	version string
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	getenv  func(string) string
}

// commands is the command table (names and summaries as `hallctl help`
// lists them).
func commands() map[string]command {
	return map[string]command{
		"serve":            {"run the hall controller (broker, queue, event log, HTTP)", runServe},
		"check":            {"validate a hall config and list every problem", runCheck},
		"version":          {"print the version", runVersion},
		"demo":             {"run the demo hall: controller, broker and emulated device agents", runDemo},
		"loadtest":         {"measure press → print latency through hallctl (make bench)", runLoadtest},
		"sim":              {"simulate a hall scenario under a routing policy; 'sim bench' for every scenario × policy", runSim},
		"report":           {"hall statistics from the event log as CSV or XLSX (safe while serve runs)", runReport},
		"token":            {"print a bearer token for the web apps (clerk, manager, admin, kiosk)", runToken},
		"agent":            {"enrol boards: 'agent add ID' writes the board's bundle, 'agent revoke ID', 'agent list'", runAgent},      // agent.go
		"mosquitto-config": {"write mosquitto.conf, passwd and acl for an external Mosquitto from the enrolments", runMosquittoConfig}, // mosquitto.go
		"staff":            {"staff sign-in: 'staff hash' makes a password hash, 'staff list' shows the staff: section", runStaff},     // staff.go
		"cases":            {"the case connector: 'cases dead-letters list|show|replay|discard' on the running controller", runCases},  // cases.go
		"certs":            {"TLS: 'certs init' makes a hall CA and server certificate, 'certs agent ID' an agent's client certificate", runCerts},
		"backup":           {"back up a hall's state (event log, keys) to a .tar.gz, safe while serve runs", runBackup},                      // backup.go
		"restore":          {"restore a hall's state from a backup; refused while serve runs", runRestore},                                   // backup.go
		"migrate":          {"apply the event log's pending schema migrations (SQLite or server.store PostgreSQL)", runMigrate},              // migrate.go
		"city":             {"the city view across halls in one PostgreSQL: 'city serve', 'city token', 'city fold'", runCity},               // city.go
		"store":            {"'store copy --from sqlite|postgres --to postgres|sqlite' moves a hall's event log between backends", runStore}, // store.go
	}
}

func runVersion(_ context.Context, e *env, _ []string) int {
	fmt.Fprintln(e.stdout, "hallctl", e.version)
	return 0
}

// Main runs hallctl with args (without the program name) and returns the
// exit code: 0 ok, 1 failure, 2 usage.
func Main(version string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, &env{version: version, stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}, args)
}

// run dispatches args to their command.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "hallctl: unknown command %q\n\n", args[0])
		usage(e.stderr)
		return 2
	}
	return c.run(ctx, e, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: hallctl COMMAND [flags]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-16s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'hallctl COMMAND -h' for a command's flags. Environment: MQTT_ADDR, HTTP_ADDR, LOG_LEVEL.")
}

func newFlags(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("hallctl "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: hallctl %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) (ok bool, code int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, 0
		}
		return false, 2
	}
	return true, 0
}

// parseFlagsOnly is parse for a command that takes flags and nothing else:
// a stray argument (a flag after it would be silently ignored) is an error.
func parseFlagsOnly(fs *flag.FlagSet, args []string) (ok bool, code int) {
	if ok, code := parse(fs, args); !ok {
		return ok, code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q (flags only)\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return false, 2
	}
	return true, 0
}

func (e *env) logger() *slog.Logger {
	lvl := slog.LevelInfo
	switch strings.ToLower(e.getenv("LOG_LEVEL")) {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))
}

func loadConfig(e *env, path string, checks ...config.Check) (*config.Config, bool) {
	if path == "" {
		fmt.Fprintln(e.stderr, "hallctl: --config is required")
		return nil, false
	}
	cfg, err := config.Load(path, append([]config.Check{ctl.CheckConfig}, checks...)...)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl:", err)
		return nil, false
	}
	return cfg, true
}

func runCheck(_ context.Context, e *env, args []string) int {
	fs := newFlags(e, "check", "--config FILE")
	path := fs.String("config", "", "hall config `file` to validate")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	if *path == "" {
		fmt.Fprintln(e.stderr, "hallctl: --config is required")
		return 1
	}
	// Every problem at once, each with its line and key path, then the
	// warnings (issue 11).
	cfg, err := config.Load(*path, ctl.CheckConfig, enrol.CheckConfig, config.CheckTLS)
	if ce := (*config.Error)(nil); errors.As(err, &ce) {
		for _, p := range ce.Problems {
			fmt.Fprintln(e.stderr, p.String())
		}
		for _, p := range ce.Warnings {
			fmt.Fprintln(e.stderr, p.String())
		}
		fmt.Fprintf(e.stderr, "%s: %d errors, %d warnings\n", *path, len(ce.Problems), len(ce.Warnings))
		return 1
	} else if err != nil {
		fmt.Fprintln(e.stderr, "hallctl:", err)
		return 1
	}
	for _, p := range cfg.Warnings {
		fmt.Fprintln(e.stdout, p.String())
	}
	nd := 0
	for _, w := range cfg.Windows {
		if w.NoDifference() {
			nd++
		}
	}
	warn := ""
	if n := len(cfg.Warnings); n > 0 {
		warn = fmt.Sprintf(", %d warnings", n)
	}
	fmt.Fprintf(e.stdout, "%s: ok — hall %s (%s), %d departments, %d items, %d windows (%d no-difference)%s\n",
		*path, cfg.Hall.ID, cfg.Hall.Name, len(cfg.Departments), len(cfg.Items), len(cfg.Windows), nd, warn)
	return 0
}

func runServe(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "serve", "--config FILE [--broker-url URL]")
	path := fs.String("config", "", "hall config `file`")
	brokerURL := fs.String("broker-url", "", "use this MQTT broker (tcp://host:port; a cluster's nodes separated by commas, tried in order) instead of the embedded one")
	user := fs.String("broker-user", "", "username at the external broker")
	passFile := fs.String("broker-password-file", "", "`file` holding the password at the external broker")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	// Log output is bounded (limits.log_lines_per_s, internal/lograte).
	log := slog.New(lograte.New(e.logger().Handler(), lograte.Options{PerSecond: cfg.Limits.LogLinesPerS, Burst: cfg.Limits.LogBurst}))
	o := app.Options{Config: cfg, Logger: log, BrokerURL: *brokerURL, Username: *user,
		MQTTAddr: e.getenv("MQTT_ADDR"), HTTPAddr: e.getenv("HTTP_ADDR")}
	if *passFile != "" {
		b, err := secret.Read(*passFile)
		if err != nil {
			fmt.Fprintln(e.stderr, "hallctl:", err)
			return 1
		}
		o.Password = strings.TrimSpace(string(b))
	}
	if cfg.Server.Failover != nil {
		fmt.Fprintf(e.stdout, "failover      waiting to lead hall %s (HTTP answers 503 until then)\n", cfg.Hall.ID)
	}
	a, err := app.Start(ctx, o)
	if err != nil {
		if cfg.Server.Failover != nil && ctx.Err() != nil {
			fmt.Fprintln(e.stdout, "stopped while standing by")
			return 0
		}
		fmt.Fprintln(e.stderr, "hallctl:", err)
		return 1
	}
	defer a.Close()
	if epoch, holder := a.Leading(); epoch > 0 {
		fmt.Fprintf(e.stdout, "failover      leading hall %s as %s (epoch %d)\n", cfg.Hall.ID, holder, epoch)
	}
	printURLs(e.stdout, a, selfCommand()+" token --config "+shellQuote(*path))
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(e.stderr, "hallctl:", err)
		return 1
	}
	return 0
}

// printURLs lists where the hall is; tokenCmd is a `hallctl token`
// command that works as printed (the binary as started, the config).
func printURLs(w io.Writer, a *app.App, tokenCmd string) {
	mq, web := "mqtt", "http" // server.tls: MQTT over TLS and HTTPS only
	if a.TLS() {
		mq, web = "mqtts", "https"
	}
	if a.MQTTAddr() != "" {
		fmt.Fprintf(w, "MQTT broker   %s://%s   (MQTT_ADDR)\n", mq, a.MQTTAddr())
	} else {
		fmt.Fprintf(w, "MQTT broker   %s   (external)\n", a.BrokerURL())
	}
	fmt.Fprintf(w, "health        %s://%s/healthz   (HTTP_ADDR)\n", web, a.HTTPAddr())
	fmt.Fprintf(w, "metrics       %s://%s/metrics\n", web, a.HTTPAddr())
	fmt.Fprintf(w, "kiosk         %s://%s/kiosk/?agent=kiosk-1\n", web, a.HTTPAddr())
	fmt.Fprintf(w, "clerk console %s://%s/clerk/   (token: %s --role clerk --window N)\n", web, a.HTTPAddr(), tokenCmd)
	fmt.Fprintf(w, "manager       %s://%s/manager/   (token: %s --role manager)\n", web, a.HTTPAddr(), tokenCmd)
	fmt.Fprintf(w, "hall screen   %s://%s/screen/\n", web, a.HTTPAddr())
}
