// Package speaker is a zone's voice call-out (语音叫号): one device = one
// zone's announcement queue. cmd/speak {text, lang, voice, segments} is
// queued (segments: one text per language, spoken in order as one
// announcement — a zone announcing in Cantonese then Mandarin); the queue
// plays in order, never two at once, drops a text already waiting (the
// duplicate shares the queued one's outcome), and drops announcements whose
// command expired while they waited (a call announced minutes late sends
// people to the wrong window). Handle("speak") returns Done once played.
//
// Text is made speakable digit by digit in its language ("A001" →
// "A零零一号" in zh and yue, "A zero zero one" in en) and refused
// when it looks like it holds an ID number (a run of 15+ digits); full
// names never reach the agent (hallctl sends numbers and windows only).
//
// Two ways to make sound, per options:
//
//   - espeak-ng (default): `espeak-ng -v VOICE -w FILE TEXT`, then
//     play_cmd FILE, default ["aplay", "-q"]. VOICE is, in order: the
//     board's own voices[lang] option, the voice the command names (the
//     hall config's choice), the default for the lang (zh: cmn-latn-pinyin
//     — not cmn, which reads pinyin with English rules —, yue: yue, en: en).
//   - recorded clips: clips_dir holds WAV clips of one PCM format named by
//     what they say: 0.wav … 9.wav (or 零.wav …), A.wav … Z.wav, 号.wav,
//     phrases like 请.wav, 到.wav, 窗口办理.wav. The text is cut greedily
//     into the longest clips (spaces and punctuation are skipped) and the
//     clips are joined in Go; a missing piece fails with clip_missing.
//     Clips are one language's recordings and take no voice: a zone that
//     announces in several languages needs espeak-ng (or clips for every
//     word of every language).
//
// Config:
//
//	devices:
//	  - {id: spk-east, kind: speaker, zone: east,
//	    options: {play_cmd: [aplay, -q, -D, "plughw:1,0"], voices: {zh: cmn-latn-pinyin}}}
//
// A speaker that cannot speak — no espeak-ng binary, or clips_dir without
// clips — says so: checked at start and whenever a speak comes or
// rendering finds the binary gone, its status is fault with code no_tts
// and speak is acked failed with no_tts (never done in silence). It turns
// online again once speech is possible.
//
// With emulate: true a missing or failing player is logged once and
// announcements count as played to nowhere (a demo machine often has no
// sound card); a missing voice is still no_tts.
package speaker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

func init() { device.Register(wire.KindSpeaker, New) }
func init() { device.RegisterOptions(wire.KindSpeaker, DefaultOptions) }

// Stable result codes.
const (
	CodeBadArgs      = "bad_args"
	CodePersonalData = "personal_data"
	CodeTooLong      = "too_long"
	CodeExpired      = "expired"
	CodeCancelled    = "cancelled"
	CodeStopped      = "stopped"
	CodeTTSFailed    = "tts_failed"
	// CodeNoTTS: the speaker cannot make speech at all (no espeak-ng
	// binary, or no clips). The device's status is then fault with this
	// code and every speak is acked failed with it.
	CodeNoTTS = "no_tts"
	// CodeTTSMissing is the former name of CodeNoTTS.
	CodeTTSMissing  = CodeNoTTS
	CodePlayFailed  = "play_failed"
	CodePlayMissing = "player_missing"
	CodeClipMissing = "clip_missing"
	CodeUnknownCmd  = "unknown_command"
	CodeUnknownLang = "unknown_lang"
)

// Options are the speaker's `options:`.
type Options struct {
	// PlayCmd plays a WAV file given as its last argument; default
	// ["aplay", "-q"].
	PlayCmd []string `yaml:"play_cmd"`
	// TTSCmd is the espeak-ng binary; default "espeak-ng".
	TTSCmd string `yaml:"tts_cmd"`
	// Voices map the speak command's lang to an espeak-ng voice on this
	// board, ahead of the voice the command names; the langs not listed
	// take the command's voice or the default (DefaultVoices). An empty
	// lang is zh.
	Voices map[string]string `yaml:"voices" default:"{zh: cmn-latn-pinyin, yue: yue, en: en}"`
	// ClipsDir switches to recorded clips (see the package doc).
	ClipsDir string `yaml:"clips_dir"`
	// PlayTimeoutS bounds rendering plus playing one announcement; default 30.
	PlayTimeoutS int `yaml:"play_timeout_s"`
	// MaxQueue bounds waiting announcements; default 32. A full queue
	// fails new ones (queue_full): a backlog that long is stale anyway.
	MaxQueue int `yaml:"max_queue"`
}

