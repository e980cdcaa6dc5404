package device_test

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	"github.com/servicehall/servicehall/firmware-agent/device"
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/all"
)

var update = flag.Bool("update", false, "rewrite the agent config reference in docs/config.md")

const (
	refBegin = "<!-- BEGIN agent-config-reference: generated from the driver registrations by `go test ./firmware-agent/device -run TestConfigReference -update`; do not edit by hand -->\n"
	refEnd   = "<!-- END agent-config-reference -->\n"
)

// The agent config reference in docs/config.md is what the code says: the
// keys of agent.Config and device.Config and every registered kind's
// options, with their types, defaults (registered values and `default:`
// tags) and meanings (`doc:` tags or the fields' Go comments). A new key,
// a changed default or comment, or a new kind fails this test until the
// reference is regenerated with -update.
func TestConfigReference(t *testing.T) {
	root := moduleRoot(t)
	got, err := reference(root)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "docs", "config.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(doc, []byte(refBegin))
	j := bytes.Index(doc, []byte(refEnd))
	if i < 0 || j < i {
		t.Fatalf("docs/config.md has no %q … %q block", strings.TrimSpace(refBegin), strings.TrimSpace(refEnd))
	}
	cur := string(doc[i+len(refBegin) : j])
	if cur == got {
		return
	}
	if *update {
		out := append(append(append([]byte(nil), doc[:i+len(refBegin)]...), got...), doc[j:]...)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the agent config reference in %s", path)
		return
	}
	t.Errorf("docs/config.md's agent config reference is out of date; run\n  go test ./firmware-agent/device -run TestConfigReference -update\nfirst difference near:\n%s", firstDiff(cur, got))
}

// Every registered kind declares its options, and every key has a meaning.
func TestEveryKindDocumentsItsOptions(t *testing.T) {
	root := moduleRoot(t)
	opts := map[string]bool{}
	for _, k := range device.OptionKinds() {
		opts[k] = true
	}
	for _, k := range device.Kinds() {
		if !opts[k] {
			t.Errorf("kind %s: the driver registers no options type (device.RegisterOptions)", k)
			continue
		}
		ds, err := device.DescribeOptions(k)
		if err != nil {
			t.Errorf("kind %s: %v", k, err)
		}
		for _, d := range ds {
			if meaning(t, root, d) == "" {
				t.Errorf("kind %s: option %s (%s.%s) has no doc tag or comment", k, d.Key, d.Owner, d.Field)
			}
		}
	}
}

// A default tag that contradicts the registered default is refused.
func TestDescribeRefusesAContradictingDefault(t *testing.T) {
	type opts struct {
		N int `yaml:"n" default:"5"`
	}
	if _, err := device.Describe(opts{N: 6}); err == nil || !strings.Contains(err.Error(), `default tag "5"`) {
		t.Fatalf("err = %v, want the contradiction", err)
	}
	ds, err := device.Describe(opts{N: 5})
	if err != nil || len(ds) != 1 || ds[0].Default != "5" || ds[0].Type != "integer" {
		t.Fatalf("got %+v, %v", ds, err)
	}
}

// CheckOptions decodes strictly into the registered type, without touching
// the registered defaults.
func TestCheckOptions(t *testing.T) {
	var cfg device.Config
	if err := yamlUnmarshal("{id: k1, kind: caller-keypad, options: {keys: {\"0x81\": call-next}, max_digts: 3}}", &cfg); err != nil {
		t.Fatal(err)
	}
	if err := device.CheckOptions(cfg); err == nil || !strings.Contains(err.Error(), "max_digts") {
		t.Fatalf("err = %v, want the unknown key", err)
	}
	if err := yamlUnmarshal("{id: s1, kind: speaker, options: {voices: {zh: my-voice}}}", &cfg); err != nil {
		t.Fatal(err)
	}
	if err := device.CheckOptions(cfg); err != nil {
		t.Fatal(err)
	}
	v, _ := device.NewOptions("speaker")
	if m := reflect.ValueOf(v).Elem().FieldByName("Voices"); m.Len() != 0 {
		t.Fatalf("decoding changed the registered defaults: voices %v", m)
	}
	if err := yamlUnmarshal("{id: x1, kind: no-such-kind, options: {a: 1}}", &cfg); err != nil {
		t.Fatal(err)
	}
	if err := device.CheckOptions(cfg); err == nil {
		t.Fatal("options of an unregistered kind passed")
	}
}

