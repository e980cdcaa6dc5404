package idcard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

var update = flag.Bool("update", false, "rewrite testdata transcripts")

const transcriptFile = "testdata/one_card.transcript"

// Record: the driver against the emulator over a real pty; the exact
// bytes both ways must match the committed transcript.
func TestRecordOneCard(t *testing.T) {
	h, emu, _ := start(t, hopts{card: true})
	h.tick()
	h.event()
	emu.Remove()
	h.tick()
	h.waitCommands("status find select read find")
	got := "# driver (>) and emulator (<) bytes for one card presentation, hex\n" + h.transcript()
	if *update {
		if err := os.WriteFile(transcriptFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(transcriptFile)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("transcript differs (go test -run TestRecordOneCard -update to rewrite):\n%s", got)
	}
	// The host frames are the published GA 467 command frames.
	for _, f := range []string{"AAAAAA96690003 11FFED", "AAAAAA96690003 2001 22", "AAAAAA96690003 2002 21", "AAAAAA96690003 3001 32"} {
		if !strings.Contains(got, "> "+strings.ReplaceAll(f, " ", "")+"\n") {
			t.Errorf("transcript lacks %s", f)
		}
	}
}

type step struct {
	host bool
	b    []byte
}

func loadTranscript(t *testing.T) []step {
	t.Helper()
	f, err := os.Open(transcriptFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []step
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		b, err := hex.DecodeString(line[2:])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, step{host: line[0] == '>', b: b})
	}
	return out
}

// playback is a port that expects the transcript's host frames and
// answers with its recorded replies.
type playback struct {
	t      *testing.T
	mu     sync.Mutex
	script []step
	pos    int
	pr     *io.PipeReader
	pw     *io.PipeWriter
	out    chan []byte
}

func newPlayback(t *testing.T, script []step) *playback {
	pr, pw := io.Pipe()
	p := &playback{t: t, script: script, pr: pr, pw: pw, out: make(chan []byte, 16)}
	go func() {
		for b := range p.out {
			if _, err := pw.Write(b); err != nil {
				return
			}
		}
	}()
	return p
}

func (p *playback) Read(b []byte) (int, error) { return p.pr.Read(b) }

func (p *playback) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pos >= len(p.script) || !p.script[p.pos].host {
		return 0, fmt.Errorf("playback: unexpected write % X", b)
	}
	if want := p.script[p.pos].b; !bytes.Equal(b, want) {
		p.t.Errorf("playback: host wrote % X, transcript has % X", b, want)
		return 0, fmt.Errorf("playback: mismatch")
	}
	p.pos++
	for p.pos < len(p.script) && !p.script[p.pos].host {
		p.out <- p.script[p.pos].b
		p.pos++
	}
	return len(b), nil
}

func (p *playback) Close() error {
	p.pr.Close()
	return nil
}

func (p *playback) done() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pos == len(p.script)
}

// Playback: the driver against the recorded replies alone, no emulator.
func TestPlaybackOneCard(t *testing.T) {
	pb := newPlayback(t, loadTranscript(t))
	h, _, _ := start(t, hopts{openPort: func(context.Context, string, int) (device.Port, error) { return pb, nil }})
	h.waitStatus(wire.StateOnline, "")
	h.tick()
	c := h.event()
	if c != demoEvent {
		t.Fatalf("event %+v", c)
	}
	h.tick()
	h.noEvent()
	if !pb.done() {
		t.Fatal("transcript not consumed")
	}
	checkPrivate(t, h, c)
}
