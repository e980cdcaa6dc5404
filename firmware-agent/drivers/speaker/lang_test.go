package speaker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

func TestNormalizeLang(t *testing.T) {
	for _, c := range []struct{ lang, in, want string }{
		{"zh", "请A001号到5号窗口办理", "请A零零一号到五号窗口办理"},
		{"yue", "请B012到3号窗口", "请B零一二号到三号窗口"},
		{"en", "Number A001, please go to window 12", "Number A zero zero one, please go to window 12"},
		{"en", "Number AB120 please", "Number A B one two zero please"},
		{"en", "Number A zero zero one, please go to window three", "Number A zero zero one, please go to window three"},
		{"fr", "Numéro A001", "Numéro A001"},
	} {
		if got := NormalizeLang(c.in, c.lang); got != c.want {
			t.Errorf("NormalizeLang(%q, %s) = %q, want %q", c.in, c.lang, got, c.want)
		}
	}
	for in, want := range map[string]string{"": "zh", "ZH-CN": "zh", "yue": "yue", "zh-yue": "yue", "yue-HK": "yue", "en-GB": "en"} {
		if got := Lang(in); got != want {
			t.Errorf("Lang(%q) = %q, want %q", in, got, want)
		}
	}
}

// recorder stands in for espeak-ng and the player: it keeps each part's
// text and voice in the order they were spoken.
type recorder struct {
	mu   sync.Mutex
	said []string
}

func (r *recorder) install(s *Speaker) {
	s.render = func(_ context.Context, text, voice, out string) error {
		return os.WriteFile(out, []byte(voice+":"+text), 0o600)
	}
	s.play = func(_ context.Context, wav string) error {
		b, err := os.ReadFile(wav)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.said = append(r.said, string(b))
		r.mu.Unlock()
		return nil
	}
}

func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.said, " | ")
	r.said = nil
	return s
}

// The voice of each part: the board's voices option first, then the
// voice the command names, then the default of the lang.
func TestVoiceMapping(t *testing.T) {
	s := newSpeaker(t, withOpts(t, device.Config{ID: "spk"}, "voices: {en: en-gb}"))
	rec := &recorder{}
	rec.install(s)
	runSpeaker(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	say := func(sp wire.Speak) device.Result { return s.Handle(ctx, wire.CmdSpeak, wire.Marshal(sp)) }
	for _, c := range []struct {
		sp   wire.Speak
		want string
	}{
		// An older controller: text and lang only.
		{wire.Speak{Text: "请A001号到3号窗口办理", Lang: "zh"}, "cmn-latn-pinyin:请A零零一号到三号窗口办理"},
		{wire.Speak{Text: "请A001号到3号窗口办理"}, "cmn-latn-pinyin:请A零零一号到三号窗口办理"},
		// Cantonese then English, as a zone configured [yue, en] hears it;
		// the board's en-gb wins over the command's en.
		{wire.Speak{Text: "请A 零零一号到三号窗口", Lang: "yue", Voice: "yue", Segments: []wire.SpeakSegment{
			{Text: "请A 零零一号到三号窗口", Lang: "yue", Voice: "yue"},
			{Text: "Number A zero zero one, please go to window three", Lang: "en", Voice: "en"},
		}}, "yue:请A 零零一号到三号窗口 | en-gb:Number A zero zero one, please go to window three"},
		// The command's voice where the board names none.
		{wire.Speak{Text: "请A002号", Lang: "yue", Voice: "yue-latn-jyutping"}, "yue-latn-jyutping:请A零零二号"},
		{wire.Speak{Text: "Number A003", Lang: "en"}, "en-gb:Number A zero zero three"},
	} {
		if got := say(c.sp); got != device.Done {
			t.Fatalf("%+v: %+v", c.sp, got)
		}
		if got := rec.take(); got != c.want {
			t.Errorf("%+v spoken as %q, want %q", c.sp, got, c.want)
		}
	}
	for _, c := range []struct {
		sp   wire.Speak
		code string
	}{
		{wire.Speak{Text: "bonjour", Lang: "fr"}, CodeUnknownLang},
		{wire.Speak{Text: "x", Segments: []wire.SpeakSegment{{Text: "x", Lang: "zh"}, {Text: "y", Lang: "fr"}}}, CodeUnknownLang},
		{wire.Speak{Text: "x", Voice: "-w/etc/passwd"}, CodeBadArgs},
		{wire.Speak{Text: "x", Segments: []wire.SpeakSegment{{Text: "", Lang: "en"}}}, CodeBadArgs},
		{wire.Speak{Text: "x", Segments: []wire.SpeakSegment{{Text: "ok"}, {Text: "请11010519491231002X到8号窗口", Lang: "en"}}}, CodePersonalData},
	} {
		if got := say(c.sp); got.Status != wire.AckRejected || got.Code != c.code {
			t.Errorf("%+v: %+v, want rejected %s", c.sp, got, c.code)
		}
	}
	if got := rec.take(); got != "" {
		t.Errorf("refused announcements were spoken: %q", got)
	}
	if _, err := New(withOpts(t, device.Config{ID: "x"}, `voices: {zh: "-x"}`), device.Env{}); err == nil {
		t.Error("a voice option starting with - was accepted")
	}
}

// With espeak-ng installed, a two-language announcement runs it once per
// part with that part's voice (-v yue, then -v en) and plays both.
func TestSegmentsRunEspeakWithTheirVoices(t *testing.T) {
	requireEspeak(t)
	player, plog, _ := shim(t)
	dir := t.TempDir()
	tlog := filepath.Join(dir, "tts.log")
	tts := filepath.Join(dir, "espeak-shim")
	script := fmt.Sprintf("#!/bin/sh\necho \"$1 $2\" >> %q\nexec espeak-ng \"$@\"\n", tlog)
	if err := os.WriteFile(tts, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSpeaker(t, withOpts(t, device.Config{ID: "spk"}, fmt.Sprintf("{play_cmd: [%q], tts_cmd: %q}", player, tts)))
	runSpeaker(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sp := wire.Speak{Text: "请A 零零一号到三号窗口", Lang: "yue", Voice: "yue", Segments: []wire.SpeakSegment{
		{Text: "请A 零零一号到三号窗口", Lang: "yue", Voice: "yue"},
		{Text: "Number A zero zero one, please go to window three", Lang: "en", Voice: "en"},
	}}
	if got := s.Handle(ctx, wire.CmdSpeak, wire.Marshal(sp)); got != device.Done {
		t.Fatalf("speak: %+v", got)
	}
	b, err := os.ReadFile(tlog)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "-v yue\n-v en" {
		t.Errorf("espeak-ng ran with %q, want -v yue then -v en", got)
	}
	b, err = os.ReadFile(plog)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), ".wav"); n != 2 {
		t.Errorf("player ran %d times, want 2: %q", n, b)
	}
}
