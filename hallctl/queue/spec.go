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
// item codes), its department and its zone.
type WindowSpec struct {
	Number         int
	Dept, Zone     string
	Serves, Backup []string
}

// Rules are the queue rules of the hall (config `queue:`).
type Rules struct {
	// HeadStartMin is each class's head start in minutes, by class name.
	HeadStartMin map[string]float64
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
		c.Windows[i] = w
	}
	c.Rules.HeadStartMin = make(map[string]float64, len(s.Rules.HeadStartMin))
	for k, v := range s.Rules.HeadStartMin {
		c.Rules.HeadStartMin[k] = v
	}
	return c
}
