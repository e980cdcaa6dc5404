package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/city"
	"github.com/servicehall/servicehall/hallctl/store"
)

// runCity is `hallctl city serve|token|fold` (docs/city.md); the logic
// is in hallctl/city.
func runCity(ctx context.Context, e *env, args []string) int {
	sub := map[string]func(context.Context, *env, []string) int{
		"serve": runCityServe, "token": runCityToken, "fold": runCityFold,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprintln(e.stderr, "usage: hallctl city serve|token|fold --config city.yaml ... (docs/city.md)")
		return 2
	}
	return sub[args[0]](ctx, e, args[1:])
}

// cityOpen loads the city config and connects to its database (store
// overrides the config's), migrating it as hallctl serve does.
func cityOpen(ctx context.Context, e *env, path, dsn string) (*city.Config, *pgxpool.Pool, bool) {
	if path == "" {
		fmt.Fprintln(e.stderr, "hallctl city: --config is required")
		return nil, nil, false
	}
	cfg, err := city.LoadConfig(path)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl city:", err)
		return nil, nil, false
	}
	if dsn == "" {
		dsn = cfg.Store
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		fmt.Fprintln(e.stderr, "hallctl city: --store (or store: in the config) must be a postgres:// URL")
		return nil, nil, false
	}
	if _, _, err := store.MigratePostgres(ctx, dsn); err != nil {
		fmt.Fprintln(e.stderr, "hallctl city:", err)
		return nil, nil, false
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl city: database:", err)
		return nil, nil, false
	}
	return cfg, pool, true
}

func runCityServe(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "city serve", "--config city.yaml [--store postgres://…] [--http 127.0.0.1:8090] [--refresh 10s]")
	path := fs.String("config", "", "city config `file` (city id, halls' configs, state_dir with the token key ring)")
	dsn := fs.String("store", "", "the halls' PostgreSQL database (default: the config's store:)")
	addr := fs.String("http", "", "listen `address` (default: the config's http_addr, 127.0.0.1:8090)")
	refresh := fs.Duration("refresh", 10*time.Second, "how often to fold the halls' new events")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	if *refresh < time.Second {
		fmt.Fprintln(e.stderr, "hallctl city serve: --refresh must be at least 1s")
		return 2
	}
	cfg, pool, ok := cityOpen(ctx, e, *path, *dsn)
	if !ok {
		return 1
	}
	defer pool.Close()
	keys, err := auth.OpenCity(cfg.StateDir, cfg.City.ID, true)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl city serve:", err)
		return 1
	}
	if *addr == "" {
		*addr = cfg.HTTPAddr
	}
	log, clock := e.logger(), clockwork.NewRealClock()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl city serve:", err)
		return 1
	}
	srv := &http.Server{Handler: city.NewServer(pool, cfg, keys, log, clock).Handler(),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: time.Minute,
		MaxHeaderBytes: 16 << 10}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	folded := make(chan struct{})
	go func() {
		defer close(folded)
		city.NewFolder(pool, cfg.HallConfigs, log, clock).Run(ctx, *refresh)
	}()
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		srv.Shutdown(sctx)
	}()
	log.Info("city view serving", "http", "http://"+ln.Addr().String()+"/city/", "city", cfg.City.ID, "halls", len(cfg.HallConfigs), "refresh", *refresh)
	err = srv.Serve(ln)
	cancel()
	<-folded
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(e.stderr, "hallctl city serve:", err)
		return 1
	}
	return 0
}

// cityKeyCommands manage the city's token key ring, as `hallctl token
// rotate-key|retire-key|keys` do a hall's (docs/tokens.md): `city serve`
// picks a change up at its next request.
var cityKeyCommands = map[string]func(*env, []string) int{
	"rotate-key": func(e *env, args []string) int {
		return rotateKey(e, args, "city token rotate-key", "city config `file`", cityRing)
	},
	"retire-key": func(e *env, args []string) int {
		return retireKey(e, args, "city token retire-key", "city config `file`", cityRing)
	},
	"keys": func(e *env, args []string) int {
		return listKeys(e, args, "city token keys", "city config `file`", cityRing)
	},
}