// DefaultOptions are the defaults.
var DefaultOptions = Options{
	PlayCmd: []string{"aplay", "-q"}, TTSCmd: "espeak-ng",
	PlayTimeoutS: 30, MaxQueue: 32,
}

// DefaultVoices are the espeak-ng voices of the langs a hall announces in
// when neither the board's options nor the command name one.
var DefaultVoices = map[string]string{"zh": "cmn-latn-pinyin", "cmn": "cmn-latn-pinyin", "yue": "yue", "en": "en"}

// CodeQueueFull is returned when MaxQueue announcements already wait.
const CodeQueueFull = "queue_full"

type job struct {
	parts    []part    // spoken in order
	deadline time.Time // zero: none
	waiters  []chan device.Result
}

// part is one language's text of an announcement, normalised, and the
// voice that says it.
type part struct {
	text, voice string
}

// Stats count announcements.
type Stats struct {
	Played, Expired, Deduped, Refused, Failed uint64
}

// Speaker is a running zone speaker.
type Speaker struct {
	cfg  device.Config
	env  device.Env
	log  *slog.Logger
	o    Options
	dir  string // work files
	wake chan struct{}

	// render writes text as WAV to out; play plays a WAV file. They are
	// fields so tests can hold the queue still.
	render func(ctx context.Context, text, voice, out string) error
	play   func(ctx context.Context, wav string) error

	clipsOnce sync.Once
	clips     map[string]string // spoken text → clip file
	clipsErr  error
	warned    sync.Map    // command name → logged once
	noTTS     atomic.Bool // status is fault no_tts

	mu      sync.Mutex
	queue   []*job
	playing *job
	stats   Stats
}

// New is the factory: it checks the options (the commands are looked up
// when first used, so a missing aplay does not stop the agent).
func New(cfg device.Config, env device.Env) (device.Device, error) {
	o := DefaultOptions
	if err := cfg.DecodeOptions(&o); err != nil {
		return nil, err
	}
	var errs []error
	for lang, v := range o.Voices {
		if v == "" || !wire.ValidVoice(v) {
			errs = append(errs, fmt.Errorf("voices.%s: %q is not an espeak-ng voice name", lang, v))
		}
	}
	if len(o.PlayCmd) == 0 || o.PlayCmd[0] == "" {
		errs = append(errs, errors.New("play_cmd is empty"))
	}
	if o.TTSCmd == "" && o.ClipsDir == "" {
		errs = append(errs, errors.New("tts_cmd is empty and no clips_dir"))
	}
	if o.ClipsDir != "" {
		if st, err := os.Stat(o.ClipsDir); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("clips_dir %s is not a directory", o.ClipsDir))
		}
	}
	if o.PlayTimeoutS <= 0 {
		errs = append(errs, fmt.Errorf("play_timeout_s %d must be > 0", o.PlayTimeoutS))
	}
	if o.MaxQueue <= 0 {
		errs = append(errs, fmt.Errorf("max_queue %d must be > 0", o.MaxQueue))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("device %s: %w", cfg.ID, err)
	}
	if env.Clock == nil {
		env.Clock = clockwork.NewRealClock()
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	s := &Speaker{cfg: cfg, env: env, o: o, log: env.Log.With("device", cfg.ID), wake: make(chan struct{}, 1)}
	s.render = s.renderWAV
	s.play = s.playWAV
	return s, nil
}

