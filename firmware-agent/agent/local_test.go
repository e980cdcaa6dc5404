package agent_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/firmware-agent/device/devicetest"
	"github.com/servicehall/servicehall/wire"
)

// probe is a device that keeps the Env the agent gave it.
type probe struct{}

func (probe) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func waitCtl(t *testing.T, a *agent.Agent, env device.Env, want bool) {
	t.Helper()
	deadline := time.After(wait)
	for {
		up, ch := a.CtlReachable()
		if up == want {
			if env.Ctl.Reachable() != want {
				t.Fatalf("driver's Ctl says %v, agent %v", !want, want)
			}
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("controller reachable never became %v", want)
		}
	}
}

// Drivers get the controller's reachability (connection and ctl/status),
// their own durable state, and commands to the agent's other devices.
func TestDriverEnvReachabilityStatePeers(t *testing.T) {
	b := startBroker(t, freeAddr(t))
	ct := newSilentController(t, b, "ctl", wire.Root+hall+"/#")
	set := devicetest.NewSet()
	var mu sync.Mutex
	envs := map[string]device.Env{}
	lookup := func(kind string) (device.Factory, bool) {
		if kind == "probe" {
			return func(cfg device.Config, env device.Env) (device.Device, error) {
				mu.Lock()
				envs[cfg.ID] = env
				mu.Unlock()
				return probe{}, nil
			}, true
		}
		return set.Lookup(kind)
	}
	dir := t.TempDir()
	y := []byte(`
agent: {id: a1, hall: h1, state_dir: ` + dir + `}
mqtt: {url: "` + b.url() + `"}
devices:
  - {id: printer-1, kind: fake-printer}
  - {id: probe-1, kind: probe}
  - {id: probe-2, kind: probe}
  - {id: led-8, kind: fake-display, window: 8}
  - {id: pad-8, kind: fake-unavailable, pin: GPIO99, window: 8}
`)
	cfg, err := agent.Parse(y, "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(context.Background(), cfg, agent.Opts{
		Log:    slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Clock:  clockwork.NewRealClock(),
		Lookup: lookup,
		Kinds:  func() []string { return []string{"fake-printer", "fake-display", "probe"} },
		OpenPin: func(string) (gpio.PinIO, error) {
			return nil, device.ErrUnavailable
		},
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	defer func() { cancel(); <-done; a.Close() }()
	env := envs["probe-1"]

	// Reachability: connected but no controller yet → not reachable.
	ct.next(wire.AgentStatus(hall, agentID))
	if up, _ := a.CtlReachable(); up || env.Ctl.Reachable() {
		t.Fatal("reachable before the controller announced itself")
	}
	ct.publish(wire.CtlStatus(hall), true, []byte(wire.Online))
	waitCtl(t, a, env, true)
	ct.publish(wire.CtlStatus(hall), true, []byte(wire.Offline))
	waitCtl(t, a, env, false)
	ct.publish(wire.CtlStatus(hall), true, []byte(wire.Online))
	waitCtl(t, a, env, true)
	b.close() // the broker goes: unreachable at once
	waitCtl(t, a, env, false)

	// Durable per-device state.
	if err := env.KV.Put(ctx, "lease/HR-001", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := env.KV.Get(ctx, "lease/HR-001"); err != nil || !ok || string(v) != "x" {
		t.Fatalf("get: %q %v %v", v, ok, err)
	}
	if _, ok, _ := envs["probe-2"].KV.Get(ctx, "lease/HR-001"); ok {
		t.Fatal("a device sees another's state")
	}

	// Peer commands run on the device's worker; others answer with codes
	// ("" is the first escpos-printer: this agent has none).
	args := wire.Print{Template: wire.TemplateTicket, Fields: wire.PrintFields{Number: "A001"}}
	if r := env.Peers.Run(ctx, "printer-1", wire.CmdPrint, args); r.Status != wire.AckDone {
		t.Fatalf("print on printer-1: %+v", r)
	}
	if calls := set.Printer("printer-1").Calls(); len(calls) != 1 || calls[0].Name != wire.CmdPrint {
		t.Fatalf("printer calls %+v", calls)
	}
	for dev, code := range map[string]string{"": agent.CodeUnknownDevice, "nope": agent.CodeUnknownDevice, "led-8": agent.CodeUnsupported, "pad-8": agent.CodeUnavailable} {
		if r := env.Peers.Run(ctx, dev, wire.CmdPrint, args); r.Status != wire.AckRejected || r.Code != code {
			t.Errorf("peer %s: %+v, want rejected %s", dev, r, code)
		}
	}
}
