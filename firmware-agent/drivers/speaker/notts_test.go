package speaker

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

type statusLog struct {
	mu   sync.Mutex
	s    []wire.DevStatusMsg
	more chan struct{} // closed and replaced at each status
}

func (l *statusLog) SetStatus(m wire.DevStatusMsg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s = append(l.s, m)
	if l.more != nil {
		close(l.more)
	}
	l.more = make(chan struct{})
}

// waitFirst returns once a status was reported (Run's report at start),
// so that no later speak races with it.
func (l *statusLog) waitFirst(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	if len(l.s) > 0 {
		l.mu.Unlock()
		return
	}
	if l.more == nil {
		l.more = make(chan struct{})
	}
	ch := l.more
	l.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("the speaker reported no status at start")
	}
}

func (l *statusLog) all() []wire.DevStatusMsg {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]wire.DevStatusMsg(nil), l.s...)
}

func (l *statusLog) last() wire.DevStatusMsg {
	s := l.all()
	if len(s) == 0 {
		return wire.DevStatusMsg{}
	}
	return s[len(s)-1]
}

func speakerWithStatus(t *testing.T, cfg device.Config) (*Speaker, *statusLog) {
	t.Helper()
	st := &statusLog{}
	d, err := New(cfg, device.Env{StateDir: t.TempDir(), Status: st})
	if err != nil {
		t.Fatal(err)
	}
	return d.(*Speaker), st
}

// A speaker without its espeak-ng binary reports fault no_tts at start and
// fails every speak with no_tts — emulated or not — instead of acking done
// in silence; once the binary is there it is online again and speaks.
func TestNoTTSBinary(t *testing.T) {
	for _, emulate := range []bool{false, true} {
		bin := filepath.Join(t.TempDir(), "espeak-ng")
		s, st := speakerWithStatus(t, withOpts(t, device.Config{ID: "spk", Emulate: emulate},
			"{play_cmd: [sh], tts_cmd: "+bin+"}"))
		var spoken []string
		var mu sync.Mutex
		s.play = func(_ context.Context, wav string) error {
			b, _ := os.ReadFile(wav)
			mu.Lock()
			spoken = append(spoken, string(b))
			mu.Unlock()
			return nil
		}
		runSpeaker(t, s)
		st.waitFirst(t) // Run's report at start, before any speak
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Run reports at start; Handle checks again either way.
		got := s.Handle(ctx, wire.CmdSpeak, speak("请A001号"))
		if got.Status != wire.AckFailed || got.Code != CodeNoTTS {
			t.Fatalf("emulate=%v: speak without espeak-ng: %+v, want failed no_tts", emulate, got)
		}
		if l := st.last(); l.State != wire.StateFault || l.Code != CodeNoTTS {
			t.Fatalf("emulate=%v: status %+v, want fault no_tts", emulate, l)
		}
		n := len(st.all())
		if got := s.Handle(ctx, wire.CmdSpeak, speak("请A002号")); got.Code != CodeNoTTS {
			t.Fatalf("second speak: %+v", got)
		}
		if len(st.all()) != n {
			t.Fatalf("fault re-published on every speak: %+v", st.all())
		}
		// The binary appears (a shim that writes a WAV-ish file).
		if err := os.WriteFile(bin, []byte("#!/bin/sh\nwhile [ $# -gt 1 ]; do [ \"$1\" = -w ] && out=$2; shift; done\nprintf '%s' \"$1\" > \"$out\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if got := s.Handle(ctx, wire.CmdSpeak, speak("请A003号")); got != device.Done {
			t.Fatalf("emulate=%v: with the binary back: %+v", emulate, got)
		}
		if l := st.last(); l.State != wire.StateOnline {
			t.Fatalf("status after recovery %+v, want online", l)
		}
		mu.Lock()
		if len(spoken) != 1 {
			t.Fatalf("spoken %q, want only the last announcement", spoken)
		}
		mu.Unlock()
	}
}

// The binary vanishing after start is found when rendering.
func TestNoTTSFoundOnFailure(t *testing.T) {
	s, st := speakerWithStatus(t, withOpts(t, device.Config{ID: "spk"}, "{play_cmd: [sh], tts_cmd: sh}"))
	s.dir = t.TempDir()
	s.o.TTSCmd = filepath.Join(t.TempDir(), "gone")
	res := s.say(context.Background(), &job{parts: []part{{text: "请A001号", voice: "x"}}})
	if res.Status != wire.AckFailed || res.Code != CodeNoTTS {
		t.Fatalf("render without binary: %+v", res)
	}
	if l := st.last(); l.State != wire.StateFault || l.Code != CodeNoTTS {
		t.Fatalf("status %+v, want fault no_tts", l)
	}
}

// A clips_dir without clips cannot speak either.
func TestNoClips(t *testing.T) {
	s, st := speakerWithStatus(t, withOpts(t, device.Config{ID: "spk"}, "{play_cmd: [sh], clips_dir: "+t.TempDir()+"}"))
	runSpeaker(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got := s.Handle(ctx, wire.CmdSpeak, speak("请A001号")); got.Code != CodeNoTTS || got.Status != wire.AckFailed {
		t.Fatalf("speak without clips: %+v", got)
	}
	if l := st.last(); l.State != wire.StateFault || l.Code != CodeNoTTS {
		t.Fatalf("status %+v", l)
	}
}
