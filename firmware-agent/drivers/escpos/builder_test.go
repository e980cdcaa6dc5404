package escpos

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The reference ticket of DEVICES.md §1.2, byte for byte.
const referenceTicket = `
1B 40
1C 26
1B 61 01
D5 FE CE F1 B7 FE CE F1 D6 D0 D0 C4 0A
1D 21 33
41 30 30 31 0A
1D 21 00
C7 EB B5 BD 35 BA C5 B4 B0 BF DA B0 EC C0 ED 20 C7 B0 C3 E6 33 C8 CB 0A
1D 28 6B 04 00 31 41 32 00 1D 28 6B 03 00 31 43 06 1D 28 6B 03 00 31 45 31
1D 28 6B 20 00 31 50 30 68 74 74 70 73 3A 2F 2F 65 78 61 6D 70 6C 65 2E 67 6F 76 2E 63 6E 2F 71 2F 41 30 30 31
1D 28 6B 03 00 31 51 30
1B 64 03
1D 56 42 00`

func TestReferenceTicket(t *testing.T) {
	for _, f := range []Font{FontGB2312, FontGBK, FontGB18030} {
		b := NewBuilder(f).Init().ChineseOn().Align(Center).
			Line("政务服务中心").
			Size(4, 4).Line("A001").Size(1, 1).
			Line("请到5号窗口办理 前面3人").
			QR("https://example.gov.cn/q/A001", 6, ECM).
			Feed(3).Cut(0)
		got, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if want := unhex(t, referenceTicket); !bytes.Equal(got, want) {
			t.Errorf("font %v:\n got % X\nwant % X", f, got, want)
		}
		if b.Replaced() != 0 {
			t.Errorf("font %v replaced %d", f, b.Replaced())
		}
	}
}

// The QR block vector of DEVICES.md §1.1 (receipt-printer-encoder 4.0.1,
// model 2, size 6, level M).
func TestQRBlockVector(t *testing.T) {
	url := "https://example.gov.cn/q/A001"
	got, err := NewBuilder(FontGBK).QR(url, 6, ECM).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := append(unhex(t, "1D 28 6B 04 00 31 41 32 00 1D 28 6B 03 00 31 43 06 1D 28 6B 03 00 31 45 31 1D 28 6B 20 00 31 50 30"), url...)
	want = append(want, unhex(t, "1D 28 6B 03 00 31 51 30")...)
	if !bytes.Equal(got, want) {
		t.Fatalf("\n got % X\nwant % X", got, want)
	}
	// fn 80 length: pL + pH*256 = len + 3, here 29+3 = 0x20.
	long := strings.Repeat("x", 300)
	got, _ = NewBuilder(FontGBK).QR(long, 3, ECH).Bytes()
	if !bytes.Contains(got, []byte{0x1D, 0x28, 0x6B, 0x2F, 0x01, 0x31, 0x50, 0x30, 'x'}) {
		t.Errorf("300-byte store header wrong: % X", got[:40])
	}
	if !bytes.Contains(got, []byte{0x1D, 0x28, 0x6B, 3, 0, 0x31, 0x45, 0x33}) {
		t.Error("level H byte missing")
	}
	if _, err := NewBuilder(FontGBK).QR("", 6, ECM).Bytes(); !errors.Is(err, ErrQRTooLong) {
		t.Errorf("empty qr: %v", err)
	}
	if _, err := NewBuilder(FontGBK).QR(strings.Repeat("x", MaxQRData+1), 6, ECM).Bytes(); !errors.Is(err, ErrQRTooLong) {
		t.Errorf("long qr: %v", err)
	}
}

