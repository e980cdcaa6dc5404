package layout

import (
	"reflect"
	"testing"
	"time"
)

func TestWidth(t *testing.T) {
	for s, want := range map[string]int{"A012": 32, "请到8号窗口": 88, "": 0, "ｱ": 8, "Ａ": 16} {
		if got := Width(s, 16); got != want {
			t.Errorf("Width(%q) = %d, want %d", s, got, want)
		}
	}
	if got := Truncate("请到8号窗口", 64, 16); got != "请到8号" {
		t.Errorf("Truncate = %q", got)
	}
	if got := Truncate("请到8号窗口", 55, 16); got != "请到8" {
		t.Errorf("Truncate 55 = %q", got)
	}
}

func TestLayout128x32(t *testing.T) {
	s := Layout(Panel128x32, WindowLines("A012", 8), Opts{CanScroll: true})
	want := []Row{
		{Y: 0, Height: 16, Width: 128, Text: "A012", TextPx: 32, Mode: Static},
		{Y: 16, Height: 16, Width: 128, Text: "请到8号窗口", TextPx: 88, Mode: Static},
	}
	if !reflect.DeepEqual(s.Rows, want) {
		t.Fatalf("rows = %+v", s.Rows)
	}
	// A long second line scrolls; with no scrolling it is cut.
	long := []string{"A012", "请到8号窗口办理人才引进"}
	if r := Layout(Panel128x32, long, Opts{CanScroll: true}).Rows[1]; r.Mode != Scroll || r.Text != long[1] {
		t.Fatalf("scroll row = %+v", r)
	}
	if r := Layout(Panel128x32, long, Opts{}).Rows[1]; r.Mode != Static || r.Text != "请到8号窗口办理" || !r.Cut {
		t.Fatalf("cut row = %+v", r)
	}
	// Three lines on two rows: the last two share row 2.
	s = Layout(Panel128x32, []string{"A012", "8号", "窗口"}, Opts{})
	if got := s.Texts(); !reflect.DeepEqual(got, []string{"A012", "8号  窗口"}) {
		t.Fatalf("texts = %q", got)
	}
	// One line: the second row is blank.
	if got := Layout(Panel128x32, []string{"暂停服务", ""}, Opts{}).Texts(); !reflect.DeepEqual(got, []string{"暂停服务", ""}) {
		t.Fatalf("texts = %q", got)
	}
}

func TestLayout64x16(t *testing.T) {
	lines := WindowLines("A012", 8)
	s := Layout(Panel64x16, lines, Opts{CanScroll: true})
	if len(s.Rows) != 1 || s.Rows[0].Text != "A012  请到8号窗口" || s.Rows[0].Mode != Scroll || s.Rows[0].TextPx != 136 {
		t.Fatalf("scrolling row = %+v", s.Rows)
	}
	// Without scrolling, the number wins.
	s = Layout(Panel64x16, lines, Opts{})
	if s.Rows[0].Text != "A012" || !s.Rows[0].Cut || s.Rows[0].Mode != Static {
		t.Fatalf("static row = %+v", s.Rows)
	}
	// Control characters never reach the panel.
	if got := Layout(Panel64x16, []string{"A\n01\x002"}, Opts{}).Rows[0].Text; got != "A 01 2" {
		t.Fatalf("clean = %q", got)
	}
}

func TestParsePanel(t *testing.T) {
	p, err := ParsePanel("128×32")
	if err != nil || p != Panel128x32 || p.Rows() != 2 {
		t.Fatalf("ParsePanel = %+v %v", p, err)
	}
	for _, bad := range []string{"64", "8x8", "65x16", "x"} {
		if _, err := ParsePanel(bad); err == nil {
			t.Errorf("ParsePanel(%q) accepted", bad)
		}
	}
	// 64x24 with a 16-px font: one row, centred vertically.
	if r := Layout(Panel{Width: 64, Height: 24}, []string{"A1"}, Opts{}).Rows; len(r) != 1 || r[0].Y != 4 {
		t.Fatalf("rows = %+v", r)
	}
}

func TestMaskName(t *testing.T) {
	for in, want := range map[string]string{"张三": "张*", "张小三": "张*三", "欧阳娜娜": "欧**娜", "王": "*", "": ""} {
		if got := MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBoard(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	b := NewBoard(3)
	b.Add(Call{Number: "A001", Window: 5, Name: "张小三", At: t0})
	b.Add(Call{Number: "A002", Window: 8, At: t0.Add(time.Minute)})
	b.Add(Call{Number: "B001", Window: 3, At: t0.Add(2 * time.Minute)})
	b.Add(Call{Number: "A001", Window: 6, Name: "张小三", At: t0.Add(3 * time.Minute)}) // recall to another window
	b.Add(Call{Number: "A003", Window: 8, At: t0.Add(4 * time.Minute)})
	rows := b.Rows()
	var nums []string
	for _, r := range rows {
		nums = append(nums, r.Number)
	}
	if !reflect.DeepEqual(nums, []string{"A003", "A001", "B001"}) {
		t.Fatalf("numbers = %v", nums)
	}
	if r := rows[1]; r.Window != 6 || r.WindowText != "6号窗口" || r.Name != "张*三" || r.Recalls != 1 {
		t.Fatalf("recalled row = %+v", r)
	}
	b.Remove("A003")
	if got := b.Lines(Panel128x32); !reflect.DeepEqual(got, []string{"A001  6号窗口", "B001  3号窗口"}) {
		t.Fatalf("lines = %q", got)
	}
}
