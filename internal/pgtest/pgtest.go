// Package pgtest gives tests a real, empty PostgreSQL schema of their own.
//
// The server is, in order: the one SERVICEHALL_PG_DSN names (.ci/run
// exports it), the machine's PostgreSQL on 127.0.0.1:5432 as user
// postgres, or an isolated cluster this package starts (initdb in a temp
// directory, a free port, internal/pgcluster). Each
// test run creates its own database shtest_<random> there, and each DSN
// call a schema in it, so tests run in parallel safely. Call Main from
// TestMain: it drops the database and stops a started cluster. Without a
// server and without initdb the tests skip loudly; with CI=true they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/servicehall/servicehall/internal/pgcluster"
)

// EnvDSN names the environment variable holding an admin DSN of a running
// server (a superuser, or a role that may create databases).
const EnvDSN = "SERVICEHALL_PG_DSN"

var (
	once    sync.Once
	baseDSN string // the run's database
	adminDB string // the admin DSN it was created with
	dbName  string
	stopFn  func()
	setup   error
	nschema int
	mu      sync.Mutex
)

// Main runs the tests and then removes what pgtest made. Use it as
// func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// Cleanup drops the run's database and stops a cluster pgtest started.
func Cleanup() {
	if dbName != "" && adminDB != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if c, err := pgx.Connect(ctx, adminDB); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)")
			c.Close(ctx)
		}
		cancel()
		dbName = ""
	}
	if stopFn != nil {
		stopFn()
		stopFn = nil
	}
}

// DSN returns a DSN whose search_path is a new, empty schema, for t alone.
// It skips t (fails it with CI=true) when no PostgreSQL can be had.
func DSN(t testing.TB) string {
	t.Helper()
	once.Do(func() { setup = start() })
	if setup != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: no PostgreSQL: %v", setup)
		}
		t.Skipf("pgtest: SKIPPING, no PostgreSQL (set %s or install postgresql): %v", EnvDSN, setup)
	}
	mu.Lock()
	nschema++
	name := fmt.Sprintf("t%d_%s", nschema, random())
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, baseDSN)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	return withParam(baseDSN, "search_path", name)
}

// Admin returns a DSN of the run's database with the default search path
// (for tests that create schemas themselves). Like DSN it may skip t.
func Admin(t testing.TB) string {
	t.Helper()
	DSN(t)
	return baseDSN
}

func withParam(dsn, k, v string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

func random() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// start finds or starts a server and creates the run's database.
func start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	candidates := []string{}
	if d := os.Getenv(EnvDSN); d != "" {
		candidates = append(candidates, d)
	}
	candidates = append(candidates, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	var errs []error
	for _, d := range candidates {
		if err := createDB(ctx, d); err != nil {
			errs = append(errs, err)
			continue
		}
		return nil
	}
	d, err := startCluster(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	return createDB(ctx, d)
}

func createDB(ctx context.Context, admin string) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, admin)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	name := "shtest_" + random()
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return err
	}
	u, err := url.Parse(admin)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	adminDB, dbName, baseDSN = admin, name, u.String()
	return nil
}

// startCluster starts a private cluster (internal/pgcluster, fsync off).
func startCluster(ctx context.Context) (string, error) {
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		return "", err
	}
	stopFn = c.Stop
	return c.DSN, nil
}
