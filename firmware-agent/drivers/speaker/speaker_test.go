package speaker

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

func withOpts(t *testing.T, cfg device.Config, opts string) device.Config {
	t.Helper()
	if opts == "" {
		return cfg
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(opts), &n); err != nil {
		t.Fatal(err)
	}
	cfg.Options = *n.Content[0]
	return cfg
}

func newSpeaker(t *testing.T, cfg device.Config) *Speaker {
	t.Helper()
	d, err := New(cfg, device.Env{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return d.(*Speaker)
}

func speak(text string) []byte { return wire.Marshal(wire.Speak{Text: text}) }

// fakeAudio holds each announcement on air until released, and records
// what was said and whether two ever overlapped.
type fakeAudio struct {
	mu      sync.Mutex
	said    []string
	onAir   atomic.Int32
	overlap atomic.Bool
	gate    chan struct{}
}

func (f *fakeAudio) install(s *Speaker) {
	f.gate = make(chan struct{})
	s.render = func(_ context.Context, text, _ string, out string) error {
		return os.WriteFile(out, []byte(text), 0o600)
	}
	s.play = func(ctx context.Context, wav string) error {
		if f.onAir.Add(1) > 1 {
			f.overlap.Store(true)
		}
		defer f.onAir.Add(-1)
		b, err := os.ReadFile(wav)
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.said = append(f.said, string(b))
		f.mu.Unlock()
		select {
		case <-f.gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *fakeAudio) release() { f.gate <- struct{}{} }

func (f *fakeAudio) transcript() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.said, "|")
}

type results struct {
	mu sync.Mutex
	m  map[string]device.Result
}

func (r *results) handle(ctx context.Context, s *Speaker, key, text string) {
	res := s.Handle(ctx, wire.CmdSpeak, speak(text))
	r.mu.Lock()
	r.m[key] = res
	r.mu.Unlock()
}

func (r *results) get(key string) device.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[key]
}

func TestQueueOrderDedupNoOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSpeaker(t, device.Config{ID: "spk-east", Zone: "east"})
		fa := &fakeAudio{}
		fa.install(s)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		r := &results{m: map[string]device.Result{}}
		var wg sync.WaitGroup
		for _, c := range []struct{ key, text string }{
			{"a", "请A001号到5号窗口"}, {"b1", "请A002号到6号窗口"}, {"c", "请A003号到7号窗口"}, {"b2", "请A002号到6号窗口"},
		} {
			wg.Go(func() { r.handle(context.Background(), s, c.key, c.text) })
			synctest.Wait() // queued (or on air) before the next one comes
		}
		if got := fa.transcript(); got != "请A零零一号到五号窗口" {
			t.Fatalf("on air: %q", got)
		}
		fa.release()
		synctest.Wait()
		if r.get("a") != device.Done {
			t.Fatalf("a: %+v", r.get("a"))
		}
		fa.release()
		fa.release()
		wg.Wait()
		if got := fa.transcript(); got != "请A零零一号到五号窗口|请A零零二号到六号窗口|请A零零三号到七号窗口" {
			t.Fatalf("played %q", got)
		}
		for _, k := range []string{"b1", "b2", "c"} {
			if r.get(k) != device.Done {
				t.Fatalf("%s: %+v", k, r.get(k))
			}
		}
		if fa.overlap.Load() {
			t.Fatal("two announcements overlapped")
		}
		if st := s.Stats(); st.Played != 3 || st.Deduped != 1 {
			t.Fatalf("stats %+v", st)
		}
		// While one is on air, the same text again is a new announcement
		// (a recall), not a duplicate.
		wg.Go(func() { r.handle(context.Background(), s, "d1", "请A009号") })
		synctest.Wait()
		wg.Go(func() { r.handle(context.Background(), s, "d2", "请A009号") })
		synctest.Wait()
		fa.release()
		fa.release()
		wg.Wait()
		if st := s.Stats(); st.Played != 5 {
			t.Fatalf("recall not replayed: %+v", st)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// deadlineOnly carries a deadline but is never done: the agent's expiry
// reaches Handle this way when it does not cancel the context itself.
type deadlineOnly struct {
	context.Context
	d time.Time
}

func (c deadlineOnly) Deadline() (time.Time, bool) { return c.d, true }

func TestExpiredWhileQueuedIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSpeaker(t, device.Config{ID: "spk"})
		fa := &fakeAudio{}
		fa.install(s)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		r := &results{m: map[string]device.Result{}}
		var wg sync.WaitGroup
		wg.Go(func() { r.handle(context.Background(), s, "long", "请A001号") })
		synctest.Wait()
		// b's context ends at its expiry: Handle gives up and unqueues it.
		bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer bcancel()
		wg.Go(func() { r.handle(bctx, s, "b", "请A002号") })
		// c only carries the deadline: the queue drops it when its turn comes.
		wg.Go(func() {
			r.handle(deadlineOnly{context.Background(), time.Now().Add(5 * time.Second)}, s, "c", "请A003号")
		})
		synctest.Wait()
		time.Sleep(10 * time.Second) // virtual time in the bubble
		synctest.Wait()
		if got := r.get("b"); got.Status != wire.AckExpired {
			t.Fatalf("b: %+v", got)
		}
		fa.release()
		wg.Wait()
		if got := r.get("c"); got.Status != wire.AckExpired || got.Code != CodeExpired {
			t.Fatalf("c: %+v", got)
		}
		if got := fa.transcript(); got != "请A零零一号" {
			t.Fatalf("played %q", got)
		}
		if st := s.Stats(); st.Expired != 2 {
			t.Fatalf("stats %+v", st)
		}
		cancel()
		<-done
	})
}

