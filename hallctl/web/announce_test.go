package web_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/web"
	"github.com/servicehall/servicehall/wire"
)

// A zone configured for Cantonese then English gets, over MQTT, one
// speak command with two segments in that order, each with its voice
// (Text/Lang repeat the first for older agents); a zone left to the
// default gets Mandarin only.
func TestAnnounceZoneLanguagesOverMQTT(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(testHall+`announce:
  zones: {east: [yue, en]}
`))
	if err != nil {
		t.Fatal(err)
	}
	h := startHallWith(t, cfg)
	spk := newDevice(t, h, "speakers", []wire.DeviceInfo{
		{ID: "spk-east", Kind: wire.KindSpeaker, Zone: "east"},
		{ID: "spk-west", Kind: wire.KindSpeaker, Zone: "west"},
	})
	speak := func(window int, item string) wire.Speak {
		t.Helper()
		if r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": item}); r.status != 201 {
			t.Fatalf("ticket: %d %s", r.status, r.body)
		}
		if r := h.do(t, "POST", "/api/v1/windows/"+strconv.Itoa(window)+"/actions", h.token(t, web.RoleClerk, window), map[string]any{"action": "call-next"}); r.status != 200 {
			t.Fatalf("call-next: %d %s", r.status, r.body)
		}
		c := waitCmd(t, spk, "speak ", "")
		var sp wire.Speak
		if err := json.Unmarshal([]byte(strings.TrimPrefix(c, "speak ")), &sp); err != nil {
			t.Fatal(err)
		}
		return sp
	}
	east := speak(1, "HR-001")
	if len(east.Segments) != 2 {
		t.Fatalf("east: %+v, want two segments", east)
	}
	for i, want := range []wire.SpeakSegment{
		{Text: "请A 零零一号到一号窗口办理", Lang: "yue", Voice: "yue"},
		{Text: "Number A zero zero one, please go to window one", Lang: "en", Voice: "en"},
	} {
		if east.Segments[i] != want {
			t.Errorf("east segment %d: %+v, want %+v", i, east.Segments[i], want)
		}
	}
	if east.Text != east.Segments[0].Text || east.Lang != "yue" || east.Voice != "yue" {
		t.Errorf("east text/lang/voice for older agents: %+v", east)
	}
	west := speak(2, "MKT-001")
	if len(west.Segments) != 1 || west.Lang != "zh" || west.Voice != "cmn-latn-pinyin" || west.Text != "请C 零零一号到二号窗口办理" {
		t.Errorf("west: %+v", west)
	}
}
