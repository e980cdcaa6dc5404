package config

import "fmt"

// Agent is one enrolled firmware-agent (the `agents:` section): the hall
// config, not the agent, is the authority on which windows' keypads, LED
// screens and rating pads and which zones' speakers a board may drive
// (docs/security.md). An agent's info can claim only what is listed here.
type Agent struct {
	// ID is the agent id (MQTT client id and username).
	ID string `yaml:"id"`
	// Windows the agent may drive window devices (keypad, LED, pad) of.
	Windows []int `yaml:"windows,omitempty"`
	// Zones the agent may drive speakers of.
	Zones []string `yaml:"zones,omitempty"`
	// Kiosk: the agent may run dispensers (ticket buttons, printers), ID
	// readers and scanners.
	Kiosk bool `yaml:"kiosk,omitempty"`
}

// Enrolled finds the agent id in the `agents:` section.
func (c *Config) Enrolled(id string) (Agent, bool) {
	for _, a := range c.Agents {
		if a.ID == id {
			return a, true
		}
	}
	return Agent{}, false
}

// MayWindow reports whether the agent may drive window n's devices.
func (a Agent) MayWindow(n int) bool {
	for _, w := range a.Windows {
		if w == n {
			return true
		}
	}
	return false
}

// MayZone reports whether the agent may drive zone z's speakers.
func (a Agent) MayZone(z string) bool {
	for _, x := range a.Zones {
		if x == z {
			return true
		}
	}
	return false
}

// agentProblems checks the `agents:` section against the windows and
// zones the hall has.
func (c *Config) agentProblems(add func(key, format string, args ...any)) {
	seen := map[string]bool{}
	windows := map[int]bool{}
	zones := map[string]bool{}
	for _, w := range c.Windows {
		windows[w.Number] = true
		if w.Zone != "" {
			zones[w.Zone] = true
		}
	}
	for i, a := range c.Agents {
		k := fmt.Sprintf("agents[%d]", i)
		if !dispenserID.MatchString(a.ID) {
			add(k+".id", "%q must be an agent id ([a-z0-9][a-z0-9_-]*)", a.ID)
		}
		if seen[a.ID] {
			add(k+".id", "agent %q is listed twice", a.ID)
		}
		seen[a.ID] = true
		for _, n := range a.Windows {
			if !windows[n] {
				add(k+".windows", "window %d is not in windows:", n)
			}
		}
		for _, z := range a.Zones {
			if !zones[z] {
				add(k+".zones", "zone %q is no window's zone", z)
			}
		}
	}
}

// CheckEnrolment is the Check `hallctl check` adds: a hall that is not a
// demo and enrols no agent would refuse every device. (It is not a parse
// error, so configs of tests and tools without devices still load.)
func CheckEnrolment(c *Config) []Problem {
	if len(c.Agents) == 0 && !c.Server.Demo {
		return []Problem{c.Problemf("agents", "no agent is enrolled; devices would be refused (list the hall's boards, or set server.demo: true)")}
	}
	return nil
}