func TestRefusals(t *testing.T) {
	s := newSpeaker(t, device.Config{ID: "spk"})
	ctx := context.Background()
	cases := []struct {
		args []byte
		code string
	}{
		{speak("请11010519491231002X到8号窗口"), CodePersonalData},
		{speak(strings.Repeat("长", 200)), CodeTooLong},
		{[]byte(`{"text":""}`), CodeBadArgs},
		{[]byte(`{`), CodeBadArgs},
		{wire.Marshal(wire.Speak{Text: "hi", Lang: "fr"}), CodeUnknownLang},
	}
	for _, c := range cases {
		if got := s.Handle(ctx, wire.CmdSpeak, c.args); got.Status != wire.AckRejected || got.Code != c.code {
			t.Errorf("%s: %+v, want rejected %s", c.args, got, c.code)
		}
	}
	if got := s.Handle(ctx, wire.CmdPrint, nil); got.Code != CodeUnknownCmd {
		t.Errorf("print: %+v", got)
	}
	for _, bad := range []string{"play_cmd: []", "clips_dir: /nonexistent", "max_queue: 0", "volume: 11"} {
		if _, err := New(withOpts(t, device.Config{ID: "x"}, bad), device.Env{}); err == nil {
			t.Errorf("options %q accepted", bad)
		}
	}
}

// shim writes a fake player that records its arguments and keeps a copy
// of every WAV it is given.
func shim(t *testing.T) (cmd, log, dir string) {
	dir = t.TempDir()
	log = filepath.Join(dir, "args.log")
	cmd = filepath.Join(dir, "fake-aplay")
	script := fmt.Sprintf(`#!/bin/sh
for last; do :; done
echo "$@" >> %q
n=$(wc -l < %q)
cp "$last" %q/played-$n.wav
`, log, log, dir)
	if err := os.WriteFile(cmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return cmd, log, dir
}

func runSpeaker(t *testing.T, s *Speaker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func rms(w WAV) float64 {
	var sum float64
	n := len(w.Data) / 2
	for i := range n {
		v := float64(int16(binary.LittleEndian.Uint16(w.Data[2*i:]))) / 32768
		sum += v * v
	}
	return math.Sqrt(sum / float64(max(n, 1)))
}

func requireEspeak(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("espeak-ng not installed (required in CI: apt-get install espeak-ng)")
		}
		t.Skip("espeak-ng not installed")
	}
}

