package sam

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf16"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Command frames as hard-coded in the hev C code, BearPi IDReader.h and
// idcard_vectors.py (DEVICES.md §2.2).
func TestCommandFramesGolden(t *testing.T) {
	cases := []struct {
		c    Command
		want string
	}{
		{CmdReset, "AA AA AA 96 69 00 03 10 FF EC"},
		{CmdStatus, "AA AA AA 96 69 00 03 11 FF ED"},
		{CmdSAMID, "AA AA AA 96 69 00 03 12 FF EE"},
		{CmdFind, "AA AA AA 96 69 00 03 20 01 22"},
		{CmdSelect, "AA AA AA 96 69 00 03 20 02 21"},
		{CmdRead, "AA AA AA 96 69 00 03 30 01 32"},
		{CmdReadFP, "AA AA AA 96 69 00 03 30 10 23"},
		{CmdReadAddress, "AA AA AA 96 69 00 03 30 03 30"},
		{Command{Cmd: 0x61, Para: 0xFF, Data: []byte{0x50}}, "AA AA AA 96 69 00 04 61 FF 50 CA"},
	}
	for _, c := range cases {
		want := unhex(t, c.want)
		if got := c.c.Encode(); !bytes.Equal(got, want) {
			t.Errorf("%v: got % X want % X", c.c, got, want)
		}
		p, n, err := Split(want)
		if err != nil || n != len(want) {
			t.Fatalf("%v: Split: n=%d err=%v", c.c, n, err)
		}
		pc, err := ParseCommand(p)
		if err != nil || !pc.Is(c.c) || !bytes.Equal(pc.Data, c.c.Data) {
			t.Errorf("%v: parsed %+v, %v", c.c, pc, err)
		}
	}
}

// Reply frames from softs.im and DEVICES.md §2.3, parsed (independent
// vectors) and rebuilt.
func TestReplyFramesGolden(t *testing.T) {
	cases := []struct {
		frame string
		sw3   Status
		data  int
		class error
	}{
		{"AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97", StatusFound, 4, nil},
		{"AA AA AA 96 69 00 04 00 00 80 84", StatusNoCard, 0, ErrNoCard},
		{"AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C", StatusOK, 8, nil},
		{"AA AA AA 96 69 00 04 00 00 41 45", StatusReadFailed, 0, ErrCard},
		{"AA AA AA 96 69 00 04 00 00 32 36", StatusReaderAuth, 0, ErrCard},
	}
	for _, c := range cases {
		f := unhex(t, c.frame)
		p, n, err := Split(f)
		if err != nil || n != len(f) {
			t.Fatalf("%s: Split n=%d err=%v", c.frame, n, err)
		}
		r, err := ParseReply(p)
		if err != nil {
			t.Fatal(err)
		}
		if r.SW3 != c.sw3 || len(r.Data) != c.data || r.SW1 != 0 || r.SW2 != 0 {
			t.Errorf("%s: got %+v", c.frame, r)
		}
		if c.class == nil && r.Err() != nil {
			t.Errorf("%s: Err = %v", c.frame, r.Err())
		}
		if c.class != nil && !errors.Is(r.Err(), c.class) {
			t.Errorf("%s: Err = %v, want class %v", c.frame, r.Err(), c.class)
		}
		if got := r.Encode(); !bytes.Equal(got, f) {
			t.Errorf("re-encode: got % X want % X", got, f)
		}
	}
}

// The EastComs SAM_V published read header (DEVICES.md §2.4).
func TestReadReplyEastComsHeader(t *testing.T) {
	text, err := EncodeText(sample())
	if err != nil {
		t.Fatal(err)
	}
	m := BaseMessage{Text: text, Photo: make([]byte, 1024)}
	f := Reply{SW3: StatusOK, Data: m.Encode()}.Encode()
	if len(f) != 1295 {
		t.Fatalf("read reply is %d bytes, want 1295", len(f))
	}
	want := unhex(t, "AA AA AA 96 69 05 08 00 00 90 01 00 04 00")
	if !bytes.Equal(f[:14], want) {
		t.Fatalf("header % X want % X", f[:14], want)
	}
	// The text block sits at frame offset 14, the ID number at 14+122.
	if got := utf16le(f[14+122 : 14+122+36]); got != "11010519491231002X" {
		t.Fatalf("id at frame offset 136: %q", got)
	}
	p, _, err := Split(f)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ParseReply(p)
	bm, err := ParseBaseMessage(r.Data, false)
	if err != nil {
		t.Fatal(err)
	}
	id, err := DecodeText(bm.Text)
	if err != nil {
		t.Fatal(err)
	}
	if id != sample() || len(bm.Photo) != 1024 {
		t.Fatal("round trip differs")
	}
}

