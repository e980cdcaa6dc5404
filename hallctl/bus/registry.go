package bus

import (
	"context"
	"fmt"
	"sort"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/wire"
)

// Agent is what the registry knows of one agent.
type Agent struct {
	ID      string
	Online  bool
	Info    wire.InfoMsg
	Devices map[string]*Device // the devices the hall config admitted
	// Refused are the devices of its info the registry refused, by id.
	Refused map[string]Refusal
}

// Device is what the registry knows of one device.
type Device struct {
	Info     wire.DeviceInfo
	Status   wire.DevStatusMsg
	Reported *wire.ReportedMsg
}

// onMessage runs on paho's router goroutine: registry updates happen here
// (they are cheap), events are queued in order for Run.
func (b *Bus) onMessage(_ mqtt.Client, m mqtt.Message) {
	t, err := wire.ParseTopic(m.Topic(), b.o.Hall)
	if err != nil {
		m.Ack()
		b.reject("topic", err, m.Topic())
		return
	}
	if t.Kind == wire.KindEvent {
		// Acknowledged by Run once its effect is committed. A full queue
		// blocks here, and QoS 1 flow control backs off the broker.
		b.events <- m
		return
	}
	defer m.Ack()
	p := m.Payload()
	agentKind := t.Kind == wire.KindAgentStatus || t.Kind == wire.KindAgentInfo || t.Kind == wire.KindDevStatus || t.Kind == wire.KindReported
	if agentKind && !b.enrolled(t.Agent) {
		if len(p) > 0 {
			b.refuseAgent(t.Kind.String(), t.Agent)
		}
		return
	}
	switch t.Kind {
	case wire.KindAck:
		a, err := wire.DecodeAck(p)
		if err != nil {
			b.reject("ack", err, m.Topic())
			return
		}
		b.onAck(t, a)
	case wire.KindAgentStatus:
		s, err := wire.DecodeAvailability(p)
		if err != nil {
			if len(p) == 0 { // retained message cleared
				return
			}
			b.reject("agent-status", err, m.Topic())
			return
		}
		b.mu.Lock()
		a := b.agent(t.Agent)
		if a != nil {
			a.Online = s == wire.Online
		}
		b.mu.Unlock()
		if a == nil {
			b.o.Metrics.Rejected("agent-status", ReasonRegistryFull)
			return
		}
		b.notify()
	case wire.KindAgentInfo:
		if len(p) == 0 {
			return
		}
		info, err := wire.DecodeInfo(p)
		if err != nil {
			b.reject("info", err, m.Topic())
			return
		}
		if info.Agent != t.Agent {
			b.reject("info", fmt.Errorf("%w: info.agent %q on topic of %q", wire.ErrInvalid, info.Agent, t.Agent), m.Topic())
			return
		}
		b.mu.Lock()
		a := b.agent(t.Agent)
		if a == nil {
			b.mu.Unlock()
			b.o.Metrics.Rejected("info", ReasonRegistryFull)
			return
		}
		same := sameInfo(a.Info, info)
		a.Info = info
		refused := b.admitInfo(a, info, a.Devices)
		b.mu.Unlock()
		b.refuseDevices(refused)
		b.notify()
		if !same && b.o.OnInfo != nil {
			b.o.OnInfo(info)
		}
		b.releaseHeld(t.Agent)
	case wire.KindDevStatus:
		if len(p) == 0 {
			return
		}
		s, err := wire.DecodeDevStatus(p)
		if err != nil {
			b.reject("dev-status", err, m.Topic())
			return
		}
		b.mu.Lock()
		d := b.device(t.Agent, t.Device)
		if d != nil {
			d.Status = s
		}
		b.mu.Unlock()
		if d == nil {
			b.o.Metrics.Rejected("dev-status", ReasonUnknownDevice)
			return
		}
		b.notify()
		if b.o.OnStatus != nil {
			b.o.OnStatus(t.Agent, t.Device, s)
		}
	case wire.KindCtlStatus:
		// The controller's own status: "offline" while it is connected is
		// a stale Last Will (a deposed leader's connection dropped after
		// this one took over the session), which OnCtlOffline answers. A
		// retained copy sent at subscription is the last run's goodbye.
		if string(p) == string(wire.Offline) && !m.Retained() && b.o.OnCtlOffline != nil {
			b.o.OnCtlOffline()
		}
	case wire.KindReported:
		if len(p) == 0 {
			return
		}
		r, err := wire.DecodeReported(p)
		if err != nil {
			b.reject("reported", err, m.Topic())
			return
		}
		b.mu.Lock()
		d := b.device(t.Agent, t.Device)
		if d != nil {
			d.Reported = &r
		}
		b.mu.Unlock()
		if d == nil {
			b.o.Metrics.Rejected("reported", ReasonUnknownDevice)
		}
	}
}

func (b *Bus) reject(kind string, err error, topic string) {
	b.refuse(kind, wire.Reason(err), err, topic)
}

// refuse counts and logs a refused message with the reason given.
func (b *Bus) refuse(kind, reason string, err error, topic string) {
	b.o.Metrics.Rejected(kind, reason)
	if len(topic) > 200 {
		topic = topic[:200]
	}
	b.log.Warn("rejected message", "kind", kind, "reason", reason, "topic", topic, "err", err)
}

