package speaker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	cases := map[string]string{
		"A001":          "A零零一号",
		"请A001号到5号窗口办理": "请A零零一号到五号窗口办理",
		"请a012到12号窗口":   "请A零一二号到一二号窗口",
		"请 B100 号到8号窗口": "请 B一零零号到八号窗口",
		"请到服务台":         "请到服务台",
		"VIP007请到3号窗口":  "VIP零零七号请到三号窗口",
		"第2020号":        "第二零二零号",
		"HR-001":        "HR-零零一",
	}
	for in, want := range cases {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckRefusesIDNumbers(t *testing.T) {
	bad := []string{
		"请11010519491231002X到8号窗口",
		"110105194912310021",
		"请110105491231002号", // 15-digit card
		"一一零一零五一九四九一二三一零零二X",
		"１１０１０５１９４９１２３１００２Ｘ", // full-width digits (Ｘ full width not matched, 17 digits are)
		strings.Repeat("字", MaxTextRunes+1),
	}
	for _, s := range bad {
		if err := Check(s); err == nil {
			t.Errorf("Check accepted %q", s)
		}
	}
	if !errors.Is(Check("110105194912310021"), ErrPersonalData) {
		t.Error("ID number not ErrPersonalData")
	}
	for _, s := range []string{"请A001号到5号窗口办理", "请A0010号到12号窗口", "12345678901234"} {
		if err := Check(s); err != nil {
			t.Errorf("Check refused %q: %v", s, err)
		}
	}
}

// tone makes a PCM clip of n frames.
func tone(f Format, n int, hz float64) WAV {
	var b bytes.Buffer
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/float64(f.SampleRate)))
		for range f.Channels {
			binary.Write(&b, binary.LittleEndian, v)
		}
	}
	return WAV{Format: f, Data: b.Bytes()}
}

func wavBytes(w WAV) []byte {
	var b bytes.Buffer
	w.WriteTo(&b)
	return b.Bytes()
}

func TestWAVRoundTripAndConcat(t *testing.T) {
	f := Format{Channels: 1, SampleRate: 22050, BitsPerSample: 16}
	a, b := tone(f, 2205, 440), tone(f, 4410, 660)
	pa, err := ParseWAV(wavBytes(a))
	if err != nil || pa.Format != f || !bytes.Equal(pa.Data, a.Data) {
		t.Fatalf("round trip: %v %+v", err, pa.Format)
	}
	j, err := Concat([]WAV{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if got := j.Seconds(); math.Abs(got-0.3) > 1e-9 {
		t.Fatalf("joined %.4f s, want 0.3", got)
	}
	if _, err := Concat([]WAV{a, tone(Format{Channels: 2, SampleRate: 22050, BitsPerSample: 16}, 10, 1)}); !errors.Is(err, ErrBadWAV) {
		t.Fatalf("mixed formats: %v", err)
	}
	// A streamed header (size 0xffffffff) is cut to what is there.
	s := wavBytes(a)
	binary.LittleEndian.PutUint32(s[40:], 0xffffffff)
	if w, err := ParseWAV(append(s, 1)); err != nil || len(w.Data) != len(a.Data) {
		t.Fatalf("streamed: %v %d", err, len(w.Data))
	}
	for _, bad := range [][]byte{nil, []byte("RIFF0000WAVE"), []byte("RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd"), wavBytes(a)[:30]} {
		if _, err := ParseWAV(bad); !errors.Is(err, ErrBadWAV) {
			t.Errorf("accepted %q: %v", bad, err)
		}
	}
}

func FuzzParseWAV(f *testing.F) {
	f.Add(wavBytes(tone(Format{Channels: 1, SampleRate: 8000, BitsPerSample: 16}, 8, 440)))
	f.Add([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x44\xac\x00\x00\x10\xb1\x02\x00\x04\x00\x10\x00data\xff\xff\xff\xff\x01\x02"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEjunk\x03\x00\x00\x00abc\x00fmt "))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := ParseWAV(b)
		if err != nil {
			if !errors.Is(err, ErrBadWAV) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		if ba := w.Format.BlockAlign(); ba == 0 || len(w.Data)%ba != 0 {
			t.Fatalf("partial frames: %d bytes, block %d", len(w.Data), ba)
		}
		again, err := ParseWAV(wavBytes(w))
		if err != nil || again.Format != w.Format || !bytes.Equal(again.Data, w.Data) {
			t.Fatalf("rewrite does not round-trip: %v", err)
		}
	})
}

func TestPieces(t *testing.T) {
	have := map[string]bool{"请": true, "A": true, "零": true, "一": true, "号": true, "到": true, "五": true, "号窗口办理": true, "号窗口": true}
	got, err := Pieces(Normalize("请A001号，到5号窗口办理"), func(s string) bool { return have[s] })
	if err != nil {
		t.Fatal(err)
	}
	want := "请|A|零|零|一|号|到|五|号窗口办理"
	if strings.Join(got, "|") != want {
		t.Fatalf("pieces %q want %q", strings.Join(got, "|"), want)
	}
	if _, err := Pieces("请B", func(s string) bool { return have[s] }); err == nil {
		t.Fatal("missing clip not reported")
	}
}
