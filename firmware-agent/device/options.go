package device

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Each driver declares the Go type of its `options:` with RegisterOptions,
// next to its Register line. The agent config reference (docs/config.md,
// "Agent config") is generated from these registrations by a test in this
// package, so a new option cannot go undocumented, and CheckOptions
// validates a config's options without provisioning the driver.

var optRegistry = map[string]any{} // kind → defaults value (a struct), under regMu

// RegisterOptions declares kind's options type by the value its driver
// starts decoding from: a struct holding the defaults (zero fields where
// the driver fills a default later; their `default:"…"` struct tag then
// says what it is). It panics when the kind's options are registered twice
// or defaults is not a struct.
func RegisterOptions(kind string, defaults any) {
	if t := reflect.TypeOf(defaults); t == nil || t.Kind() != reflect.Struct {
		panic("device: RegisterOptions(" + kind + "): defaults must be a struct value")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := optRegistry[kind]; dup {
		panic("device: options registered twice: " + kind)
	}
	optRegistry[kind] = defaults
}

// OptionKinds lists the kinds with registered options, sorted.
func OptionKinds() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(optRegistry))
	for k := range optRegistry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// NewOptions returns a pointer to a fresh deep copy of kind's registered
// defaults, ready for DecodeOptions.
func NewOptions(kind string) (any, bool) {
	regMu.RLock()
	d, ok := optRegistry[kind]
	regMu.RUnlock()
	if !ok {
		return nil, false
	}
	p := reflect.New(reflect.TypeOf(d))
	p.Elem().Set(deepCopy(reflect.ValueOf(d)))
	return p.Interface(), true
}

// ErrNoOptions is returned by CheckOptions for a device with options whose
// kind declares none.
var ErrNoOptions = errors.New("this kind registers no options")

// CheckOptions decodes cfg.Options strictly into its kind's registered
// type: an unknown key or a value of the wrong type is an error. It checks
// keys and types only; ranges and combinations are the driver's (its
// factory). A kind without registered options passes when cfg has none.
func CheckOptions(cfg Config) error {
	v, ok := NewOptions(cfg.Kind)
	if !ok {
		if cfg.Options.Kind != 0 {
			return fmt.Errorf("device %s: options: %w (%s)", cfg.ID, ErrNoOptions, cfg.Kind)
		}
		return nil
	}
	return cfg.DecodeOptions(v)
}

// deepCopy copies maps, slices and pointers so decoding into the copy never
// changes the registered defaults.
func deepCopy(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.Struct:
		out.Set(v)
		for i := 0; i < v.NumField(); i++ {
			if out.Field(i).CanSet() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
	case reflect.Map:
		if v.IsNil() {
			return out
		}
		out.Set(reflect.MakeMapWithSize(v.Type(), v.Len()))
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), deepCopy(it.Value()))
		}
	case reflect.Slice:
		if v.IsNil() {
			return out
		}
		out.Set(reflect.MakeSlice(v.Type(), v.Len(), v.Len()))
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
	case reflect.Pointer:
		if v.IsNil() {
			return out
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(deepCopy(v.Elem()))
		out.Set(p)
	default:
		out.Set(v)
	}
	return out
}

// OptionDoc describes one config key found by Describe.
type OptionDoc struct {
	Key     string // dotted YAML path, e.g. emulator.present
	Type    string // string, integer, number, boolean, duration, list of …, map of …, object
	Default string // "" when none
	// Doc is the field's `doc:"…"` tag; when empty, the reference takes
	// the field's Go comment (Owner, Field say where it is).
	Doc   string
	Owner reflect.Type // the struct type declaring the field
	Field string       // the Go field name
}

// DescribeOptions lists every key of kind's registered options.
func DescribeOptions(kind string) ([]OptionDoc, error) {
	regMu.RLock()
	d, ok := optRegistry[kind]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%s: %w", kind, ErrNoOptions)
	}
	return Describe(d)
}

// Describe lists the YAML keys of the struct v (a value holding the
// defaults). Inline fields are flattened; struct fields of a type from the
// same package are described key by key (parent.child); other structs are
// one "object" key. A field's default is its `default:"…"` tag or else its
// non-zero value in v; a tag that contradicts a non-zero value is an error
// (the documentation would lie).
func Describe(v any) ([]OptionDoc, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Struct {
		return nil, fmt.Errorf("describe: %T is not a struct", v)
	}
	var out []OptionDoc
	var errs []error
	describe(rv, rv.Type().PkgPath(), "", &out, &errs)
	return out, errors.Join(errs...)
}

var durationType = reflect.TypeOf(time.Duration(0))

func describe(v reflect.Value, pkg, prefix string, out *[]OptionDoc, errs *[]error) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, flags, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		fv := v.Field(i)
		if strings.Contains(flags, "inline") {
			describe(fv, pkg, prefix, out, errs)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := prefix + name
		ft := f.Type
		if ft.Kind() == reflect.Struct && ft.PkgPath() == pkg {
			describe(fv, pkg, key+".", out, errs)
			continue
		}
		d := OptionDoc{Key: key, Type: typeName(f.Type), Doc: f.Tag.Get("doc"), Owner: t, Field: f.Name}
		if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && ft.Elem().PkgPath() == pkg {
			// An optional object (e.g. an emulated card): its keys in one row.
			d.Type = "object: " + strings.Join(keys(ft.Elem()), ", ")
		}
		val := ""
		if !fv.IsZero() {
			val = format(fv)
		}
		if val == "" && ft.Kind() == reflect.Bool {
			val = "false"
		}
		d.Default = val
		if def, ok := f.Tag.Lookup("default"); ok {
			if !fv.IsZero() && val != def {
				*errs = append(*errs, fmt.Errorf("%s.%s: default tag %q but the registered default is %q", t, f.Name, def, val))
			}
			d.Default = def
		}
		*out = append(*out, d)
	}
}

// keys lists the YAML keys of struct type t (inline fields flattened).
func keys(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, flags, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-" || (!f.IsExported() && !f.Anonymous):
		case strings.Contains(flags, "inline"):
			out = append(out, keys(f.Type)...)
		case name == "":
			out = append(out, strings.ToLower(f.Name))
		default:
			out = append(out, name)
		}
	}
	return out
}

func typeName(t reflect.Type) string {
	if t == durationType {
		return "duration"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		return "list of " + plural(typeName(t.Elem()))
	case reflect.Map:
		return "map of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	}
	return "object"
}

func plural(s string) string {
	switch s {
	case "object", "string", "integer", "number", "boolean", "duration":
		return s + "s"
	}
	return s
}

// format writes a default the way a config would spell it.
func format(v reflect.Value) string {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return ""
		}
		return format(v.Elem())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = format(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		keys := v.MapKeys()
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, format(k)+": "+format(v.MapIndex(k)))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.Struct:
		return "(object)"
	}
	return fmt.Sprint(v.Interface())
}
