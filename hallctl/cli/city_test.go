package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/internal/pgtest"
)

func TestCityCommands(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	hallPath, _ := hallFile(t)
	hall, err := config.Load(hallPath)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := store.OpenPostgres(ctx, dsn, store.Options{Hall: hall.Hall.ID})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 4, 2, 0, 0, 0, time.UTC)
	for i := 1; i <= 3; i++ {
		d, _ := json.Marshal(map[string]any{"type": "issued", "at": at, "ticket": i, "number": fmt.Sprint(i), "item": "x", "day": "2026-11-04"})
		if _, err := pg.Append(ctx, store.Record{Stream: casesys.QueueStream, Type: "issued", At: at, Data: d}); err != nil {
			t.Fatal(err)
		}
	}
	pg.Close()
	dir := t.TempDir()
	cityPath := filepath.Join(dir, "city.yaml")
	if err := os.WriteFile(cityPath, []byte(fmt.Sprintf("city: {id: sz, name: 深圳}\nstate_dir: state\nhalls: [{config: %s}]\n", hallPath)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "city", "fold", "--config", cityPath, "--store", dsn)
	if code != 0 || !strings.HasPrefix(out, "halls 1, records 3, ticket rows 3,") {
		t.Fatalf("fold: exit %d %q %q", code, out, errs)
	}
	if code, out, _ := runCLI(t, "city", "fold", "--config", cityPath, "--store", dsn); code != 0 || !strings.HasPrefix(out, "halls 1, records 0, ticket rows 0,") {
		t.Fatalf("second fold: exit %d %q", code, out)
	}
	code, out, errs = runCLI(t, "city", "token", "--config", cityPath, "--subject", "district-1", "--halls", hall.Hall.ID, "--ttl", "2h")
	if code != 0 {
		t.Fatalf("token: exit %d %q", code, errs)
	}
	keys, err := auth.OpenCity(filepath.Join(dir, "state"), "sz", false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := keys.Parse(strings.TrimSpace(out), time.Now())
	if err != nil || !c.CanRead(hall.Hall.ID) || c.CanRead("other") || c.Role != auth.RoleCity {
		t.Fatalf("token: %+v %v", c, err)
	}
	for _, args := range [][]string{
		{"city", "token", "--config", cityPath, "--subject", "x"},
		{"city", "token", "--config", cityPath, "--subject", "x", "--halls", "a", "--all-halls"},
		{"city", "token", "--config", cityPath, "--subject", "x", "--all-halls", "--ttl", "13h"},
		{"city"},
		{"city", "nope"},
	} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, errs := runCLI(t, "city", "serve", "-h"); code != 0 || !strings.Contains(errs, "usage: hallctl city serve") {
		t.Errorf("serve -h: %d %q", code, errs)
	}
}

// The city's key ring is rotated and retired from the CLI as a hall's is:
// a token of a retired key is refused, the signing key cannot be retired.
func TestCityTokenKeyRotation(t *testing.T) {
	hallPath, _ := hallFile(t)
	dir := t.TempDir()
	cityPath := filepath.Join(dir, "city.yaml")
	if err := os.WriteFile(cityPath, []byte(fmt.Sprintf("city: {id: sz, name: 深圳}\nstate_dir: state\nhalls: [{config: %s}]\n", hallPath)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, "city", "token", "keys", "--config", cityPath); code != 1 || !strings.Contains(errs, "run hallctl city token once") {
		t.Fatalf("keys before any token: %d %q", code, errs)
	}
	code, oldTok, errs := runCLI(t, "city", "token", "--config", cityPath, "--subject", "district-1", "--all-halls")
	if code != 0 {
		t.Fatalf("token: %d %q", code, errs)
	}
	code, out, errs := runCLI(t, "city", "token", "keys", "--config", cityPath)
	first, _, _ := strings.Cut(strings.TrimSpace(out), " ")
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "(signs new tokens)") || strings.Count(out, "\n") != 1 {
		t.Fatalf("keys: %d %q %q", code, out, errs)
	}
	code, out, errs = runCLI(t, "city", "token", "rotate-key", "--config", cityPath)
	second := strings.TrimSpace(strings.TrimPrefix(out, "new signing key"))
	if code != 0 || second == "" || second == first {
		t.Fatalf("rotate-key: %d %q %q", code, out, errs)
	}
	if code, _, errs := runCLI(t, "city", "token", "retire-key", "--config", cityPath, second); code != 1 || !strings.Contains(errs, "city token retire-key") {
		t.Errorf("retiring the signing key: %d %q", code, errs)
	}
	keys, err := auth.OpenCity(filepath.Join(dir, "state"), "sz", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Parse(strings.TrimSpace(oldTok), time.Now()); err != nil {
		t.Fatalf("the old key's token before its retirement: %v", err)
	}
	if code, out, errs := runCLI(t, "city", "token", "retire-key", "--config", cityPath, first); code != 0 || strings.TrimSpace(out) != "retired "+first {
		t.Fatalf("retire-key: %d %q %q", code, out, errs)
	}
	if _, err := keys.Parse(strings.TrimSpace(oldTok), time.Now()); err == nil {
		t.Fatal("a token of the retired key still parses")
	}
	code, newTok, _ := runCLI(t, "city", "token", "--config", cityPath, "--subject", "district-1", "--all-halls")
	if c, err := keys.Parse(strings.TrimSpace(newTok), time.Now()); code != 0 || err != nil || c.Role != auth.RoleCity {
		t.Fatalf("a token of the new key: %d %+v %v", code, c, err)
	}
	for _, args := range [][]string{
		{"city", "token", "nope", "--config", cityPath},
		{"city", "token", "retire-key", "--config", cityPath},
		{"city", "token", "keys", "--config", cityPath, "extra"},
	} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
