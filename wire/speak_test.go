package wire

import (
	"reflect"
	"testing"
)

// cmd/speak grew optional voice and segments: an older payload still
// decodes to one part, and the new fields are checked.
func TestSpeakExtensions(t *testing.T) {
	var old Speak
	if err := DecodeArgs([]byte(`{"text":"请A001号到3号窗口办理","lang":"zh"}`), &old); err != nil {
		t.Fatal(err)
	}
	if got := old.Parts(); !reflect.DeepEqual(got, []SpeakSegment{{Text: "请A001号到3号窗口办理", Lang: "zh"}}) {
		t.Errorf("parts of an old payload: %+v", got)
	}
	var two Speak
	raw := `{"text":"请A 零零一号到三号窗口","lang":"yue","voice":"yue","segments":[{"text":"请A 零零一号到三号窗口","lang":"yue","voice":"yue"},{"text":"Number A zero zero one","lang":"en","voice":"en"}]}`
	if err := DecodeArgs([]byte(raw), &two); err != nil {
		t.Fatal(err)
	}
	if p := two.Parts(); len(p) != 2 || p[1].Voice != "en" || p[0].Lang != "yue" {
		t.Errorf("parts: %+v", p)
	}
	// Optional fields stay out of an older-style message.
	if got := string(Marshal(Speak{Text: "x", Lang: "zh"})); got != `{"text":"x","lang":"zh"}` {
		t.Errorf("marshal %s", got)
	}
	for _, bad := range []string{
		`{"text":"x","voice":"-w"}`,
		`{"text":"x","voice":"en us"}`,
		`{"text":"x","segments":[{"text":""}]}`,
		`{"text":"x","segments":[{"text":"a","voice":"../x"}]}`,
		`{"text":"x","segments":[{"text":"a"},{"text":"a"},{"text":"a"},{"text":"a"},{"text":"a"}]}`,
	} {
		var s Speak
		if err := DecodeArgs([]byte(bad), &s); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	for _, v := range []string{"", "yue", "cmn-latn-pinyin", "en-gb", "mb-en1", "en+f3"} {
		if !ValidVoice(v) {
			t.Errorf("voice %q refused", v)
		}
	}
}