// cityRing opens the key ring of the city config given by --config (it
// must exist: `city token` or `city serve` made it).
func cityRing(e *env, fs *flag.FlagSet, args []string, positional int) (*auth.Keys, []string, int) {
	if ok, code := parse(fs, args); !ok {
		return nil, nil, code
	}
	if fs.NArg() != positional {
		fs.Usage()
		return nil, nil, 2
	}
	path := fs.Lookup("config").Value.String()
	if path == "" {
		fmt.Fprintln(e.stderr, "hallctl city token: --config is required")
		return nil, nil, 2
	}
	cfg, err := city.LoadConfig(path)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl city token:", err)
		return nil, nil, 1
	}
	keys, err := auth.OpenCity(cfg.StateDir, cfg.City.ID, false)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl city token:", err)
		return nil, nil, 1
	}
	return keys, fs.Args(), 0
}

func runCityToken(ctx context.Context, e *env, args []string) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if f, ok := cityKeyCommands[args[0]]; ok {
			return f(e, args[1:])
		}
		fmt.Fprintf(e.stderr, "hallctl city token: unknown subcommand %q (rotate-key, retire-key, keys)\n", args[0])
		return 2
	}
	fs := newFlags(e, "city token", "--config city.yaml --subject ID (--halls H1,H2 | --all-halls) [--ttl 12h]\n"+
		"       hallctl city token rotate-key|retire-key|keys --config city.yaml ... (docs/tokens.md)")
	path := fs.String("config", "", "city config `file` (its state_dir holds the token key ring)")
	subject := fs.String("subject", "", "the officer's staff id (shown in the log; not a personal ID number)")
	halls := fs.String("halls", "", "comma-separated hall ids the token may read")
	allHalls := fs.Bool("all-halls", false, "the token may read every hall")
	ttl := fs.Duration("ttl", auth.MaxTTL(auth.RoleCity), "lifetime (cap 12h)")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	if *path == "" {
		fmt.Fprintln(e.stderr, "hallctl city token: --config is required")
		return 2
	}
	var hs []string
	for _, h := range strings.Split(*halls, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	switch {
	case *allHalls && len(hs) > 0, !*allHalls && len(hs) == 0:
		fmt.Fprintln(e.stderr, "hallctl city token: give --halls or --all-halls (one of them)")
		return 2
	case *allHalls:
		hs = []string{auth.AllHalls}
	}
	if *ttl <= 0 || *ttl > auth.MaxTTL(auth.RoleCity) {
		fmt.Fprintf(e.stderr, "hallctl city token: --ttl must be positive and at most %v\n", auth.MaxTTL(auth.RoleCity))
		return 2
	}
	cfg, err := city.LoadConfig(*path)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl city token:", err)
		return 1
	}
	keys, err := auth.OpenCity(cfg.StateDir, cfg.City.ID, true)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl city token:", err)
		return 1
	}
	now := time.Now()
	tok, err := keys.Sign(auth.Claims{Role: auth.RoleCity, Subject: *subject, Halls: hs, Issued: now.Unix(), Expires: now.Add(*ttl).Unix()})
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl city token:", err)
		return 2
	}
	fmt.Fprintln(e.stdout, tok)
	return 0
}

func runCityFold(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "city fold", "--config city.yaml [--store postgres://…]")
	path := fs.String("config", "", "city config `file`")
	dsn := fs.String("store", "", "the halls' PostgreSQL database (default: the config's store:)")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	cfg, pool, ok := cityOpen(ctx, e, *path, *dsn)
	if !ok {
		return 1
	}
	defer pool.Close()
	start := time.Now()
	st, err := city.NewFolder(pool, cfg.HallConfigs, e.logger(), clockwork.NewRealClock()).FoldAll(ctx)
	fmt.Fprintf(e.stdout, "halls %d, records %d, ticket rows %d, %v\n", st.Halls, st.Records, st.Rows, time.Since(start).Round(time.Millisecond))
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl city fold:", err)
		return 1
	}
	return 0
}