func TestEspeakAndPlayerShim(t *testing.T) {
	requireEspeak(t)
	cmd, log, dir := shim(t)
	s := newSpeaker(t, withOpts(t, device.Config{ID: "spk"}, fmt.Sprintf("play_cmd: [%q, -q, -D, default]", cmd)))
	runSpeaker(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if got := s.Handle(ctx, wire.CmdSpeak, speak("请A001号到5号窗口办理")); got != device.Done {
		t.Fatalf("speak: %+v", got)
	}
	args, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(args), "-q -D default ") || !strings.Contains(string(args), ".wav") {
		t.Fatalf("player args %q", args)
	}
	b, err := os.ReadFile(filepath.Join(dir, "played-1.wav"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := ParseWAV(b)
	if err != nil {
		t.Fatal(err)
	}
	if w.Format.BitsPerSample != 16 || w.Seconds() < 1 || rms(w) < 0.02 {
		t.Fatalf("wav %+v, %.2f s, rms %.3f", w.Format, w.Seconds(), rms(w))
	}
	// The normalised text reads right in Mandarin: 号 and 窗 phonemes.
	out, err := exec.Command("espeak-ng", "-v", "cmn-latn-pinyin", "-x", "-q", Normalize("请A001号到5号窗口办理")).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, ph := range []string{"X'Au51", "ts.hw'A55N", "l'i35N"} {
		if !strings.Contains(string(out), ph) {
			t.Errorf("phonemes %q lack %s", out, ph)
		}
	}
}

func TestClipsConcatenated(t *testing.T) {
	cmd, _, dir := shim(t)
	clips := t.TempDir()
	f := Format{Channels: 1, SampleRate: 16000, BitsPerSample: 16}
	frames := map[string]int{"请": 1600, "A": 800, "0": 400, "1": 500, "号": 700, "到": 600, "5": 300, "号窗口": 1200}
	for name, n := range frames {
		if err := os.WriteFile(filepath.Join(clips, name+".wav"), wavBytes(tone(f, n, 440)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := newSpeaker(t, withOpts(t, device.Config{ID: "spk"}, fmt.Sprintf("{play_cmd: [%q], clips_dir: %q}", cmd, clips)))
	runSpeaker(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if got := s.Handle(ctx, wire.CmdSpeak, speak("请A001到5号窗口")); got != device.Done {
		t.Fatalf("speak: %+v", got)
	}
	b, err := os.ReadFile(filepath.Join(dir, "played-1.wav"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := ParseWAV(b)
	if err != nil {
		t.Fatal(err)
	}
	// 请 A 零 零 一 号 到 五 号窗口
	want := 1600 + 800 + 400 + 400 + 500 + 700 + 600 + 300 + 1200
	if got := len(w.Data) / 2; got != want || w.Format != f {
		t.Fatalf("joined %d frames %+v, want %d", got, w.Format, want)
	}
	if got := s.Handle(ctx, wire.CmdSpeak, speak("请B001")); got.Code != CodeClipMissing {
		t.Fatalf("missing clip: %+v", got)
	}
}

func TestEmulateWithoutPlayer(t *testing.T) {
	s := newSpeaker(t, withOpts(t, device.Config{ID: "spk", Emulate: true}, "{play_cmd: [no-such-player-xyz]}"))
	s.render = func(_ context.Context, text, _ string, out string) error {
		return os.WriteFile(out, []byte(text), 0o600)
	}
	s.o.TTSCmd = "sh" // present everywhere: the voice check passes, render is faked
	runSpeaker(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		if got := s.Handle(ctx, wire.CmdSpeak, speak("请A001号")); got != device.Done {
			t.Fatalf("emulated: %+v", got)
		}
	}
	// Emulated with aplay present but no sound card: the failing player
	// does not fail the demo either.
	s3 := newSpeaker(t, withOpts(t, device.Config{ID: "spk3", Emulate: true}, "{play_cmd: [\"false\"], tts_cmd: sh}"))
	s3.render = func(_ context.Context, text, _ string, out string) error {
		return os.WriteFile(out, []byte(text), 0o600)
	}
	runSpeaker(t, s3)
	if got := s3.Handle(ctx, wire.CmdSpeak, speak("请A001号")); got != device.Done {
		t.Fatalf("emulated, failing player: %+v", got)
	}
	// Not emulated: a missing player is a failure with a code.
	s2 := newSpeaker(t, withOpts(t, device.Config{ID: "spk2"}, "{play_cmd: [no-such-player-xyz], tts_cmd: no-such-tts-xyz}"))
	runSpeaker(t, s2)
	if got := s2.Handle(ctx, wire.CmdSpeak, speak("请A001号")); got.Code != CodeNoTTS {
		t.Fatalf("real: %+v", got)
	}
}
