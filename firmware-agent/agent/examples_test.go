package agent_test

import (
	"path/filepath"
	"testing"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	"github.com/servicehall/servicehall/firmware-agent/device"
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/all"
	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard"
	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/wire"
)

// Every configs/examples/agents/*.yaml passes what `firmware-agent --check`
// checks (Load, CheckKinds, idcard.CheckTransport), its devices' options
// decode strictly into their drivers' types, and the district hall enrols
// it: same hall id, a broker account, and grants for every window, zone
// and kiosk device it names.
func TestExampleAgentConfigs(t *testing.T) {
	t.Setenv("MQTT_URL", "") // Load applies it: the files alone are tested
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "examples", "agents", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example agent configs (%v)", err)
	}
	hall, err := config.Load(filepath.Join("..", "..", "configs", "examples", "district", "hall.yaml"), config.CheckEnrolment)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{}
	for _, u := range hall.Server.Users {
		users[u.Username] = true
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := agent.Load(f)
			if err == nil {
				err = cfg.CheckKinds(device.Lookup, device.Kinds())
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Devices) == 0 {
				t.Fatal("no devices")
			}
			for _, d := range cfg.Devices {
				if err := idcard.CheckTransport(d, cfg.MQTT.URL); err != nil {
					t.Error(err)
				}
				if err := device.CheckOptions(d); err != nil {
					t.Error(err)
				}
				if d.Emulate {
					t.Errorf("device %s: emulate in a production example", d.ID)
				}
			}
			if cfg.Agent.Hall != hall.Hall.ID {
				t.Errorf("agent.hall %q, the district hall is %q", cfg.Agent.Hall, hall.Hall.ID)
			}
			if !users[cfg.MQTT.Username] || cfg.MQTT.Username != cfg.Agent.ID {
				t.Errorf("mqtt.username %q: no server.users entry of the hall, or not the agent id", cfg.MQTT.Username)
			}
			grant, ok := hall.Enrolled(cfg.Agent.ID)
			if !ok {
				t.Fatalf("agent %s is not in the hall's agents:", cfg.Agent.ID)
			}
			for _, d := range cfg.Devices {
				switch d.Kind {
				case wire.KindLED, wire.KindKeypad, wire.KindRating:
					if !grant.MayWindow(d.Window) {
						t.Errorf("device %s: window %d is not granted to %s", d.ID, d.Window, cfg.Agent.ID)
					}
				case wire.KindSpeaker:
					if !grant.MayZone(d.Zone) {
						t.Errorf("device %s: zone %q is not granted to %s", d.ID, d.Zone, cfg.Agent.ID)
					}
				default:
					if !grant.Kiosk {
						t.Errorf("device %s (%s): %s is not a kiosk agent", d.ID, d.Kind, cfg.Agent.ID)
					}
				}
				if d.Item != "" && hall.Item(d.Item) == nil {
					t.Errorf("device %s: item %s is not in the hall", d.ID, d.Item)
				}
			}
		})
	}
}
