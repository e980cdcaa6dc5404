package idcard

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/wire"
)

// plug is a PortOpener whose ports can be yanked like a USB cable: the
// open port fails and opening fails until replugged.
type plug struct {
	mu      sync.Mutex
	out     bool
	current device.Port
	opens   int
}

func (p *plug) open(ctx context.Context, path string, baud int) (device.Port, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out {
		return nil, errUnplugged
	}
	port, err := serialport.Open(ctx, path, baud)
	if err != nil {
		return nil, err
	}
	p.current = port
	p.opens++
	return port, nil
}

func (p *plug) yank() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = true
	if p.current != nil {
		p.current.Close()
	}
}

func (p *plug) replug() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = false
}

func TestUnplugReconnectsWithBackoff(t *testing.T) {
	pl := &plug{}
	h, _, _ := start(t, hopts{card: true, openPort: pl.open})
	h.waitStatus(wire.StateOnline, "")
	pl.yank()
	h.advanceWhenBlocked(h.r.opts.Poll) // the find cannot be written or read
	h.waitStatus(wire.StateOffline, CodePortError)
	h.advanceWhenBlocked(250 * time.Millisecond)
	h.waitStatus(wire.StateOffline, CodePortUnavailable)
	pl.replug()
	h.advanceWhenBlocked(500 * time.Millisecond) // the backoff doubled
	h.waitStatus(wire.StateOnline, "")
	h.waitIdle()
	h.tick()
	h.event()
	if pl.opens != 2 {
		t.Fatalf("opens = %d", pl.opens)
	}
}

func TestPortMissingIsOfflineNotFatal(t *testing.T) {
	h, _, _ := start(t, hopts{noWait: true, cfg: func(c *device.Config) { c.Port = "/dev/does-not-exist" }})
	s := h.waitStatus(wire.StateOffline, CodePortUnavailable)
	if s.Detail == "" {
		t.Fatal("no detail")
	}
	h.advanceWhenBlocked(250 * time.Millisecond)
	h.advanceWhenBlocked(500 * time.Millisecond) // still retrying
}

// emulate: true runs the emulator inside the driver on its own pty.
func TestEmulateMode(t *testing.T) {
	h, _, _ := start(t, hopts{cfg: func(c *device.Config) { c.Port = ""; c.Emulate = true }})
	h.tick()
	if c := h.event(); c != demoEvent {
		t.Fatalf("event %+v", c)
	}
	h.tick()
	h.noEvent()
	if !strings.Contains(h.logs.String(), "emulator on pty") {
		t.Fatal("emulator not announced")
	}
}

func TestEmulateModeCustomCard(t *testing.T) {
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(`
emulator:
  card: {name: 欧阳娜娜, sex: "2", nation: "01", birth: "20000808", address: 某地,
         id: 110105200008080025, issuer: 某公安局, valid_from: "20190101", valid_to: "20290101"}
`), &node); err != nil {
		t.Fatal(err)
	}
	h, _, _ := start(t, hopts{cfg: func(c *device.Config) { c.Port = ""; c.Emulate = true; c.Options = *node.Content[0] }})
	h.tick()
	c := h.event()
	if c.MaskedName != "欧**娜" || c.MaskedID != "110105********0025" || c.BirthYear != 2000 || c.ValidTo != "2029-01-01" || c.Sex != SexFemale {
		t.Fatalf("event %+v", c)
	}
}