func utf16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return strings.TrimRight(string(utf16.Decode(u)), " ")
}

func sample() Identity {
	return Identity{
		Name: "张三", Sex: "2", Nation: "01", Birth: "19491231",
		Address: "北京市朝阳区某某路1号", ID: "11010519491231002X",
		Issuer: "北京市公安局朝阳分局", ValidFrom: "20200101", ValidTo: ValidForever,
	}
}

// A text block built by hand at the published offsets, not by EncodeText.
func TestDecodeTextHandBuilt(t *testing.T) {
	b := make([]byte, 256)
	for i := 0; i < 256; i += 2 {
		b[i] = ' '
	}
	put := func(off int, s string) {
		for i, c := range utf16.Encode([]rune(s)) {
			binary.LittleEndian.PutUint16(b[off+2*i:], c)
		}
	}
	put(0, "欧阳娜娜")
	put(30, "2")
	put(32, "01")
	put(36, "20000808")
	put(52, "台湾省台北市")
	put(122, "110105200008080025")
	put(158, "某公安局")
	put(188, "20190101")
	put(204, "20290101")
	id, err := DecodeText(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{Name: "欧阳娜娜", Sex: "2", Nation: "01", Birth: "20000808", Address: "台湾省台北市",
		ID: "110105200008080025", Issuer: "某公安局", ValidFrom: "20190101", ValidTo: "20290101"}
	if id != want {
		t.Fatalf("decoded differs")
	}
	enc, err := EncodeText(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, b) {
		t.Fatal("EncodeText differs from the hand-built block")
	}
	if NationName(id.Nation) != "汉" || NationName("46") != "德昂" || NationName("56") != "基诺" || NationName("57") != "" || NationName("98") == "" {
		t.Fatal("nation names")
	}
}

func TestDecodeTextErrors(t *testing.T) {
	if _, err := DecodeText(make([]byte, 255)); !errors.Is(err, ErrTextLen) {
		t.Fatal(err)
	}
	b, _ := EncodeText(sample())
	binary.LittleEndian.PutUint16(b[248:], 'J')
	if _, err := DecodeText(b); !errors.Is(err, ErrCardType) {
		t.Fatal(err)
	}
	s := sample()
	s.Name = "一二三四五六七八九十一二三四五六"
	if _, err := EncodeText(s); !errors.Is(err, ErrFieldTooLong) {
		t.Fatal(err)
	}
	s = sample()
	s.Name = "𠮷野"
	if _, err := EncodeText(s); !errors.Is(err, ErrNotUCS2) {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	if err := sample().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Identity){
		"empty name":   func(i *Identity) { i.Name = "" },
		"sex":          func(i *Identity) { i.Sex = "1" },
		"sex code":     func(i *Identity) { i.Sex = "x" },
		"birth":        func(i *Identity) { i.Birth = "19491230" },
		"bad birth":    func(i *Identity) { i.Birth = "1949123" },
		"check digit":  func(i *Identity) { i.ID = "110105194912310021" },
		"valid from":   func(i *Identity) { i.ValidFrom = "2020" },
		"valid to":     func(i *Identity) { i.ValidTo = "永久" },
		"valid to day": func(i *Identity) { i.ValidTo = "20301301" },
	} {
		s := sample()
		mut(&s)
		err := s.Validate()
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "11010519491231002X") || strings.Contains(err.Error(), "张三") {
			t.Errorf("%s: error quotes raw data: %v", name, err)
		}
	}
}

