package ticket

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos"
	"github.com/servicehall/servicehall/wire"
)

func hx(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

var refFields = wire.PrintFields{
	Hall: "政务服务中心", Number: "A001", Item: "人才引进", WindowHint: "请到5号窗口办理",
	Ahead: 3, EtaP50S: 290, EtaP90S: 700, IssuedAt: "2026-11-21T01:30:00Z",
	QR: "https://example.gov.cn/q/A001",
}

func TestTicketSegments(t *testing.T) {
	for _, mm := range []int{58, 80} {
		l, err := ForWidth(mm)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Render(wire.Print{Template: wire.TemplateTicket, Fields: refFields}, l)
		if err != nil {
			t.Fatal(err)
		}
		// The segments of the reference ticket (DEVICES.md §1.2).
		for _, seg := range []string{
			"1B 40 1C 26 1B 61 01",
			"D5 FE CE F1 B7 FE CE F1 D6 D0 D0 C4 0A",
			"1D 21 33 41 30 30 31 0A 1D 21 00",
			"C7 EB B5 BD 35 BA C5 B4 B0 BF DA B0 EC C0 ED 20 C7 B0 C3 E6 33 C8 CB 0A",
			"1D 28 6B 04 00 31 41 32 00 1D 28 6B 03 00 31 43 06 1D 28 6B 03 00 31 45 31 1D 28 6B 20 00 31 50 30",
			"1D 28 6B 03 00 31 51 30",
			"1B 64 03 1D 56 42 00",
		} {
			if !bytes.Contains(got, hx(seg)) {
				t.Errorf("%d mm: segment %s missing from % X", mm, seg, got)
			}
		}
		when, _ := escpos.FontGBK.Encode("2026-11-21 09:30\n预计等待5-12分钟\n")
		for _, ln := range bytes.SplitAfter(when, []byte{'\n'}) {
			if len(ln) > 0 && !bytes.Contains(got, ln) {
				t.Errorf("%d mm: %q missing", mm, ln)
			}
		}
		if !bytes.HasSuffix(got, hx("1D 56 42 00")) || bytes.Contains(got, []byte{0x1c, '.'}) {
			t.Errorf("%d mm: bad ending or FS .", mm)
		}
	}
}

func TestTicketRasterAndScale(t *testing.T) {
	l, _ := ForWidth(58)
	l.QRNative = false
	f := refFields
	f.Number = "A0012345" // 8 columns: 4x = 32 fits on 58 mm
	got, err := Render(wire.Print{Template: wire.TemplateTicket, Fields: f}, l)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte{0x1d, '(', 'k'}) || !bytes.Contains(got, []byte{0x1d, 'v', '0', 0}) {
		t.Error("raster fallback not used")
	}
	if !bytes.Contains(got, append(hx("1D 21 33"), "A0012345\n"...)) {
		t.Error("8-char number not at 4x")
	}
	f.Number = "A00123456" // 9 columns: 3x = 27
	got, _ = Render(wire.Print{Template: wire.TemplateTicket, Fields: f}, l)
	if !bytes.Contains(got, append(hx("1D 21 22"), "A00123456\n"...)) {
		t.Error("9-char number not at 3x")
	}
}

func TestReceipt(t *testing.T) {
	l, _ := ForWidth(80)
	f := refFields
	f.Serial = "11440300MB2C12345X-2026112100001"
	got, err := Render(wire.Print{Template: wire.TemplateReceipt, Fields: f}, l)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := escpos.FontGBK.Encode("流水号：" + f.Serial)
	if !bytes.Contains(got, want) {
		t.Errorf("serial line missing: % X", got)
	}
	// The case's check code (the public look-up needs it) is printed
	// under the serial.
	if want, _ := escpos.FontGBK.Encode("查询码：" + "12345678"); bytes.Contains(got, want) {
		t.Error("a check code printed without one in the fields")
	}
	f.Check = "12345678"
	got, err = Render(wire.Print{Template: wire.TemplateReceipt, Fields: f}, l)
	if want, _ := escpos.FontGBK.Encode("查询码：12345678"); err != nil || !bytes.Contains(got, want) {
		t.Errorf("check code line missing: %v % X", err, got)
	}
	// Bad args are refused, not printed.
	if _, err := Render(wire.Print{Template: "menu"}, l); err == nil {
		t.Error("unknown template accepted")
	}
	if _, err := Render(wire.Print{Template: wire.TemplateTicket}, l); err == nil {
		t.Error("ticket without number accepted")
	}
	if _, err := ForWidth(76); err == nil {
		t.Error("76 mm accepted")
	}
}

func TestETA(t *testing.T) {
	for _, c := range []struct {
		p50, p90 int
		want     string
	}{
		{0, 0, ""},
		{290, 700, "预计等待5-12分钟"},
		{10, 50, "预计等待约1分钟"},
		{300, 300, "预计等待约5分钟"},
		{600, 200, "预计等待约10分钟"},
	} {
		if got := ETA(c.p50, c.p90); got != c.want {
			t.Errorf("ETA(%d,%d) = %q want %q", c.p50, c.p90, got, c.want)
		}
	}
}

func TestWrap(t *testing.T) {
	got := Wrap("请到5号窗口办理业务并携带身份证原件", 16, escpos.FontGBK)
	for _, ln := range got {
		if escpos.FontGBK.Width(ln) > 16 {
			t.Errorf("line %q too wide", ln)
		}
	}
	if strings.Join(got, "") != "请到5号窗口办理业务并携带身份证原件" {
		t.Errorf("text lost: %q", got)
	}
	if got[0] != "请到5号窗口办理" {
		t.Errorf("first line %q", got[0])
	}
}
