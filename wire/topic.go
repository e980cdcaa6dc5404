package wire

import (
	"fmt"
	"regexp"
	"strings"
)

// Root is the prefix of every topic in the contract, before the hall id.
const Root = "hall/v1/"

// Kind says what a topic carries.
type Kind int

// Topic kinds, one per row of the contract's topic table.
const (
	KindInvalid     Kind = iota
	KindAgentStatus      // agent/<a>/status (retained, Last Will)
	KindAgentInfo        // agent/<a>/info (retained birth)
	KindDevStatus        // agent/<a>/dev/<d>/status (retained)
	KindEvent            // agent/<a>/dev/<d>/evt/<type>
	KindCommand          // agent/<a>/dev/<d>/cmd/<name>
	KindAck              // agent/<a>/dev/<d>/ack
	KindDesired          // agent/<a>/dev/<d>/desired (retained)
	KindReported         // agent/<a>/dev/<d>/reported (retained)
	KindCtlStatus        // ctl/status (retained, controller's Last Will)
)

var kindNames = [...]string{"invalid", "agent-status", "agent-info", "dev-status", "event", "command", "ack", "desired", "reported", "ctl-status"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Retained reports whether messages of this kind are published retained.
func (k Kind) Retained() bool {
	switch k {
	case KindAgentStatus, KindAgentInfo, KindDevStatus, KindDesired, KindReported, KindCtlStatus:
		return true
	}
	return false
}

// Topic is a parsed contract topic. Name is the event type or command name.
type Topic struct {
	Hall   string
	Agent  string
	Device string
	Kind   Kind
	Name   string
}

// idPattern is what hall, agent and device ids and event/command names may
// look like: they are MQTT topic levels, so no '/', '+', '#' and no spaces.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidID reports whether s may be used as a hall, agent or device id.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// CheckID returns an error naming what is wrong with id s.
func CheckID(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s id is empty", ErrBadTopic, what)
	}
	if !ValidID(s) {
		return fmt.Errorf("%w: %s id %q must match [a-z0-9][a-z0-9_-]{0,63}", ErrBadTopic, what, s)
	}
	return nil
}

// String builds the topic. It does not validate; use Validate for that.
func (t Topic) String() string {
	root := Root + t.Hall + "/"
	switch t.Kind {
	case KindCtlStatus:
		return root + "ctl/status"
	case KindAgentStatus:
		return root + "agent/" + t.Agent + "/status"
	case KindAgentInfo:
		return root + "agent/" + t.Agent + "/info"
	}
	dev := root + "agent/" + t.Agent + "/dev/" + t.Device + "/"
	switch t.Kind {
	case KindDevStatus:
		return dev + "status"
	case KindEvent:
		return dev + "evt/" + t.Name
	case KindCommand:
		return dev + "cmd/" + t.Name
	case KindAck:
		return dev + "ack"
	case KindDesired:
		return dev + "desired"
	case KindReported:
		return dev + "reported"
	}
	return ""
}

// Validate checks every id in the topic.
func (t Topic) Validate() error {
	if err := CheckID("hall", t.Hall); err != nil {
		return err
	}
	if t.Kind == KindCtlStatus {
		return nil
	}
	if t.Kind <= KindInvalid || t.Kind > KindCtlStatus {
		return fmt.Errorf("%w: invalid kind", ErrBadTopic)
	}
	if err := CheckID("agent", t.Agent); err != nil {
		return err
	}
	if t.Kind == KindAgentStatus || t.Kind == KindAgentInfo {
		return nil
	}
	if err := CheckID("device", t.Device); err != nil {
		return err
	}
	if t.Kind == KindEvent || t.Kind == KindCommand {
		if err := CheckID("name", t.Name); err != nil {
			return err
		}
	}
	return nil
}

// Builders for the topics of the contract.

// CtlStatus is hall/v1/<hall>/ctl/status.
func CtlStatus(hall string) string { return Topic{Hall: hall, Kind: KindCtlStatus}.String() }

// AgentStatus is hall/v1/<hall>/agent/<a>/status.
func AgentStatus(hall, agent string) string {
	return Topic{Hall: hall, Agent: agent, Kind: KindAgentStatus}.String()
}

// AgentInfo is hall/v1/<hall>/agent/<a>/info.
func AgentInfo(hall, agent string) string {
	return Topic{Hall: hall, Agent: agent, Kind: KindAgentInfo}.String()
}