func TestIdentityRedacts(t *testing.T) {
	s := sample()
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("read", "card", s)
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s", s, s, s, s)
	for _, raw := range []string{s.ID, s.Name, s.Address} {
		if strings.Contains(out, raw) {
			t.Fatalf("formatted identity leaks %q: %s", raw, out)
		}
	}
}

func TestSplitResync(t *testing.T) {
	find := CmdFind.Encode()
	bad := CmdSelect.Encode()
	bad[len(bad)-1] ^= 0xFF
	huge := append(append([]byte{}, Preamble[:]...), 0xFF, 0xFF)
	var stream []byte
	stream = append(stream, 0x00, 0xAA, 0xAA, 0x13) // garbage with a partial preamble
	stream = append(stream, find...)
	stream = append(stream, bad...)
	stream = append(stream, huge...)
	stream = append(stream, 0xAA, 0xAA)
	stream = append(stream, CmdRead.Encode()...)
	stream = append(stream, Preamble[:3]...) // truncated at the end

	// Feed the stream one byte at a time to exercise every partial state.
	d := NewDecoder(&oneByte{b: stream})
	var got []string
	for {
		p, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			got = append(got, "err:"+errName(err))
			continue
		}
		c, _ := ParseCommand(p)
		got = append(got, c.String())
	}
	want := "find err:checksum err:length read"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q want %q", strings.Join(got, " "), want)
	}
	if d.Skipped == 0 {
		t.Fatal("garbage not counted")
	}
}

func errName(err error) string {
	switch {
	case errors.Is(err, ErrChecksum):
		return "checksum"
	case errors.Is(err, ErrLength):
		return "length"
	}
	return err.Error()
}

type oneByte struct{ b []byte }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	p[0] = o.b[0]
	o.b = o.b[1:]
	return 1, nil
}

// A valid frame hidden after a bogus preamble with a plausible length is
// still found: a bad checksum drops only the bogus preamble.
func TestSplitFrameInsideBogusFrame(t *testing.T) {
	stream := append(append([]byte{}, Preamble[:]...), 0x00, 0x10)
	stream = append(stream, CmdFind.Encode()...)
	stream = append(stream, make([]byte, 16)...)
	d := NewDecoder(bytes.NewReader(stream))
	var found bool
	for {
		p, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			c, _ := ParseCommand(p)
			found = c.Is(CmdFind)
		}
	}
	if !found {
		t.Fatal("frame inside a bogus frame was lost")
	}
}

func TestParseBaseMessageErrors(t *testing.T) {
	text, _ := EncodeText(sample())
	good := BaseMessage{Text: text, Photo: make([]byte, 1024)}.Encode()
	if _, err := ParseBaseMessage(good[:len(good)-1], false); !errors.Is(err, ErrPayload) {
		t.Fatal(err)
	}
	if _, err := ParseBaseMessage(good[:3], false); !errors.Is(err, ErrPayload) {
		t.Fatal(err)
	}
	short := BaseMessage{Text: text[:254], Photo: nil}.Encode()
	if _, err := ParseBaseMessage(short, false); !errors.Is(err, ErrTextLen) {
		t.Fatal(err)
	}
	fp := BaseMessage{Text: text, Photo: make([]byte, 1024), Fingerprint: make([]byte, 1024)}
	m, err := ParseBaseMessage(fp.Encode(), true)
	if err != nil || len(m.Fingerprint) != 1024 {
		t.Fatal(err)
	}
}

func TestStatusCodes(t *testing.T) {
	if StatusNoCard.Code() != "no_card" || Status(0x99).Code() != "sw3_99" {
		t.Fatal("codes")
	}
	if !errors.Is(StatusSelfTest.Err(), ErrReader) || !errors.Is(Status(0x99).Err(), ErrReader) {
		t.Fatal("reader class")
	}
	if StatusOK.Err() != nil || StatusFound.Err() != nil {
		t.Fatal("success")
	}
	if !strings.HasPrefix(StatusNoCard.String(), "80 ") {
		t.Fatal(StatusNoCard.String())
	}
}