// reference renders the generated part of the agent config section.
func reference(root string) (string, error) {
	var b strings.Builder
	var dc agent.Config
	dc.Defaults()
	top, err := device.Describe(dc)
	if err != nil {
		return "", err
	}
	for i := range top {
		if top[i].Key == "devices" && top[i].Doc == "" {
			top[i].Doc = "the board's devices, one entry each: the common keys below, and `options:` by kind"
		}
	}
	b.WriteString("### Top-level keys\n\n")
	if err := table(&b, root, "key", top); err != nil {
		return "", err
	}
	common, err := device.Describe(device.Config{})
	if err != nil {
		return "", err
	}
	for i := range common {
		common[i].Key = "devices[]." + common[i].Key
	}
	b.WriteString("\n### Common device keys\n\nEvery entry of `devices:`; which of them a kind uses is listed under the kind.\n\n")
	if err := table(&b, root, "key", common); err != nil {
		return "", err
	}
	b.WriteString("\n### Device options by kind (`devices[].options`)\n")
	for _, k := range device.Kinds() {
		ds, err := device.DescribeOptions(k)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "\n#### `%s`\n\n", k)
		if err := table(&b, root, "option", ds); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func table(b *strings.Builder, root, head string, ds []device.OptionDoc) error {
	fmt.Fprintf(b, "| %s | type | default | meaning |\n|---|---|---|---|\n", head)
	for _, d := range ds {
		m := meaning(nil, root, d)
		if m == "" {
			return fmt.Errorf("%s (%s.%s) has no doc tag or comment", d.Key, d.Owner, d.Field)
		}
		def := "—"
		if d.Default != "" {
			def = "`" + d.Default + "`"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", d.Key, cell(d.Type), cell(def), cell(m))
	}
	return nil
}

func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// meaning is the doc tag or else the field's Go comment, without the
// field's name at its start.
func meaning(t *testing.T, root string, d device.OptionDoc) string {
	if d.Doc != "" {
		return d.Doc
	}
	c := fieldComments(root, d.Owner)[d.Field]
	for _, p := range []string{d.Field + ": ", d.Field + " is ", d.Field + " are ", d.Field + " "} {
		if rest, ok := strings.CutPrefix(c, p); ok && !strings.HasPrefix(rest, "of ") {
			c = rest
			break
		}
	}
	// Go names of the sibling fields (PasswordFile) read as their keys.
	for i := 0; i < d.Owner.NumField(); i++ {
		f := d.Owner.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !camel.MatchString(f.Name) {
			continue
		}
		c = regexp.MustCompile(`\b`+f.Name+`\b`).ReplaceAllString(c, "`"+name+"`")
	}
	return c
}

// camel matches Go names of more than one word (PasswordFile, MaxQueue).
var camel = regexp.MustCompile(`[a-z][A-Z]`)

var commentCache = map[reflect.Type]map[string]string{}

// fieldComments reads the Go comments of struct type t's fields from its
// package's source (doc comment above the field, else the line comment).
func fieldComments(root string, t reflect.Type) map[string]string {
	if m, ok := commentCache[t]; ok {
		return m
	}
	m := map[string]string{}
	commentCache[t] = m
	rel, ok := strings.CutPrefix(t.PkgPath(), modulePath(root))
	if !ok {
		return m
	}
	dir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(rel, "/")))
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			continue
		}
		ast.Inspect(af, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || ts.Name.Name != t.Name() {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			for _, f := range st.Fields.List {
				text := ""
				if f.Doc != nil {
					text = f.Doc.Text()
				} else if f.Comment != nil {
					text = f.Comment.Text()
				}
				text = strings.Join(strings.Fields(text), " ")
				for _, n := range f.Names {
					m[n.Name] = text
				}
			}
			return false
		})
	}
	return m
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func modulePath(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
			return strings.TrimSpace(p)
		}
	}
	return ""
}

func yamlUnmarshal(s string, cfg *device.Config) error {
	*cfg = device.Config{}
	return yaml.Unmarshal([]byte(s), cfg)
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("  docs:      %s\n  generated: %s", x, y)
		}
	}
	return ""
}
