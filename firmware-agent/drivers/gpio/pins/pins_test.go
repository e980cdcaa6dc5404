package pins

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/servicehall/servicehall/firmware-agent/device"
)

func TestOpenMissingPinIsUnavailable(t *testing.T) {
	_, err := Open(device.Env{}, "NO_SUCH_LINE_42")
	if !errors.Is(err, device.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if got := err.Error(); !strings.Contains(got, "NO_SUCH_LINE_42") {
		t.Fatalf("error does not name the pin: %q", got)
	}
	_, err = Open(device.Env{OpenPin: func(string) (gpio.PinIO, error) { return nil, nil }}, "X")
	if !errors.Is(err, device.ErrUnavailable) {
		t.Fatalf("nil pin: err = %v", err)
	}
}

var runs atomic.Int32 // gpioreg outlives one run of go test -count=N

func TestEmulateThenOpenAndSet(t *testing.T) {
	name := fmt.Sprintf("EMU_T%d", runs.Add(1))
	if err := Emulate(nil, name, name); err != nil {
		t.Fatal(err)
	}
	p, err := Open(device.Env{}, name)
	if err != nil {
		t.Fatal(err)
	}
	if p.Read() != gpio.High {
		t.Fatal("emulated pin does not idle High")
	}
	if err := Set(name, gpio.Low); err != nil {
		t.Fatal(err)
	}
	if !p.WaitForEdge(-1) || p.Read() != gpio.Low {
		t.Fatal("edge not delivered")
	}
	if err := Set("NOPE", gpio.Low); !errors.Is(err, ErrNotEmulated) {
		t.Fatalf("Set on unknown: %v", err)
	}
}
