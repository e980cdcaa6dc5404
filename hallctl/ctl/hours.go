package ctl

import (
	"context"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
)

// The hours scheduler opens each window when one of its intervals begins
// and closes it when the interval ends, once the window is idle. After a
// window's last interval of the day it stays open while tickets it may
// serve are waiting (extended service, 延时服务). It acts on changes of
// "within hours" only, so a manager who opens or closes a window by hand is
// not overruled until the next boundary. At start it opens the windows
// that are within their hours.

const scheduleSource = "schedule"

type hoursState struct {
	within  map[int]bool // last seen "within hours" per window
	closing map[int]bool // left its hours, to close once idle
}

func minuteOfDay(t time.Time) int { return t.Hour()*60 + t.Minute() }

func withinHours(w config.Window, min int) bool {
	for _, h := range w.Hours {
		if min >= h.OpenMin() && min < h.CloseMin() {
			return true
		}
	}
	return false
}

func afterLastInterval(w config.Window, min int) bool {
	last := 0
	for _, h := range w.Hours {
		last = max(last, h.CloseMin())
	}
	return min >= last
}

// schedule runs one pass of the scheduler.
func (c *Controller) schedule(ctx context.Context, st *hoursState) {
	now := c.clock.Now()
	min := minuteOfDay(now.In(c.cfg.Loc))
	var actions []ManagerAction
	c.View(func(e *queue.Engine) {
		snap := e.Snapshot(now)
		waiting := map[int]bool{}
		for _, w := range c.cfg.Windows {
			v, ok := e.Window(w.Number)
			if !ok {
				continue
			}
			in := withinHours(w, min)
			was, seen := st.within[w.Number]
			st.within[w.Number] = in
			switch {
			case in && (!seen || !was):
				st.closing[w.Number] = false
				if v.State == "closed" {
					actions = append(actions, ManagerAction{Type: "open", Window: w.Number})
				}
			case !in && seen && was:
				st.closing[w.Number] = true
			}
			if st.closing[w.Number] && v.State != "closed" && v.Current == 0 {
				if afterLastInterval(w, min) && waitingFor(e, snap, w.Number, waiting) {
					continue // extended service
				}
				actions = append(actions, ManagerAction{Type: "close", Window: w.Number})
				st.closing[w.Number] = false
			}
		}
	})
	for _, a := range actions {
		if _, err := c.Manage(ctx, a); err != nil {
			c.log.Warn("hours scheduler", "action", a.Type, "window", a.Window, "err", err)
			continue
		}
		past := map[string]string{"open": "opened", "close": "closed"}[a.Type]
		c.log.Info("window "+past+" by its hours", "window", a.Window)
	}
}

// waitingFor reports whether a ticket the window may serve is waiting.
func waitingFor(e *queue.Engine, snap queue.Snapshot, win int, cache map[int]bool) bool {
	if v, ok := cache[win]; ok {
		return v
	}
	w, ok := e.Window(win)
	if !ok {
		return false
	}
	serves := map[string]bool{}
	for _, code := range e.Expand(w.Serves) {
		serves[code] = true
	}
	res := false
	for _, it := range snap.Items {
		if it.Waiting > 0 && serves[it.Code] {
			res = true
			break
		}
	}
	cache[win] = res
	return res
}

// runSchedule runs the scheduler at start and every 15 s until ctx ends.
func (c *Controller) runSchedule(ctx context.Context) {
	st := &hoursState{within: map[int]bool{}, closing: map[int]bool{}}
	c.schedule(ctx, st)
	t := c.clock.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
			c.schedule(ctx, st)
			c.calw.check(c.clock.Now()) // once a local day
		}
	}
}
