package web_test

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/hallctl/web"
)

// docs/openapi.yaml lists exactly the routes Mount registers, with their
// methods, and marks the token-protected ones with bearer security; every
// error code the server can answer is documented in docs/api.md.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := startHall(t)
	b, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Servers []struct{ URL string } `yaml:"servers"`
		Paths   map[string]map[string]struct {
			Security []map[string][]string `yaml:"security"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Fatalf("servers: %+v", doc.Servers)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			key := strings.ToUpper(m) + " /api/v1" + p
			documented[key] = len(op.Security) > 0
		}
	}
	var missing []string
	for _, r := range h.Web.Routes() {
		key := r.Method + " " + r.Path
		sec, ok := documented[key]
		if !ok {
			missing = append(missing, key)
			continue
		}
		if sec != (r.Role != "") {
			t.Errorf("%s: security documented %v, route role %q", key, sec, r.Role)
		}
		delete(documented, key)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes missing from openapi.yaml: %v", missing)
	}
	for k := range documented {
		t.Errorf("openapi.yaml documents %s, which is not registered", k)
	}
	api, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range web.ProblemCodes() {
		if !regexp.MustCompile("`" + code + "`").Match(api) {
			t.Errorf("error code %s is not documented in docs/api.md", code)
		}
	}
}
