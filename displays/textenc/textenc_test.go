package textenc

import (
	"bytes"
	"testing"
)

func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		c    Charset
		in   string
		want []byte
	}{
		{GB2312, "A001请到5号窗口", []byte{0x41, 0x30, 0x30, 0x31, 0xC7, 0xEB, 0xB5, 0xBD, 0x35, 0xBA, 0xC5, 0xB4, 0xB0, 0xBF, 0xDA}},
		{GB2312, "Z[哎", []byte{0x5A, 0x5B, 0xB0, 0xA5}},
		{GB2312, "😀", []byte("?")},
		{GB2312, "镕", []byte("?")},                     // GBK-only (81..A0 lead), not GB2312
		{GBK, "镕", []byte{0xE9, 0x46}},                 // in GBK
		{GB18030, "😀", []byte{0x94, 0x39, 0xFC, 0x36}}, // 4-byte GB18030
		{ASCII, "A号", []byte("A?")},
		{UTF8, "号\n", []byte("号 ")},
		{GB2312, "a\xffb", []byte("a?b")},
	} {
		if got := Encode(tc.c, tc.in); !bytes.Equal(got, tc.want) {
			t.Errorf("Encode(%s, %q) = % X, want % X", tc.c, tc.in, got, tc.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []Charset{GB2312, GBK, GB18030, UTF8} {
		s := "A012请到8号窗口"
		if got := Decode(c, Encode(c, s)); got != s {
			t.Errorf("%s: round trip %q -> %q", c, s, got)
		}
	}
	if got := Decode(ASCII, []byte{'A', 0xC7}); got != "A\uFFFD" {
		t.Errorf("ascii decode = %q", got)
	}
}

func TestParse(t *testing.T) {
	if c, err := Parse(""); err != nil || c != GB2312 {
		t.Errorf("Parse(\"\") = %v %v", c, err)
	}
	if c, err := Parse("UTF8"); err != nil || c != UTF8 {
		t.Errorf("Parse(UTF8) = %v %v", c, err)
	}
	if _, err := Parse("big5"); err == nil {
		t.Error("big5 accepted")
	}
}