// DevStatus is hall/v1/<hall>/agent/<a>/dev/<d>/status.
func DevStatus(hall, agent, dev string) string {
	return Topic{Hall: hall, Agent: agent, Device: dev, Kind: KindDevStatus}.String()
}

// Event is hall/v1/<hall>/agent/<a>/dev/<d>/evt/<typ>.
func Event(hall, agent, dev, typ string) string {
	return Topic{Hall: hall, Agent: agent, Device: dev, Kind: KindEvent, Name: typ}.String()
}

// Command is hall/v1/<hall>/agent/<a>/dev/<d>/cmd/<name>.
func Command(hall, agent, dev, name string) string {
	return Topic{Hall: hall, Agent: agent, Device: dev, Kind: KindCommand, Name: name}.String()
}

// Ack is hall/v1/<hall>/agent/<a>/dev/<d>/ack.
func Ack(hall, agent, dev string) string {
	return Topic{Hall: hall, Agent: agent, Device: dev, Kind: KindAck}.String()
}

// Desired is hall/v1/<hall>/agent/<a>/dev/<d>/desired.
func Desired(hall, agent, dev string) string {
	return Topic{Hall: hall, Agent: agent, Device: dev, Kind: KindDesired}.String()
}

// Reported is hall/v1/<hall>/agent/<a>/dev/<d>/reported.
func Reported(hall, agent, dev string) string {
	return Topic{Hall: hall, Agent: agent, Device: dev, Kind: KindReported}.String()
}

// Filters for subscriptions.

// HallFilter matches every topic of a hall.
func HallFilter(hall string) string { return Root + hall + "/#" }

// AgentFilter matches every topic of one agent (the ACL's reach for it).
func AgentFilter(hall, agent string) string { return Root + hall + "/agent/" + agent + "/#" }

// AgentCommandFilter matches every command for one agent's devices.
func AgentCommandFilter(hall, agent string) string {
	return Root + hall + "/agent/" + agent + "/dev/+/cmd/+"
}

// AgentDesiredFilter matches the desired documents of one agent's devices.
func AgentDesiredFilter(hall, agent string) string {
	return Root + hall + "/agent/" + agent + "/dev/+/desired"
}

// ParseTopic parses a contract topic. If hall is not empty, the topic must
// belong to that hall; otherwise any hall id is accepted.
func ParseTopic(s, hall string) (Topic, error) {
	var t Topic
	if len(s) > MaxTopicLen {
		return t, fmt.Errorf("%w: topic is %d bytes, limit %d", ErrBadTopic, len(s), MaxTopicLen)
	}
	rest, ok := strings.CutPrefix(s, Root)
	if !ok {
		return t, fmt.Errorf("%w: %q is outside %s", ErrOutsideRoot, s, Root)
	}
	parts := strings.Split(rest, "/")
	t.Hall = parts[0]
	if hall != "" && t.Hall != hall {
		return t, fmt.Errorf("%w: %q belongs to hall %q, not %q", ErrOutsideRoot, s, t.Hall, hall)
	}
	p := parts[1:]
	switch {
	case len(p) == 2 && p[0] == "ctl" && p[1] == "status":
		t.Kind = KindCtlStatus
	case len(p) == 3 && p[0] == "agent" && p[2] == "status":
		t.Agent, t.Kind = p[1], KindAgentStatus
	case len(p) == 3 && p[0] == "agent" && p[2] == "info":
		t.Agent, t.Kind = p[1], KindAgentInfo
	case len(p) >= 5 && p[0] == "agent" && p[2] == "dev":
		t.Agent, t.Device = p[1], p[3]
		q := p[4:]
		switch {
		case len(q) == 1 && q[0] == "status":
			t.Kind = KindDevStatus
		case len(q) == 1 && q[0] == "ack":
			t.Kind = KindAck
		case len(q) == 1 && q[0] == "desired":
			t.Kind = KindDesired
		case len(q) == 1 && q[0] == "reported":
			t.Kind = KindReported
		case len(q) == 2 && q[0] == "evt":
			t.Kind, t.Name = KindEvent, q[1]
		case len(q) == 2 && q[0] == "cmd":
			t.Kind, t.Name = KindCommand, q[1]
		}
	}
	if t.Kind == KindInvalid {
		return Topic{}, fmt.Errorf("%w: %q is not a topic of the contract", ErrBadTopic, s)
	}
	if err := t.Validate(); err != nil {
		return Topic{}, err
	}
	return t, nil
}
