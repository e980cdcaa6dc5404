package config

import (
	"errors"
	"strings"
	"testing"
)

func TestLeasesDefaultsAndSwitch(t *testing.T) {
	c, err := Parse("hall.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Leases; l.Off || l.Block != 20 || l.RefillBelow != 5 || l.LifetimeS != 0 || !l.On("kiosk-1", "btn-1") {
		t.Fatalf("lease defaults: %+v", l)
	}
	c, err = Parse("hall.yaml", []byte(good+"leases:\n  block: 8\n  dispensers: {kiosk-1/btn-1: false, kiosk-2/btn-1: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Leases.Block != 8 || c.Leases.RefillBelow != 2 {
		t.Fatalf("block 8: %+v", c.Leases)
	}
	if c.Leases.On("kiosk-1", "btn-1") || !c.Leases.On("kiosk-2", "btn-1") || !c.Leases.On("kiosk-3", "btn-1") {
		t.Fatalf("per-dispenser switch: %+v", c.Leases)
	}
	c, err = Parse("hall.yaml", []byte(good+"leases: {off: true, dispensers: {kiosk-2/btn-1: true}}\n"))
	if err != nil || c.Leases.On("kiosk-2", "btn-1") {
		t.Fatalf("off for the hall: %v %+v", err, c.Leases)
	}
}

func TestLeasesValidate(t *testing.T) {
	_, err := Parse("hall.yaml", []byte(good+"leases:\n  block: 1000\n  lifetime_s: -1\n  dispensers: {nodevice: false}\n"))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	for _, w := range []string{"leases.block: 1000 must be 1 to 999", "leases.lifetime_s: must not be negative", "leases.dispensers.nodevice: must be agent/device"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in\n%v", w, err)
		}
	}
	_, err = Parse("hall.yaml", []byte(good+"leases: {block: 10, refill_below: 11}\n"))
	if err == nil || !strings.Contains(err.Error(), "leases.refill_below: 11 must be 1 to leases.block (10)") {
		t.Errorf("refill_below over block: %v", err)
	}
}
