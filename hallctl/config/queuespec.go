package config

import "github.com/servicehall/servicehall/hallctl/queue"

// QueueSpec is what the queue engine needs from a validated config: the
// departments, items, windows and queue rules (with their defaults).
// Build the engine with queue.New(cfg.QueueSpec(), cfg.Loc, opts).
func (c *Config) QueueSpec() queue.Spec {
	s := queue.Spec{Rules: queue.Rules{
		HeadStartMin:       make(map[string]float64, len(c.Queue.HeadStartMin)),
		HeadStartShare:     make(map[string]float64, len(c.Queue.HeadStartShare)),
		HeadStartMaxMin:    c.Queue.HeadStartMaxMin,
		EscalateAfterS:     c.Queue.EscalateAfterS,
		NoShowRequeueAfter: c.Queue.NoShowRequeueAfter,
		NoShowVoidAfter:    c.Queue.NoShowVoidAfter,
		MaxOvertake:        c.Queue.MaxOvertake,
	}}
	for k, v := range c.Queue.HeadStartMin {
		s.Rules.HeadStartMin[k] = v
	}
	for k, v := range c.Queue.HeadStartShare {
		s.Rules.HeadStartShare[k] = v
	}
	for _, d := range c.Departments {
		s.Departments = append(s.Departments, queue.DeptSpec{Code: d.Code})
	}
	for _, it := range c.Items {
		s.Items = append(s.Items, queue.ItemSpec{Code: it.Code, Dept: it.Dept, Prefix: it.Prefix, ServiceS: it.ServiceS})
	}
	for _, w := range c.Windows {
		ws := queue.WindowSpec{Number: w.Number, Dept: w.Dept, Zone: w.Zone,
			Serves: append([]string(nil), w.Serves...), Backup: append([]string(nil), w.Backup...)}
		for _, h := range w.Hours {
			ws.Hours = append(ws.Hours, queue.Span{OpenMin: h.OpenMin(), CloseMin: h.CloseMin()})
		}
		s.Windows = append(s.Windows, ws)
	}
	return s
}