func (b *Bus) notify() {
	b.mu.Lock()
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// Changed returns a channel that is closed at the next registry change.
// Every caller is woken (a broadcast): take a new channel after each wake.
func (b *Bus) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// sameInfo reports whether two births announce the same devices.
func sameInfo(a, b wire.InfoMsg) bool {
	return string(wire.Marshal(a.Devices)) == string(wire.Marshal(b.Devices)) && a.Agent == b.Agent
}

// agent returns the registry's entry of an (enrolled) agent, made on
// first use; nil when the registry is full. The caller holds b.mu.
func (b *Bus) agent(id string) *Agent {
	a, ok := b.agents[id]
	if !ok {
		if len(b.agents) >= b.o.MaxDevices {
			return nil
		}
		a = &Agent{ID: id, Devices: map[string]*Device{}, Refused: map[string]Refusal{}}
		b.agents[id] = a
	}
	return a
}

// device returns an agent's device entry. A status that comes before the
// agent's info (retained messages arrive in any order) gets a placeholder
// that the info then admits or drops; after the info, only announced and
// admitted devices have an entry, and nil is returned for any other.
// The caller holds b.mu.
func (b *Bus) device(agent, dev string) *Device {
	a := b.agent(agent)
	if a == nil {
		return nil
	}
	d, ok := a.Devices[dev]
	if ok {
		return d
	}
	if len(a.Info.Devices) > 0 || len(a.Devices) >= b.o.MaxAgentDevices || b.ndev >= b.o.MaxDevices {
		return nil
	}
	d = &Device{Info: wire.DeviceInfo{ID: dev}}
	a.Devices[dev] = d
	b.ndev++
	return d
}

// knownDevice returns a device's info when its agent has announced it.
// The caller holds b.mu.
func (b *Bus) knownDevice(agent, dev string) (wire.DeviceInfo, bool) {
	a, ok := b.agents[agent]
	if !ok {
		return wire.DeviceInfo{}, false
	}
	d, ok := a.Devices[dev]
	if !ok || d.Info.Kind == "" {
		return wire.DeviceInfo{}, false
	}
	return d.Info, true
}

// releaseHeld queues again the held events of agent (its info arrived).
// It runs on the router goroutine; the events channel is drained by Run.
func (b *Bus) releaseHeld(agent string) {
	b.mu.Lock()
	var again []mqtt.Message
	var keep []heldEvent
	for _, h := range b.held {
		if t, _ := wire.ParseTopic(h.m.Topic(), b.o.Hall); t.Agent == agent {
			again = append(again, h.m)
		} else {
			keep = append(keep, h)
		}
	}
	b.held = keep
	b.mu.Unlock()
	for _, m := range again {
		select {
		case b.events <- m:
		default:
			go func() { b.events <- m }() // the queue is full: Run drains it
		}
	}
}

// Held is how many events wait for their device to be announced.
func (b *Bus) Held() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.held)
}

// Load seeds the registry with agents' last known info (kept durable by
// the controller through OnInfo), so that events and requests that come
// before the agents' retained info after a restart find their devices.
// Agents stay offline until their status says otherwise.
func (b *Bus) Load(infos ...wire.InfoMsg) {
	var refused []Refusal
	b.mu.Lock()
	for _, info := range infos {
		if !b.enrolled(info.Agent) {
			continue // no longer in the hall config
		}
		a := b.agent(info.Agent)
		if a == nil || len(a.Info.Devices) > 0 {
			continue // the registry is full, or a live info already arrived
		}
		a.Info = info
		refused = append(refused, b.admitInfo(a, info, a.Devices)...)
	}
	b.mu.Unlock()
	b.refuseDevices(refused)
	b.notify()
}

// Agents returns a copy of the registry, sorted by agent id.
func (b *Bus) Agents() []Agent {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Agent, 0, len(b.agents))
	for _, a := range b.agents {
		c := *a
		c.Refused = make(map[string]Refusal, len(a.Refused))
		for k, r := range a.Refused {
			c.Refused[k] = r
		}
		c.Devices = make(map[string]*Device, len(a.Devices))
		for k, d := range a.Devices {
			dc := *d
			c.Devices[k] = &dc
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Find returns (agent, device) pairs whose device matches.
func (b *Bus) Find(match func(agent string, d wire.DeviceInfo) bool) []Target {
	var out []Target
	for _, a := range b.Agents() {
		ids := make([]string, 0, len(a.Devices))
		for id := range a.Devices {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		// Keep the order the agent listed its devices in (its info), which
		// decides "the first printer of that agent".
		order := map[string]int{}
		for i, d := range a.Info.Devices {
			order[d.ID] = i + 1
		}
		sort.SliceStable(ids, func(i, j int) bool {
			oi, oj := order[ids[i]], order[ids[j]]
			if oi == 0 {
				oi = 1 << 30
			}
			if oj == 0 {
				oj = 1 << 30
			}
			return oi < oj
		})
		for _, id := range ids {
			d := a.Devices[id]
			if d.Info.Kind != "" && match(a.ID, d.Info) {
				out = append(out, Target{Agent: a.ID, Device: d.Info, Online: a.Online, Status: d.Status})
			}
		}
	}
	return out
}

// WaitAgent blocks until agent id is online and has announced at least
// devices devices (admitted or refused), or ctx ends.
func (b *Bus) WaitAgent(ctx context.Context, id string, devices int) error {
	for {
		changed := b.Changed()
		for _, a := range b.Agents() {
			if a.ID == id && a.Online && len(a.Devices)+len(a.Refused) >= devices {
				return nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("agent %s not registered: %w", id, ctx.Err())
		}
	}
}

// Target is a device to send to.
type Target struct {
	Agent  string
	Device wire.DeviceInfo
	Online bool
	Status wire.DevStatusMsg
}

// PublishDesired publishes a display's desired document, retained.
func (b *Bus) PublishDesired(agent, dev string, doc wire.DesiredMsg) error {
	// Only on an open connection (see publish): the controller publishes
	// every display document again when the connection comes back.
	if b.client == nil || !b.client.IsConnectionOpen() {
		return ErrNotConnected
	}
	b.client.Publish(wire.Desired(b.o.Hall, agent, dev), 1, true, wire.Marshal(doc))
	return nil
}