// Stats returns the counters.
func (s *Speaker) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Handle queues cmd/speak and waits until it is played, dropped or failed.
// The command's expiry comes from ctx's deadline.
func (s *Speaker) Handle(ctx context.Context, name string, args []byte) device.Result {
	if name != wire.CmdSpeak {
		return device.Rejected(CodeUnknownCmd, fmt.Errorf("speaker has no command %q", name))
	}
	var a wire.Speak
	if err := wire.DecodeArgs(args, &a); err != nil {
		return device.Rejected(CodeBadArgs, err)
	}
	var parts []part
	for _, g := range a.Parts() {
		if err := Check(g.Text); err != nil {
			s.count(func(st *Stats) { st.Refused++ })
			code := CodePersonalData
			if errors.Is(err, ErrTooLong) {
				code = CodeTooLong
			}
			// Never log the text itself: it was refused for what it may hold.
			s.log.Warn("announcement refused", "code", code)
			return device.Rejected(code, err)
		}
		lang := Lang(g.Lang)
		voice, ok := s.voice(lang, g.Voice)
		if !ok && s.o.ClipsDir == "" {
			return device.Rejected(CodeUnknownLang, fmt.Errorf("no voice for lang %q", g.Lang))
		}
		parts = append(parts, part{text: NormalizeLang(g.Text, lang), voice: voice})
	}
	if err := s.ttsCheck(); err != nil {
		s.setTTS(err)
		s.count(func(st *Stats) { st.Failed++ })
		return device.Failed(CodeNoTTS, err)
	}
	s.setTTS(nil)
	deadline, _ := ctx.Deadline()
	res := make(chan device.Result, 1)
	j, r, ok := s.enqueue(parts, deadline, res)
	if !ok {
		return r
	}
	select {
	case r := <-res:
		return r
	case <-ctx.Done():
	}
	s.mu.Lock()
	select {
	case r := <-res: // finished while we looked away
		s.mu.Unlock()
		return r
	default:
	}
	if s.playing == j {
		// Already on air: its outcome follows within the play timeout.
		s.mu.Unlock()
		return <-res
	}
	j.waiters = slices.DeleteFunc(j.waiters, func(c chan device.Result) bool { return c == res })
	if len(j.waiters) == 0 {
		s.queue = slices.DeleteFunc(s.queue, func(q *job) bool { return q == j })
	}
	s.mu.Unlock()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		s.count(func(st *Stats) { st.Expired++ })
		return device.Result{Status: wire.AckExpired, Code: CodeExpired, Err: "expired while queued"}
	}
	return device.Failed(CodeCancelled, ctx.Err())
}

// Lang is a speak command's lang as the speaker keys its voices: lower
// case, without a region ("zh-CN" → "zh"), "zh" when empty. "zh-yue" is
// Cantonese.
func Lang(l string) string {
	l = strings.ToLower(l)
	if l == "" {
		return "zh"
	}
	if l == "zh-yue" || strings.HasPrefix(l, "yue") {
		return "yue"
	}
	l, _, _ = strings.Cut(l, "-")
	return l
}

// voice is the espeak-ng voice for lang: the board's own option, else the
// one the command names, else the default.
func (s *Speaker) voice(lang, named string) (string, bool) {
	if v, ok := s.o.Voices[lang]; ok {
		return v, true
	}
	if named != "" {
		return named, true
	}
	v, ok := DefaultVoices[lang]
	return v, ok
}

func (s *Speaker) enqueue(parts []part, deadline time.Time, res chan device.Result) (*job, device.Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queue {
		if slices.Equal(q.parts, parts) {
			q.waiters = append(q.waiters, res)
			if q.deadline.IsZero() || deadline.IsZero() {
				q.deadline = time.Time{}
			} else if deadline.After(q.deadline) {
				q.deadline = deadline
			}
			s.stats.Deduped++
			return q, device.Result{}, true
		}
	}
	if len(s.queue) >= s.o.MaxQueue {
		s.stats.Failed++
		return nil, device.Failed(CodeQueueFull, fmt.Errorf("%d announcements waiting", len(s.queue))), false
	}
	j := &job{parts: parts, deadline: deadline, waiters: []chan device.Result{res}}
	s.queue = append(s.queue, j)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return j, device.Result{}, true
}

func (s *Speaker) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// finish answers every waiter of j; call it with s.mu held (Handle edits
// waiters under it). Result channels have room for one, so it never blocks.
func finish(j *job, r device.Result) {
	for _, w := range j.waiters {
		w <- r
	}
}

// next pops the next live job, answering expired ones.
func (s *Speaker) next() *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.env.Clock.Now()
	for len(s.queue) > 0 {
		j := s.queue[0]
		s.queue = s.queue[1:]
		if !j.deadline.IsZero() && !now.Before(j.deadline) {
			s.stats.Expired++
			finish(j, device.Result{Status: wire.AckExpired, Code: CodeExpired, Err: "expired while queued"})
			continue
		}
		s.playing = j
		return j
	}
	return nil
}

