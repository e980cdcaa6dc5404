package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Announce is how a call is spoken (语音叫号, the `announce:` section): a
// text template per language and, per zone, the languages its speakers
// announce in, in order (a zone may announce Mandarin then English, or
// Cantonese then Mandarin). Every field has a default: Mandarin only,
// with the templates of DefaultAnnounceTemplates.
type Announce struct {
	// Languages are the languages of the zones not listed in Zones, in
	// order; default [zh].
	Languages []string `yaml:"languages,omitempty"`
	// Zones map a zone (windows' and speakers' `zone:`) to its languages.
	Zones map[string][]string `yaml:"zones,omitempty"`
	// Templates override a language's text or voice; what a template
	// leaves out comes from DefaultAnnounceTemplates.
	Templates map[string]AnnounceTemplate `yaml:"templates,omitempty"`
}

// AnnounceTemplate is one language's announcement: Text with the
// placeholders {number} (the ticket number, read letter and digit by
// digit as halls call it: A001 → "A 零零一") and {window} (the window
// number, read as a number), and the espeak-ng Voice that says it.
type AnnounceTemplate struct {
	Text  string `yaml:"text,omitempty"`
	Voice string `yaml:"voice,omitempty"`
}

// AnnounceLanguages are the languages a hall can announce in: zh
// (Mandarin), yue (Cantonese, espeak-ng -v yue) and en (English).
var AnnounceLanguages = []string{"zh", "yue", "en"}

// DefaultAnnounceTemplates are the shipped templates.
var DefaultAnnounceTemplates = map[string]AnnounceTemplate{
	"zh":  {Text: "请{number}号到{window}号窗口办理", Voice: "cmn-latn-pinyin"},
	"yue": {Text: "请{number}号到{window}号窗口办理", Voice: "yue"},
	"en":  {Text: "Number {number}, please go to window {window}", Voice: "en"},
}

// MaxAnnounceLanguages bounds a zone's languages (each is spoken in turn).
const MaxAnnounceLanguages = 3

// Template is the effective template of lang (defaults filled in).
func (a Announce) Template(lang string) AnnounceTemplate {
	t := DefaultAnnounceTemplates[lang]
	if o, ok := a.Templates[lang]; ok {
		if o.Text != "" {
			t.Text = o.Text
		}
		if o.Voice != "" {
			t.Voice = o.Voice
		}
	}
	return t
}

// ZoneLanguages are the languages zone announces in, in order.
func (a Announce) ZoneLanguages(zone string) []string {
	if l, ok := a.Zones[zone]; ok && len(l) > 0 {
		return l
	}
	if len(a.Languages) > 0 {
		return a.Languages
	}
	return []string{"zh"}
}

func (a *Announce) applyDefaults() {
	if len(a.Languages) == 0 {
		a.Languages = []string{"zh"}
	}
}

var (
	placeholderRe = regexp.MustCompile(`\{[^{}]*\}`)
	voiceNameRe   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]{0,39}$`) // wire.ValidVoice
)

func knownAnnounceLang(l string) bool {
	for _, k := range AnnounceLanguages {
		if k == l {
			return true
		}
	}
	return false
}

// announceProblems checks the `announce:` section.
func (c *Config) announceProblems(add func(key, format string, args ...any)) {
	a := c.Announce
	langs := "(" + strings.Join(AnnounceLanguages, ", ") + ")"
	checkList := func(key string, l []string) {
		if len(l) == 0 {
			add(key, "is empty: list at least one language %s", langs)
		}
		if len(l) > MaxAnnounceLanguages {
			add(key, "%d languages; at most %d are announced in turn", len(l), MaxAnnounceLanguages)
		}
		seen := map[string]bool{}
		for i, x := range l {
			k := fmt.Sprintf("%s[%d]", key, i)
			switch {
			case !knownAnnounceLang(x):
				add(k, "unknown language %q %s", x, langs)
			case seen[x]:
				add(k, "language %q is listed twice", x)
			}
			seen[x] = true
		}
	}
	checkList("announce.languages", a.Languages)
	zones := map[string]bool{}
	for _, w := range c.Windows {
		if w.Zone != "" {
			zones[w.Zone] = true
		}
	}
	for _, ag := range c.Agents {
		for _, z := range ag.Zones {
			zones[z] = true
		}
	}
	names := make([]string, 0, len(a.Zones))
	for z := range a.Zones {
		names = append(names, z)
	}
	sort.Strings(names)
	for _, z := range names {
		if !zones[z] {
			known := make([]string, 0, len(zones))
			for k := range zones {
				known = append(known, k)
			}
			sort.Strings(known)
			add("announce.zones."+z, "unknown zone %q: no window or agent names it (zones: %s)", z, strings.Join(known, ", "))
		}
		checkList("announce.zones."+z, a.Zones[z])
	}
	tnames := make([]string, 0, len(a.Templates))
	for l := range a.Templates {
		tnames = append(tnames, l)
	}
	sort.Strings(tnames)
	for _, l := range tnames {
		k := "announce.templates." + l
		if !knownAnnounceLang(l) {
			add(k, "unknown language %q %s", l, langs)
			continue
		}
		t := a.Templates[l]
		if t.Text != "" {
			if n := utf8.RuneCountInString(t.Text); n > 80 {
				add(k+".text", "%d characters; an announcement template has at most 80", n)
			}
			for _, p := range placeholderRe.FindAllString(t.Text, -1) {
				if p != "{number}" && p != "{window}" {
					add(k+".text", "unknown placeholder %s (use {number} and {window})", p)
				}
			}
			for _, p := range []string{"{number}", "{window}"} {
				if !strings.Contains(t.Text, p) {
					add(k+".text", "has no %s: the announcement would not say it", p)
				}
			}
		}
		if t.Voice != "" && !voiceNameRe.MatchString(t.Voice) {
			add(k+".voice", "%q is not an espeak-ng voice name (letters, digits, - _ +; e.g. cmn-latn-pinyin, yue, en)", t.Voice)
		}
	}
}
