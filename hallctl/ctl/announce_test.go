package ctl

import (
	"reflect"
	"testing"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/wire"
)

func TestSpokenNumberAndWindow(t *testing.T) {
	for _, c := range []struct{ lang, in, want string }{
		{"zh", "A001", "A 零零一"},
		{"yue", "A001", "A 零零一"},
		{"en", "A001", "A zero zero one"},
		{"zh", "AB120", "A B 一二零"},
		{"en", "c9", "C nine"},
		{"zh", "A-01", "A 零一"},
	} {
		if got := SpokenNumber(c.lang, c.in); got != c.want {
			t.Errorf("SpokenNumber(%s, %q) = %q, want %q", c.lang, c.in, got, c.want)
		}
	}
	for n, want := range map[int]string{0: "零", 3: "三", 10: "十", 12: "十二", 20: "二十", 35: "三十五", 100: "一百",
		101: "一百零一", 110: "一百一十", 1005: "一千零五", 1050: "一千零五十", 12345: "一二三四五"} {
		if got := SpokenWindow("zh", n); got != want {
			t.Errorf("SpokenWindow(zh, %d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int]string{3: "three", 12: "twelve", 20: "twenty", 35: "thirty-five", 100: "one hundred",
		105: "one hundred and five", 1200: "1200"} {
		if got := SpokenWindow("en", n); got != want {
			t.Errorf("SpokenWindow(en, %d) = %q, want %q", n, got, want)
		}
	}
}

func TestAnnouncementTemplates(t *testing.T) {
	cfg, err := config.Parse("hall.yaml", []byte(`hall: {id: h, name: 大厅}
departments: [{code: HR, name: 人社}]
items: [{code: HR-1, name: 社保, dept: HR, prefix: A}]
windows:
  - {number: 3, dept: HR, serves: ["*"], zone: east}
  - {number: 12, dept: HR, serves: ["*"], zone: west}
  - {number: 4, dept: HR, serves: ["*"], zone: north}
announce:
  zones: {east: [yue, en], west: [zh, en]}
  templates: {en: {voice: en-gb}}
`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Announce
	got := Announcement(a, "east", "A001", 3)
	want := wire.Speak{Text: "请A 零零一号到三号窗口办理", Lang: "yue", Voice: "yue", Segments: []wire.SpeakSegment{
		{Text: "请A 零零一号到三号窗口办理", Lang: "yue", Voice: "yue"},
		{Text: "Number A zero zero one, please go to window three", Lang: "en", Voice: "en-gb"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("east:\n got %+v\nwant %+v", got, want)
	}
	if got := Announcement(a, "west", "B012", 12); got.Segments[0].Text != "请B 零一二号到十二号窗口办理" || got.Segments[0].Voice != "cmn-latn-pinyin" ||
		got.Segments[1].Text != "Number B zero one two, please go to window twelve" {
		t.Errorf("west: %+v", got)
	}
	// A zone not listed announces in announce.languages (default zh only).
	if got := Announcement(a, "north", "A001", 4); len(got.Segments) != 1 || got.Text != "请A 零零一号到四号窗口办理" || got.Lang != "zh" {
		t.Errorf("north: %+v", got)
	}
	if SpeakText("A001", 3) != "请A 零零一号到三号窗口办理" {
		t.Errorf("SpeakText %q", SpeakText("A001", 3))
	}
	// What the controller sends passes the contract's own check.
	if err := wire.DecodeArgs(wire.Marshal(got), &wire.Speak{}); err != nil {
		t.Error(err)
	}
}