// Run plays the queue until ctx ends.
func (s *Speaker) Run(ctx context.Context) error {
	dir := s.env.StateDir
	if dir == "" {
		d, err := os.MkdirTemp("", "servicehall-speaker-")
		if err != nil {
			return fmt.Errorf("speaker %s: %w", s.cfg.ID, err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	s.dir = dir
	if err := s.ttsCheck(); err != nil {
		s.setTTS(err)
	} else if s.env.Status != nil {
		s.env.Status.SetStatus(wire.DevStatusMsg{State: wire.StateOnline})
	}
	defer s.stop()
	for {
		j := s.next()
		if j == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-s.wake:
				continue
			}
		}
		r := s.say(ctx, j)
		s.mu.Lock()
		s.playing = nil
		switch r.Status {
		case wire.AckDone:
			s.stats.Played++
		case wire.AckExpired:
			s.stats.Expired++
		default:
			s.stats.Failed++
		}
		finish(j, r)
		s.mu.Unlock()
	}
}

// stop fails what is still queued when Run ends.
func (s *Speaker) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.queue {
		finish(j, device.Failed(CodeStopped, errors.New("speaker stopped")))
	}
	s.queue = nil
}

// say renders every part of j, then plays them in order, one after the
// other, as one announcement.
func (s *Speaker) say(ctx context.Context, j *job) device.Result {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.o.PlayTimeoutS)*time.Second)
	defer cancel()
	var wavs []string
	defer func() {
		for _, w := range wavs {
			os.Remove(w)
		}
	}()
	for _, p := range j.parts {
		f, err := os.CreateTemp(s.dir, "say-*.wav")
		if err != nil {
			return device.Failed(CodeTTSFailed, err)
		}
		wav := f.Name()
		f.Close()
		wavs = append(wavs, wav)
		if err := s.render(ctx, p.text, p.voice, wav); err != nil {
			if errors.Is(err, errPlayedToNowhere) {
				return device.Done
			}
			var c coded
			if errors.As(err, &c) {
				if c.code == CodeNoTTS {
					s.setTTS(err)
				}
				return device.Failed(c.code, err)
			}
			return device.Failed(CodeTTSFailed, err)
		}
	}
	// Rendering takes time too: check the expiry once more before speaking.
	if !j.deadline.IsZero() && !s.env.Clock.Now().Before(j.deadline) {
		return device.Result{Status: wire.AckExpired, Code: CodeExpired, Err: "expired while rendering"}
	}
	for _, wav := range wavs {
		if r, ok := s.playOne(ctx, wav); !ok {
			return r
		}
	}
	return device.Done
}

// playOne plays one rendered part; ok is false when the announcement
// ends here with r (a failure, or an emulated speaker without a player).
func (s *Speaker) playOne(ctx context.Context, wav string) (r device.Result, ok bool) {
	err := s.play(ctx, wav)
	switch {
	case err == nil:
		return device.Done, true
	case errors.Is(err, errPlayedToNowhere):
		return device.Done, false
	case s.cfg.Emulate && ctx.Err() == nil:
		// A demo machine often has aplay but no sound card.
		if _, seen := s.warned.LoadOrStore("play-failed", true); !seen {
			s.log.Warn("player failed; emulated speaker plays to nowhere", "err", err)
		}
		return device.Done, false
	}
	var c coded
	if errors.As(err, &c) {
		return device.Failed(c.code, err), false
	}
	return device.Failed(CodePlayFailed, err), false
}

// ttsCheck reports why the speaker cannot make speech, or nil.
func (s *Speaker) ttsCheck() error {
	if s.o.ClipsDir != "" {
		clips, err := s.loadClips()
		if err != nil {
			return fmt.Errorf("clips_dir %s: %w", s.o.ClipsDir, err)
		}
		if len(clips) == 0 {
			return fmt.Errorf("clips_dir %s holds no clips", s.o.ClipsDir)
		}
		return nil
	}
	if _, err := exec.LookPath(s.o.TTSCmd); err != nil {
		return fmt.Errorf("%s: %w", s.o.TTSCmd, err)
	}
	return nil
}

// setTTS reports the speaker's voice: fault no_tts when err is set,
// online again when speech came back.
func (s *Speaker) setTTS(err error) {
	if err != nil {
		if !s.noTTS.Swap(true) {
			s.log.Error("cannot speak: announcements fail until a voice is installed", "code", CodeNoTTS, "err", err)
			if s.env.Status != nil {
				s.env.Status.SetStatus(wire.DevStatusMsg{State: wire.StateFault, Code: CodeNoTTS, Detail: err.Error()})
			}
		}
		return
	}
	if s.noTTS.Swap(false) {
		s.log.Info("voice available again")
		if s.env.Status != nil {
			s.env.Status.SetStatus(wire.DevStatusMsg{State: wire.StateOnline})
		}
	}
}

