package config

import (
	"strings"
	"testing"
)

func TestAnnounceDefaultsAndZones(t *testing.T) {
	src := good + `announce:
  zones: {east: [yue, en]}
  templates:
    en: {text: "Ticket {number}, window {window} please"}
    yue: {voice: yue-latn-jyutping}
`
	c, err := Parse("hall.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Announce
	if got := strings.Join(a.ZoneLanguages("east"), ","); got != "yue,en" {
		t.Errorf("east: %s", got)
	}
	if got := strings.Join(a.ZoneLanguages("west"), ","); got != "zh" {
		t.Errorf("a zone not listed: %s", got)
	}
	if tp := a.Template("en"); tp.Text != "Ticket {number}, window {window} please" || tp.Voice != "en" {
		t.Errorf("en: %+v", tp)
	}
	if tp := a.Template("yue"); tp.Text != DefaultAnnounceTemplates["yue"].Text || tp.Voice != "yue-latn-jyutping" {
		t.Errorf("yue: %+v", tp)
	}
	if tp := a.Template("zh"); tp != DefaultAnnounceTemplates["zh"] {
		t.Errorf("zh: %+v", tp)
	}
}

func TestAnnounceValidation(t *testing.T) {
	src := good + `announce:
  languages: []
  zones:
    east: [yue, fr, yue]
    norht: [zh]
    west: [zh, en, yue, zh]
  templates:
    de: {text: "Nummer {number}"}
    en: {text: "Number {number} to {counter}", voice: "-w /tmp/x"}
`
	_, err := Parse("hall.yaml", []byte(src))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`announce.zones.east[1]: unknown language "fr" (zh, yue, en)`,
		`announce.zones.east[2]: language "yue" is listed twice`,
		`announce.zones.norht: unknown zone "norht": no window or agent names it (zones: east)`,
		"announce.zones.west: unknown zone",
		"announce.zones.west: 4 languages; at most 3",
		`announce.templates.de: unknown language "de"`,
		"announce.templates.en.text: unknown placeholder {counter} (use {number} and {window})",
		"announce.templates.en.text: has no {window}",
		`announce.templates.en.voice: "-w /tmp/x" is not an espeak-ng voice name`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in\n%s", want, msg)
		}
	}
}
