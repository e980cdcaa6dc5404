package ctl

import (
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
)

// Manager actions in people's words: names, window numbers and printed
// ticket numbers, never type codes or internal ids.
func TestDescribeAction(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte(`hall: {id: h, name: 大厅}
departments: [{code: HR, name: 人社}, {code: TAX, name: 税务}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A}
  - {code: HR-002, name: 失业登记, dept: HR, prefix: B}
  - {code: TAX-01, name: 发票, dept: TAX, prefix: C}
windows:
  - {number: 1, dept: HR, serves: ["dept:HR"]}
  - {number: 5, dept: TAX, serves: ["TAX-01"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := queue.New(cfg.QueueSpec(), cfg.Loc, queue.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, cfg.Loc)
	var a13 queue.Event
	for i := range 13 {
		ev, err := eng.Issue(at, queue.IssueReq{Item: "HR-001", Proxy: true})
		if err != nil {
			t.Fatal(err)
		}
		if i == 12 {
			a13 = ev
		}
	}
	for _, c := range []struct {
		a      ManagerAction
		zh, en string
	}{
		{ManagerAction{Type: "open", Window: 5}, "开启 5 号窗口", "open window 5"},
		{ManagerAction{Type: "pause", Window: 1, Reason: "午休"}, "暂停 1 号窗口（原因：午休）", "pause window 1 (reason: 午休)"},
		{ManagerAction{Type: "set_serves", Window: 5, Refs: []string{"TAX-01", "dept:HR"}}, "5 号窗口增办：人社业务", "window 5 also serves: all items of 人社"},
		{ManagerAction{Type: "set_serves", Window: 5, Refs: []string{"TAX-01", "HR-002"}}, "5 号窗口增办：失业登记", "window 5 also serves: 失业登记 (HR-002)"},
		{ManagerAction{Type: "set_serves", Window: 1, Refs: []string{"HR-001"}}, "1 号窗口停办：失业登记", "window 1 stops serving: 失业登记 (HR-002)"},
		{ManagerAction{Type: "set_serves", Window: 1, Refs: []string{"TAX-01"}}, "1 号窗口办理范围改为：发票", "window 1 serves: 发票 (TAX-01)"},
		{ManagerAction{Type: "set_serves", Window: 1, Refs: []string{"*"}}, "1 号窗口增办：发票", "window 1 also serves: 发票 (TAX-01)"},
		{ManagerAction{Type: "set_backup", Window: 5, Refs: []string{"*"}}, "5 号窗口后备办理：全部事项", "window 5 backs up: all items"},
		{ManagerAction{Type: "set_backup", Window: 5}, "5 号窗口取消后备事项", "window 5 has no backup items"},
		{ManagerAction{Type: "move", Tickets: []int64{a13.Ticket, 99}, ToItem: "HR-002", ToWindow: 5}, "将 A013、另 1 个号 转办 失业登记，到 5 号窗口办理", "move A013, 1 more ticket to item 失业登记 (HR-002), to window 5"},
	} {
		got := DescribeAction(cfg, eng, c.a)
		if got.ZH != c.zh || got.EN != c.en {
			t.Errorf("%+v:\n got %q / %q\nwant %q / %q", c.a, got.ZH, got.EN, c.zh, c.en)
		}
	}
	if got := DescribeAction(cfg, nil, ManagerAction{Type: "set_serves", Window: 5, Refs: []string{"dept:TAX"}}); got.ZH != "5 号窗口办理范围改为：税务业务" {
		t.Errorf("without an engine: %q", got.ZH)
	}
}