// errPlayedToNowhere: emulate mode without a player.
var errPlayedToNowhere = errors.New("played to nowhere")

type coded struct {
	code string
	err  error
}

func (c coded) Error() string { return c.err.Error() }
func (c coded) Unwrap() error { return c.err }

// missing handles a command that is not installed.
func (s *Speaker) missing(cmd, code string, err error) error {
	if s.cfg.Emulate {
		if _, seen := s.warned.LoadOrStore(cmd, true); !seen {
			s.log.Warn("command not installed; emulated speaker plays to nowhere", "cmd", cmd)
		}
		return errPlayedToNowhere
	}
	return coded{code: code, err: fmt.Errorf("%s: %w", cmd, err)}
}

func (s *Speaker) renderWAV(ctx context.Context, text, voice, out string) error {
	if s.o.ClipsDir != "" {
		return s.renderClips(text, out)
	}
	bin, err := exec.LookPath(s.o.TTSCmd)
	if err != nil {
		return coded{code: CodeNoTTS, err: fmt.Errorf("%s: %w", s.o.TTSCmd, err)}
	}
	if strings.HasPrefix(text, "-") {
		text = " " + text // never an option
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-v", voice, "-w", out, text)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", s.o.TTSCmd, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

func (s *Speaker) playWAV(ctx context.Context, wav string) error {
	bin, err := exec.LookPath(s.o.PlayCmd[0])
	if err != nil {
		return s.missing(s.o.PlayCmd[0], CodePlayMissing, err)
	}
	args := append(slices.Clone(s.o.PlayCmd[1:]), wav)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", s.o.PlayCmd[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// loadClips indexes clips_dir once: file base name → path, with digit
// names also under their hanzi (0.wav serves 零).
func (s *Speaker) loadClips() (map[string]string, error) {
	s.clipsOnce.Do(func() {
		ents, err := os.ReadDir(s.o.ClipsDir)
		if err != nil {
			s.clipsErr = err
			return
		}
		m := map[string]string{}
		for _, e := range ents {
			name := e.Name()
			if e.IsDir() || !strings.EqualFold(filepath.Ext(name), ".wav") {
				continue
			}
			key := strings.TrimSuffix(name, filepath.Ext(name))
			if len(key) == 1 && '0' <= key[0] && key[0] <= '9' {
				key = hanziDigit[key[0]-'0']
			}
			if len(key) == 1 && 'a' <= key[0] && key[0] <= 'z' {
				key = strings.ToUpper(key)
			}
			if _, dup := m[key]; !dup {
				m[key] = filepath.Join(s.o.ClipsDir, name)
			}
		}
		s.clips = m
	})
	return s.clips, s.clipsErr
}

// Pieces cuts text into the longest clip names, skipping blanks and
// punctuation; it reports the first piece no clip covers.
func Pieces(text string, have func(string) bool) ([]string, error) {
	r := []rune(text)
	var out []string
	for i := 0; i < len(r); {
		if strings.ContainsRune(" \t，。、！？,.!?：:；;“”\"'（）()", r[i]) {
			i++
			continue
		}
		n := 0
		for l := min(len(r)-i, 16); l > 0; l-- {
			if have(string(r[i : i+l])) {
				n = l
				break
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("no clip for %q", string(r[i]))
		}
		out = append(out, string(r[i:i+n]))
		i += n
	}
	if len(out) == 0 {
		return nil, errors.New("nothing to say")
	}
	return out, nil
}

func (s *Speaker) renderClips(text, out string) error {
	clips, err := s.loadClips()
	if err != nil {
		return coded{code: CodeNoTTS, err: err}
	}
	pieces, err := Pieces(text, func(k string) bool { _, ok := clips[k]; return ok })
	if err != nil {
		return coded{code: CodeClipMissing, err: err}
	}
	var wavs []WAV
	for _, p := range pieces {
		b, err := os.ReadFile(clips[p])
		if err != nil {
			return coded{code: CodeClipMissing, err: err}
		}
		w, err := ParseWAV(b)
		if err != nil {
			return fmt.Errorf("clip %s: %w", filepath.Base(clips[p]), err)
		}
		wavs = append(wavs, w)
	}
	joined, err := Concat(wavs)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := joined.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var (
	_ device.Device    = (*Speaker)(nil)
	_ device.Commander = (*Speaker)(nil)
)
