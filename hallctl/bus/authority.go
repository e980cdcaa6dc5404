package bus

import (
	"fmt"
	"sort"
	"time"

	"github.com/servicehall/servicehall/wire"
)

// The hall config, not an agent's info, is the authority on devices
// (docs/devices.md): Options.Enrolled says which agents may have devices at
// all, Options.Admit which of an agent's announced devices it may drive.
// A refused device never enters the registry: no event of it is handled
// and no command is sent to it. The registry is bounded (MaxDevices in
// all, MaxAgentDevices per agent), so arbitrary topics cannot grow it.

// Reasons a device, an agent or an event is refused (the "reason" label of
// the rejection counter: a fixed set, never an agent or device id).
const (
	ReasonAgentNotEnrolled = "agent_not_enrolled"
	ReasonAgentDevices     = "agent_devices"
	ReasonRegistryFull     = "registry_full"
	ReasonUnknownDevice    = "unknown_device"
	ReasonTSFuture         = "ts_future"
	ReasonTSPast           = "ts_past"
)

// Refusal is a device an agent announced that the registry refused.
type Refusal struct {
	Agent  string
	Device wire.DeviceInfo
	Reason string
	At     time.Time
}

// maxRefusals bounds the refusals kept for the manager (and the set of
// agent+device pairs already logged): beyond it they are only counted.
const maxRefusals = 1024

func (b *Bus) enrolled(agent string) bool {
	return b.o.Enrolled == nil || b.o.Enrolled(agent)
}

// admitInfo builds an agent's device map from its info under the hall's
// authority and the registry's bounds. The caller holds b.mu; old is the
// agent's previous device map (its statuses carry over).
func (b *Bus) admitInfo(a *Agent, info wire.InfoMsg, old map[string]*Device) []Refusal {
	b.ndev -= len(old)
	a.Devices = map[string]*Device{}
	var refused []Refusal
	for _, d := range info.Devices {
		reason := ""
		if b.o.Admit != nil {
			reason = b.o.Admit(a.ID, d)
		}
		switch {
		case reason != "":
		case len(a.Devices) >= b.o.MaxAgentDevices:
			reason = ReasonAgentDevices
		case b.ndev >= b.o.MaxDevices:
			reason = ReasonRegistryFull
		}
		if reason != "" {
			refused = append(refused, Refusal{Agent: a.ID, Device: d, Reason: reason, At: b.o.Clock.Now()})
			continue
		}
		nd := &Device{Info: d}
		if o, ok := old[d.ID]; ok {
			nd.Status, nd.Reported = o.Status, o.Reported
		}
		if _, dup := a.Devices[d.ID]; !dup {
			b.ndev++
		}
		a.Devices[d.ID] = nd
	}
	a.Refused = map[string]Refusal{}
	for _, r := range refused {
		if len(a.Refused) < b.o.MaxAgentDevices {
			a.Refused[r.Device.ID] = r
		}
	}
	return refused
}

// refuseDevices counts and logs refused claims, once per agent, device
// and reason (a re-announcement does not log them again).
func (b *Bus) refuseDevices(refused []Refusal) {
	for _, r := range refused {
		b.o.Metrics.Rejected("device", r.Reason)
		if b.firstTime(r.Agent + "/" + r.Device.ID + "/" + r.Reason) {
			b.log.Warn("device claim refused: the hall config does not enrol it", "agent", r.Agent, "device", r.Device.ID,
				"kind", r.Device.Kind, "window", r.Device.Window, "zone", r.Device.Zone, "reason", r.Reason)
		}
	}
}

// refuseAgent counts a message of an agent that is not enrolled, and logs
// it (and remembers it for the manager) the first time.
func (b *Bus) refuseAgent(kind, agent string) {
	b.o.Metrics.Rejected(kind, ReasonAgentNotEnrolled)
	if !b.firstTime(agent + "//" + ReasonAgentNotEnrolled) {
		return
	}
	b.mu.Lock()
	if len(b.strangers) < maxRefusals {
		b.strangers[agent] = b.o.Clock.Now()
	}
	b.mu.Unlock()
	b.log.Warn("agent refused: it is not in the hall config's agents:", "agent", agent)
	b.notify() // Refused (the manager's list) has a new agent
}

// firstTime reports whether key is seen for the first time (bounded: when
// the set is full, nothing more is logged).
func (b *Bus) firstTime(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.logged[key]; ok || len(b.logged) >= maxRefusals {
		return false
	}
	b.logged[key] = struct{}{}
	return true
}

// checkTime refuses an event whose envelope ts lies too far in the future
// or the past (Options.EventFuture, EventPast). Offline dispensers flush
// presses buffered for up to a day, so the past bound is generous.
func (b *Bus) checkTime(ts time.Time) (reason string, err error) {
	now := b.o.Clock.Now()
	if b.o.EventFuture > 0 && ts.After(now.Add(b.o.EventFuture)) {
		return ReasonTSFuture, fmt.Errorf("%w: ts %s is more than %s ahead of the controller's clock", wire.ErrInvalid, ts.UTC().Format(time.RFC3339), b.o.EventFuture)
	}
	if b.o.EventPast > 0 && ts.Before(now.Add(-b.o.EventPast)) {
		return ReasonTSPast, fmt.Errorf("%w: ts %s is more than %s old", wire.ErrInvalid, ts.UTC().Format(time.RFC3339), b.o.EventPast)
	}
	return "", nil
}

// Refused lists the device claims the registry refused and the agents
// that are not enrolled (Device.ID empty, Reason agent_not_enrolled), for
// the manager: sorted by agent and device.
func (b *Bus) Refused() []Refusal {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Refusal
	for _, a := range b.agents {
		for _, r := range a.Refused {
			out = append(out, r)
		}
	}
	for id, at := range b.strangers {
		out = append(out, Refusal{Agent: id, Reason: ReasonAgentNotEnrolled, At: at})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Agent != out[j].Agent {
			return out[i].Agent < out[j].Agent
		}
		return out[i].Device.ID < out[j].Device.ID
	})
	return out
}

// Size is how many agents and devices the registry holds.
func (b *Bus) Size() (agents, devices int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.agents), b.ndev
}
