package ctl

import (
	"fmt"
	"time"

	"github.com/servicehall/servicehall/hallctl/bus"
	"github.com/servicehall/servicehall/wire"
)

// The hall config is the authority on devices (docs/devices.md): an
// agent's info claims windows, zones and kinds, and the controller admits
// only what the config's agents: section enrolled the agent for. With no
// agents: in a demo hall (server.demo) every claim is admitted.

// Reasons a device claim is refused (the "reason" label of
// hallctl_rejected_messages_total{kind="device"} and of its events).
const (
	refusedWindow  = "window_not_enrolled"
	refusedZone    = "zone_not_enrolled"
	refusedKiosk   = "not_kiosk"
	refusedNoPlace = "no_window"
	refusedKind    = "unknown_kind"
)

// openHall reports whether every agent and claim is admitted: a demo
// hall that enrols no agent.
func (c *Controller) openHall() bool {
	cfg := c.Config()
	return len(cfg.Agents) == 0 && cfg.Server.Demo
}

// agentEnrolled implements bus.Options.Enrolled.
func (c *Controller) agentEnrolled(agent string) bool {
	if c.openHall() {
		return true
	}
	_, ok := c.Config().Enrolled(agent)
	return ok
}

// admitDevice implements bus.Options.Admit: a window device (keypad, LED,
// rating pad, and a printer or reader placed at a window) only for a
// window the agent is enrolled with; a speaker only for an enrolled zone
// (one without a zone plays every call: the agent must be enrolled for
// every zone of the hall — or be a kiosk agent, whose zone-less speaker
// is its voice guidance and gets only calls of zone-less windows); dispensers, printers, ID readers and scanners
// away from windows only on a kiosk agent.
func (c *Controller) admitDevice(agent string, d wire.DeviceInfo) string {
	if c.openHall() {
		return ""
	}
	cfg := c.Config()
	a, ok := cfg.Enrolled(agent)
	if !ok {
		return bus.ReasonAgentNotEnrolled
	}
	switch d.Kind {
	case wire.KindKeypad, wire.KindLED, wire.KindRating:
		if d.Window == 0 {
			return refusedNoPlace
		}
		if !a.MayWindow(d.Window) {
			return refusedWindow
		}
	case wire.KindSpeaker:
		if d.Zone != "" {
			if !a.MayZone(d.Zone) {
				return refusedZone
			}
			return ""
		}
		if a.Kiosk {
			// issue 11: a kiosk's own speaker (voice guidance, kiosk_voice.go).
			return ""
		}
		zones := 0
		for _, w := range cfg.Windows {
			if w.Zone == "" {
				continue
			}
			zones++
			if !a.MayZone(w.Zone) {
				return refusedZone
			}
		}
		if zones == 0 && !a.Kiosk && len(a.Windows) == 0 {
			return refusedZone
		}
	case wire.KindPrinter, wire.KindButton, wire.KindIDReader, wire.KindScanner:
		if d.Window != 0 {
			if !a.MayWindow(d.Window) {
				return refusedWindow
			}
			return ""
		}
		if !a.Kiosk {
			return refusedKiosk
		}
	default:
		return refusedKind
	}
	return ""
}

// DeviceRefusal is a refused device claim (or an agent that is not
// enrolled: Device empty) as the manager sees it.
type DeviceRefusal struct {
	Agent  string    `json:"agent"`
	Device string    `json:"device,omitempty"`
	Kind   string    `json:"kind,omitempty"`
	Window int       `json:"window,omitempty"`
	Zone   string    `json:"zone,omitempty"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// RefusedDevices lists the device claims the hall config refused.
func (c *Controller) RefusedDevices() []DeviceRefusal {
	rs := c.bus.Refused()
	out := make([]DeviceRefusal, 0, len(rs))
	for _, r := range rs {
		out = append(out, DeviceRefusal{Agent: r.Agent, Device: r.Device.ID, Kind: r.Device.Kind, Window: r.Device.Window,
			Zone: r.Device.Zone, Reason: r.Reason, At: r.At})
	}
	return out
}

// refusalMessage is the manager's alert text of a refused claim.
func refusalMessage(r DeviceRefusal) string {
	if r.Device == "" {
		return fmt.Sprintf("未登记的设备主机 %s 试图接入（不在配置 agents: 中）", r.Agent)
	}
	return fmt.Sprintf("设备 %s/%s（%s）的声明被拒绝：%s（窗口 %d，区域 %q），请核对配置 agents:", r.Agent, r.Device, r.Kind, r.Reason, r.Window, r.Zone)
}