func TestCommandBytes(t *testing.T) {
	cases := []struct {
		b    *Builder
		want string
	}{
		{NewBuilder(0).Size(2, 2), "1D 21 11"},
		{NewBuilder(0).Size(4, 4), "1D 21 33"},
		{NewBuilder(0).Size(8, 8), "1D 21 77"},
		{NewBuilder(0).Size(2, 1), "1D 21 10"},
		{NewBuilder(0).Align(Right), "1B 61 02"},
		{NewBuilder(0).Bold(true).Bold(false), "1B 45 01 1B 45 00"},
		{NewBuilder(0).Feed(3), "1B 64 03"},
		{NewBuilder(0).Cut(0), "1D 56 42 00"},
		{NewBuilder(0).ChineseOn(), "1C 26"},
		{NewBuilder(0).Line("请到5号窗口办理"), "C7 EB B5 BD 35 BA C5 B4 B0 BF DA B0 EC C0 ED 0A"},
	}
	for i, c := range cases {
		got, err := c.b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if want := unhex(t, c.want); !bytes.Equal(got, want) {
			t.Errorf("%d: got % X want % X", i, got, want)
		}
	}
	if _, err := NewBuilder(0).Size(9, 1).Bytes(); !errors.Is(err, ErrBadSize) {
		t.Errorf("size 9: %v", err)
	}
	// FS . must never be produced by any builder method.
	all, _ := NewBuilder(FontGB18030).Init().ChineseOn().Line("测试 \x1c.\x1b@ 𠀀").Bytes()
	if bytes.Contains(all, []byte{0x1c, '.'}) || bytes.Count(all, []byte{0x1b, '@'}) != 1 {
		t.Errorf("control characters leaked: % X", all)
	}
}

func TestFontReplacement(t *testing.T) {
	cases := []struct {
		font Font
		in   string
		want string
		repl int
	}{
		{FontGBK, "张*三", "D5 C5 2A C8 FD", 0},
		{FontGBK, "𠀀", "3F", 1},                         // U+20000, 4 bytes in GB18030
		{FontGB18030, "𠀀", "95 32 82 36", 0},            // DEVICES.md §1.2
		{FontGB2312, "镕", "3F", 1},                      // GBK-only hanzi (E9 46)
		{FontGBK, "镕", "E9 46", 0},                      //
		{FontGB2312, "A\tB\x07\x1bC", "41 20 42 43", 0}, // controls dropped, tab to space
		{FontGBK, "\ue000", "3F", 1},                    // private use
		{FontGBK, "a\xffb", "61 3F 62", 1},              // invalid UTF-8
		{FontGBK, "é", "A8 A6", 0},                      // GB2312 pinyin row
	}
	for _, c := range cases {
		got, n := c.font.Encode(c.in)
		if want := unhex(t, c.want); !bytes.Equal(got, want) || n != c.repl {
			t.Errorf("%v %q: got % X (%d) want % X (%d)", c.font, c.in, got, n, want, c.repl)
		}
	}
	if w := FontGBK.Width("A001 请到5号"); w != 4+1+4+1+2 {
		t.Errorf("width %d", w)
	}
	if w := FontGBK.Width("𠀀a"); w != 2 {
		t.Errorf("replaced width %d", w)
	}
}

func TestQRRaster(t *testing.T) {
	url := "https://example.gov.cn/q/A001"
	got, err := NewBuilder(0).QRRaster(url, 6, ECM, 384).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	q, _ := qrcode.New(url, qrcode.Medium)
	n := len(q.Bitmap()) // modules incl. quiet zone
	dots := n * 6
	xb := (dots + 7) / 8
	hdr := []byte{0x1D, 0x76, 0x30, 0, byte(xb), byte(xb >> 8), byte(dots), byte(dots >> 8)}
	if !bytes.Equal(got[:8], hdr) || len(got) != 8+xb*dots {
		t.Fatalf("header % X, len %d, want % X len %d", got[:8], len(got), hdr, 8+xb*dots)
	}
	// Decode the raster back into modules and compare with the symbol,
	// including the three finder patterns (7x7 dark ring) at the corners.
	img := got[8:]
	dark := func(x, y int) bool { return img[y*xb+x/8]&(0x80>>(x%8)) != 0 }
	bm := q.Bitmap()
	for y := range n {
		for x := range n {
			if dark(x*6+3, y*6+3) != bm[y][x] {
				t.Fatalf("module %d,%d differs", x, y)
			}
		}
	}
	if !dark(4*6, 4*6) || dark(3*6, 3*6) {
		t.Error("finder pattern not where the quiet zone ends")
	}
	// Shrinks to fit 58 mm paper, refuses what cannot fit.
	got, err = NewBuilder(0).QRRaster(url, 16, ECM, 384).Bytes()
	if err != nil || int(got[4])*8 > 384 {
		t.Errorf("shrink: %v, %d bytes/row", err, got[4])
	}
	if _, err := NewBuilder(0).QRRaster(strings.Repeat("x", 2000), 1, ECH, 64).Bytes(); err == nil {
		t.Error("want error for a code wider than paper")
	}
}
