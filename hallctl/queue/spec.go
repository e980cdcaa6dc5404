package queue

// Spec is what the engine needs to know about the hall: its departments,
// items and windows, and the queue rules. hallctl/config builds it from a
// validated hall config (config.Config.QueueSpec); the engine keeps its
// own copy.
type Spec struct {
	Departments []DeptSpec
	Items       []ItemSpec
	Windows     []WindowSpec
	Rules       Rules
}

// DeptSpec is a department.
type DeptSpec struct {
	Code string
}

// ItemSpec is an item (事项): its code, department, number prefix and the
// prior for its service time (seconds, 300 when zero).
type ItemSpec struct {
	Code, Dept, Prefix string
	ServiceS           int
}

// WindowSpec is a window: what it serves and backs up ("*", "dept:XX" or
// item codes), its department, its zone and its hours (none = the
// estimates take it as it is now).
type WindowSpec struct {
	Number         int
	Dept, Zone     string
	Serves, Backup []string
	Hours          []Span
}

// Span is a window's opening interval, in minutes after local midnight.
type Span struct {
	OpenMin, CloseMin int
}

// Rules are the queue rules of the hall (config `queue:`).
type Rules struct {
	// HeadStartMin is each class's head start in minutes, by class name.
	HeadStartMin map[string]float64
	// HeadStartShare is each class's head start as a share (0–1) of its
	// line's current wait at issue, by class name: the ticket's head start
	// is the larger of HeadStartMin and this share of how long the line's
	// longest waiter has waited, so a priority class keeps its advantage
	// when everyone waits long (docs/queue.md, "Priority under overload").
	HeadStartShare map[string]float64
	// HeadStartMaxMin caps a head start that comes from HeadStartShare
	// (minutes); it bounds how far a ticket may be overtaken.
	HeadStartMaxMin float64
	// EscalateAfterS: a backup item becomes eligible for a window when its
	// longest waiter has waited this long.
	EscalateAfterS int
	// NoShowRequeueAfter: a no-show goes back behind this many tickets.
	NoShowRequeueAfter int
	// NoShowVoidAfter: the n-th no-show voids the ticket.
	NoShowVoidAfter int
	// MaxOvertake bounds how many later tickets may be called before a
	// waiting one.
	MaxOvertake int
}

// DefaultRules are the rules of a hall config without a `queue:` section.
func DefaultRules() Rules {
	return Rules{
		HeadStartMin:       map[string]float64{"walkin": 0, "appointment": 5, "elderly": 10, "green": 30},
		HeadStartShare:     map[string]float64{"walkin": 0, "appointment": 0, "elderly": 0.25, "green": 0.75},
		HeadStartMaxMin:    60,
		EscalateAfterS:     900,
		NoShowRequeueAfter: 3,
		NoShowVoidAfter:    2,
		MaxOvertake:        50,
	}
}

// Expand turns refs ("*", "dept:XX", item codes) into item codes in item
// order, without repeats.
func (s *Spec) Expand(refs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range s.Items {
		for _, r := range refs {
			if r == "*" || r == it.Code || r == "dept:"+it.Dept {
				if !seen[it.Code] {
					seen[it.Code] = true
					out = append(out, it.Code)
				}
				break
			}
		}
	}
	return out
}

// clone copies the spec so that the caller's slices and maps are not
// shared with the engine.
func (s Spec) clone() Spec {
	c := s
	c.Departments = append([]DeptSpec(nil), s.Departments...)
	c.Items = append([]ItemSpec(nil), s.Items...)
	c.Windows = make([]WindowSpec, len(s.Windows))
	for i, w := range s.Windows {
		w.Serves = append([]string(nil), w.Serves...)
		w.Backup = append([]string(nil), w.Backup...)
		w.Hours = append([]Span(nil), w.Hours...)
		c.Windows[i] = w
	}
	c.Rules.HeadStartMin = make(map[string]float64, len(s.Rules.HeadStartMin))
	for k, v := range s.Rules.HeadStartMin {
		c.Rules.HeadStartMin[k] = v
	}
	if s.Rules.HeadStartShare != nil {
		c.Rules.HeadStartShare = make(map[string]float64, len(s.Rules.HeadStartShare))
		for k, v := range s.Rules.HeadStartShare {
			c.Rules.HeadStartShare[k] = v
		}
	}
	return c
}
