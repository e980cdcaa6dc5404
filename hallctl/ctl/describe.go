package ctl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
)

// ActionText is a manager action in people's words — window numbers, item
// and department names, printed ticket numbers — for the manager console's
// list of proposed changes, its preview and its audit log (never the type
// codes or internal ticket ids).
type ActionText struct {
	ZH            string   `json:"zh"`
	EN            string   `json:"en"`
	TicketNumbers []string `json:"ticket_numbers,omitempty"` // move: the printed numbers of the tickets moved
}

// DescribeAction words a manager action against the engine as it is before
// the action (eng may be nil: set_serves then says what the window will
// serve rather than what it adds, and a move counts its tickets).
func DescribeAction(cfg *config.Config, eng *queue.Engine, a ManagerAction) ActionText {
	w := fmt.Sprintf("%d 号窗口", a.Window)
	we := fmt.Sprintf("window %d", a.Window)
	var t ActionText
	switch a.Type {
	case "open":
		t = ActionText{ZH: "开启 " + w, EN: "open " + we}
	case "close":
		t = ActionText{ZH: "关闭 " + w, EN: "close " + we}
	case "pause":
		t = ActionText{ZH: "暂停 " + w, EN: "pause " + we}
	case "resume":
		t = ActionText{ZH: "恢复 " + w, EN: "resume " + we}
	case "set_serves":
		t = describeServes(cfg, eng, a, w, we)
	case "set_backup":
		if len(a.Refs) == 0 {
			t = ActionText{ZH: w + "取消后备事项", EN: we + " has no backup items"}
		} else {
			zh, en := refsText(cfg, a.Refs)
			t = ActionText{ZH: w + "后备办理：" + zh, EN: we + " backs up: " + en}
		}
	case "move":
		var nums []string
		unknown := 0
		for _, id := range a.Tickets {
			if eng != nil {
				if tv, ok := eng.Ticket(id); ok && tv.Number != "" {
					nums = append(nums, tv.Number)
					continue
				}
			}
			unknown++
		}
		who, whoEN := strings.Join(nums, "、"), strings.Join(nums, ", ")
		if unknown > 0 {
			if who != "" {
				who, whoEN = who+"、", whoEN+", "
			}
			who += fmt.Sprintf("另 %d 个号", unknown)
			if unknown == 1 {
				whoEN += "1 more ticket"
			} else {
				whoEN += fmt.Sprintf("%d more tickets", unknown)
			}
		}
		var to, toEN []string
		if a.ToItem != "" {
			zh, en := refsText(cfg, []string{a.ToItem})
			to, toEN = append(to, "转办 "+zh), append(toEN, "to item "+en)
		}
		if a.ToWindow != 0 {
			to, toEN = append(to, fmt.Sprintf("到 %d 号窗口办理", a.ToWindow)), append(toEN, fmt.Sprintf("to window %d", a.ToWindow))
		}
		t = ActionText{ZH: "将 " + who + " " + strings.Join(to, "，"), EN: "move " + whoEN + " " + strings.Join(toEN, ", "),
			TicketNumbers: nums}
	default:
		t = ActionText{ZH: "未知操作", EN: "unknown action"}
	}
	if a.Reason != "" {
		t.ZH += "（原因：" + a.Reason + "）"
		t.EN += " (reason: " + a.Reason + ")"
	}
	return t
}

// describeServes says what a set_serves adds or stops against the window's
// serves now.
func describeServes(cfg *config.Config, eng *queue.Engine, a ManagerAction, w, we string) ActionText {
	zh, en := refsText(cfg, a.Refs)
	set := ActionText{ZH: w + "办理范围改为：" + zh, EN: we + " serves: " + en}
	if len(a.Refs) == 0 {
		return ActionText{ZH: w + "停办全部事项", EN: we + " serves nothing"}
	}
	if eng == nil {
		return set
	}
	cur, ok := eng.Window(a.Window)
	if !ok {
		return set
	}
	oldItems, newItems := cfg.Expand(cur.Serves), cfg.Expand(a.Refs)
	has := func(xs []string, x string) bool { return slices.Contains(xs, x) }
	var added, removed []string
	for _, it := range newItems {
		if !has(oldItems, it) {
			added = append(added, it)
		}
	}
	for _, it := range oldItems {
		if !has(newItems, it) {
			removed = append(removed, it)
		}
	}
	switch {
	case len(added) == 0 && len(removed) == 0:
		return ActionText{ZH: w + "办理范围不变：" + zh, EN: we + " serves the same: " + en}
	case len(removed) == 0:
		// Name the new refs that were not there (a department stays a
		// department), else the items added.
		var refs []string
		for _, r := range a.Refs {
			if !slices.Contains(cur.Serves, r) {
				refs = append(refs, r)
			}
		}
		if len(cfg.Expand(refs)) != len(added) {
			refs = added
		}
		zh, en := refsText(cfg, refs)
		return ActionText{ZH: w + "增办：" + zh, EN: we + " also serves: " + en}
	case len(added) == 0:
		zh, en := refsText(cfg, removed)
		return ActionText{ZH: w + "停办：" + zh, EN: we + " stops serving: " + en}
	}
	return set
}

// refsText names serves refs: * is every item, dept:X a department's
// business, an item code the item's name.
func refsText(cfg *config.Config, refs []string) (string, string) {
	var zh, en []string
	for _, r := range refs {
		switch {
		case r == "*":
			zh, en = append(zh, "全部事项"), append(en, "all items")
		case strings.HasPrefix(r, "dept:"):
			code := strings.TrimPrefix(r, "dept:")
			name := code
			for _, d := range cfg.Departments {
				if d.Code == code {
					name = d.Name
				}
			}
			zh, en = append(zh, name+"业务"), append(en, "all items of "+name)
		default:
			if it := cfg.Item(r); it != nil {
				zh, en = append(zh, it.Name), append(en, it.Name+" ("+it.Code+")")
			} else {
				zh, en = append(zh, r), append(en, r)
			}
		}
	}
	return strings.Join(zh, "、"), strings.Join(en, ", ")
}
