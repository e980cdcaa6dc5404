package keypad

import (
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/firmware-agent/device"
)

// cfgWith sets cfg.Options from YAML text.
func cfgWith(t *testing.T, cfg device.Config, opts string) device.Config {
	t.Helper()
	if opts == "" {
		return cfg
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(opts), &n); err != nil {
		t.Fatal(err)
	}
	cfg.Options = *n.Content[0]
	return cfg
}
