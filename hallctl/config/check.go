package config

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// This file is what `hallctl check` adds to Validate (issue 11): every
// unknown key is reported at once with its key path, line and a
// did-you-mean, and warnings (not errors) name items no window serves and
// windows whose serves resolve to no item.

var yamlNodeType = reflect.TypeOf(yaml.Node{})

// unknownKeyProblems walks the parsed document against the Config type.
func (c *Config) unknownKeyProblems(root *yaml.Node) []Problem {
	if root == nil || len(root.Content) == 0 {
		return nil
	}
	var ps []Problem
	unknownKeys(root.Content[0], reflect.TypeOf(c), "", func(k *yaml.Node, path string, known []string) {
		ps = append(ps, Problem{File: c.Path, Line: k.Line, Key: strings.TrimPrefix(path, "."), Msg: unknownKeyMsg(k.Value, known)})
	})
	return ps
}

// unknownKeyMsg is "unknown key", with the nearest known key at that level
// when one is close (edit distance at most 2, or a third of the key).
func unknownKeyMsg(key string, known []string) string {
	if s := Suggest(key, known); s != "" {
		return fmt.Sprintf("unknown key (did you mean %q?)", s)
	}
	if len(known) > 0 && len(known) <= 12 {
		k := slices.Clone(known)
		sort.Strings(k)
		return "unknown key (known here: " + strings.Join(k, ", ") + ")"
	}
	return "unknown key"
}

// Suggest returns the candidate nearest to s by edit distance (case
// folded), if it is close enough to be a typo: at most 2 edits, or a third
// of the longer string's length; ties go to the first in candidates.
func Suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := editDistance(ls, strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(2, max(len([]rune(s)), len([]rune(best)))/3)
	if best == "" || bestD == 0 && best == s || bestD > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance over runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// coverageWarnings: items that no window serves (only as backup, or not
// at all), and windows whose serves resolve to no item.
func (c *Config) coverageWarnings() []Problem {
	var ps []Problem
	warn := func(key, format string, a ...any) {
		ps = append(ps, Problem{File: c.Path, Line: c.lineOf(key), Key: key, Msg: fmt.Sprintf(format, a...), Warning: true})
	}
	served, backup := map[string]bool{}, map[string][]int{}
	for i, w := range c.Windows {
		got := c.Expand(w.Serves)
		for _, it := range got {
			served[it] = true
		}
		for _, it := range c.Expand(w.Backup) {
			backup[it] = append(backup[it], w.Number)
		}
		if len(w.Serves) > 0 && len(got) == 0 && c.refsKnown(w.Serves) {
			warn(fmt.Sprintf("windows[%d].serves", i), "window %d serves no item (%s names no item of this hall)", w.Number, strings.Join(w.Serves, ", "))
		}
	}
	for i, it := range c.Items {
		if served[it.Code] {
			continue
		}
		if b := backup[it.Code]; len(b) > 0 {
			warn(fmt.Sprintf("items[%d]", i), "no window serves %s (%s); only as a backup of window %s, after waits escalate", it.Code, it.Name, joinInts(b))
		} else {
			warn(fmt.Sprintf("items[%d]", i), "no window serves %s (%s): its tickets would never be called", it.Code, it.Name)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return ps
}

// refsKnown reports whether every reference names a known item or
// department (an unknown one is already an error).
func (c *Config) refsKnown(refs []string) bool {
	for _, r := range refs {
		if r == "*" {
			continue
		}
		if d, ok := strings.CutPrefix(r, "dept:"); ok {
			if !slices.ContainsFunc(c.Departments, func(x Department) bool { return x.Code == d }) {
				return false
			}
		} else if c.Item(r) == nil {
			return false
		}
	}
	return true
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// refHint is a did-you-mean for an unknown item or department reference.
func refHint(ref string, items, depts map[string]bool) string {
	if d, ok := strings.CutPrefix(ref, "dept:"); ok {
		if s := Suggest(d, keys(depts)); s != "" {
			return fmt.Sprintf(" (did you mean %q?)", "dept:"+s)
		}
		return ""
	}
	if s := Suggest(ref, keys(items)); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	if depts[ref] {
		return fmt.Sprintf(" (a department: did you mean %q?)", "dept:"+ref)
	}
	return ""
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// typeErrorOf reports whether p is about a value a type error already
// named: same line, and the key's scalar is the value the error quotes
// (yaml.v3 says "cannot unmarshal !!str `four` into int").
func (c *Config) typeErrorOf(p Problem, typeErrs []Problem) bool {
	if p.Line == 0 || len(typeErrs) == 0 {
		return false
	}
	n := c.nodeOf(p.Key)
	if n == nil || n.Kind != yaml.ScalarNode {
		return false
	}
	for _, te := range typeErrs {
		if te.Line == p.Line && strings.Contains(te.Msg, "`"+n.Value+"`") {
			return true
		}
	}
	return false
}

// nodeOf finds the node of a key path like "windows[3].number", or nil.
func (c *Config) nodeOf(key string) *yaml.Node {
	if c.root == nil || len(c.root.Content) == 0 {
		return nil
	}
	n := c.root.Content[0]
	for _, part := range strings.Split(key, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			name = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		n = mapValue(n, name)
		if n == nil {
			return nil
		}
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return nil
			}
			n = n.Content[idx]
		}
	}
	return n
}

// keyTypeErrors gives each type error the key path of the value it
// quotes on its line (yaml.v3 names only the line).
func keyTypeErrors(root *yaml.Node, ps []Problem) {
	for i := range ps {
		p := &ps[i]
		_, rest, ok := strings.Cut(p.Msg, "`")
		val, _, ok2 := strings.Cut(rest, "`")
		if p.Key != "" || !ok || !ok2 || root == nil || len(root.Content) == 0 {
			continue
		}
		p.Key = pathAt(root.Content[0], "", p.Line, val)
	}
}

// pathAt is the key path of the first scalar at line with value val.
func pathAt(n *yaml.Node, path string, line int, val string) string {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := pathAt(n.Content[i+1], strings.TrimPrefix(path+"."+n.Content[i].Value, "."), line, val); k != "" {
				return k
			}
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			if k := pathAt(e, fmt.Sprintf("%s[%d]", path, i), line, val); k != "" {
				return k
			}
		}
	case yaml.ScalarNode:
		if n.Line == line && n.Value == val {
			return path
		}
	}
	return ""
}