func TestMasks(t *testing.T) {
	for in, want := range map[string]string{"张三丰": "张*丰", "张三": "张*", "张": "*", "": "", "欧阳娜娜": "欧**娜", "阿依古丽·买买提": "阿******提"} {
		if got := MaskName(in); got != want {
			t.Errorf("MaskName(%s) = %s want %s", in, got, want)
		}
	}
	if got := MaskID("11010519491231002x"); got != "110105********002X" {
		t.Errorf("MaskID = %s", got)
	}
	if got := MaskID("123"); got != "***" {
		t.Errorf("short MaskID = %s", got)
	}
	a, b := HashID([]byte("k1"), "11010519491231002X"), HashID([]byte("k1"), "11010519491231002x")
	if a != b || len(a) != 64 {
		t.Fatal("hash not case-insensitive hex")
	}
	if HashID([]byte("k2"), "11010519491231002X") == a {
		t.Fatal("hash ignores the secret")
	}
	// HMAC-SHA256 known answer (Python hmac): key "k1", the Appendix A number.
	if a != "01274ea48a5ebcd413542608d918e6ae378f17cab4b7fc7d95b3e992e0c30c4d" {
		t.Fatalf("hash %s", a)
	}
}

func optsNode(t *testing.T, s string) yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return *n.Content[0]
}

func TestCheckTransport(t *testing.T) {
	raw := device.Config{ID: "r", Kind: Kind, Port: "/dev/x", Options: optsNode(t, "raw: true")}
	plain := device.Config{ID: "r", Kind: Kind, Port: "/dev/x"}
	for _, u := range []string{"tls://broker:8883", "ssl://b:8883", "mqtts://b", "wss://b/mqtt", "ssl://a:8883, ssl://b:8883"} {
		if err := CheckTransport(raw, u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	// A cluster list with one plain node is refused: raw data could go there.
	for _, u := range []string{"tcp://127.0.0.1:1883", "ws://b", "mqtt://b", "::bad", "ssl://a:8883,tcp://b:1883", ""} {
		if err := CheckTransport(raw, u); !errors.Is(err, ErrRawNeedsTLS) {
			t.Errorf("%s: %v", u, err)
		}
		if err := CheckTransport(plain, u); err != nil {
			t.Errorf("raw off, %s: %v", u, err)
		}
	}
	if err := CheckTransport(device.Config{Kind: wire.KindPrinter, Options: optsNode(t, "raw: true")}, "tcp://x"); err != nil {
		t.Errorf("other kind: %v", err)
	}
}

func TestFactoryErrors(t *testing.T) {
	env := device.Env{Secret: testSecret}
	cases := []struct {
		cfg  device.Config
		env  device.Env
		want string
	}{
		{device.Config{ID: "r", Kind: Kind}, env, "no port"},
		{device.Config{ID: "r", Kind: Kind, Port: "/dev/x"}, device.Env{}, "secret"},
		{device.Config{ID: "r", Kind: Kind, Port: "/dev/x", Options: optsNode(t, "bogus: 1")}, env, "bogus"},
		{device.Config{ID: "r", Kind: Kind, Port: "/dev/x", Options: optsNode(t, "poll: 0s\nmax_misses: 0")}, env, "poll must be > 0"},
		{device.Config{ID: "r", Kind: Kind, Port: "/dev/x", Options: optsNode(t, "poll: soon")}, env, "soon"},
		{device.Config{ID: "r", Kind: Kind, Emulate: true, Options: optsNode(t, "emulator: {card: {name: 一二三四五六七八九十一二三四五六}}")}, env, "name"},
	}
	for _, c := range cases {
		_, err := New(c.cfg, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.cfg.Options.Value, err, c.want)
		}
	}
	// An emulated reader runs without a secret (demo hall).
	if _, err := New(device.Config{ID: "r", Kind: Kind, Emulate: true}, device.Env{}); err != nil {
		t.Fatal(err)
	}
	f, ok := device.Lookup(wire.KindIDReader)
	if !ok || f == nil {
		t.Fatal("kind not registered")
	}
	d, err := New(device.Config{ID: "r", Kind: Kind, Port: "/dev/x", Options: optsNode(t, "raw: true\npoll: 300ms")}, env)
	if err != nil {
		t.Fatal(err)
	}
	if r := d.(*Reader); r.opts.Poll != 300*time.Millisecond || len(r.Caps()) != 1 || r.cfg.Baud != DefaultBaud {
		t.Fatalf("opts %+v", r.opts)
	}
}
