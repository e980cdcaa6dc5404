package agent

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

// What the agent offers drivers beyond events and status: whether the
// controller is reachable, durable per-device state, and commands to the
// agent's other devices (offline numbering: a button prints on its
// printer from its lease while the controller cannot be reached).

// ctlLink is device.Controller: the controller is reachable while the
// agent is connected and the last ctl/status on this connection was
// "online" — the same gate the outbox waits for.
type ctlLink struct{ a *Agent }

func (c ctlLink) Reachable() bool { return c.a.ctlReach.Load() }

// setCtlReachable records the controller's availability as the agent sees it.
func (a *Agent) setCtlReachable(up bool) {
	a.reachMu.Lock()
	defer a.reachMu.Unlock()
	if a.ctlReach.Swap(up) != up {
		a.log.Info("controller reachability", "reachable", up)
		if a.reachCh != nil {
			close(a.reachCh)
			a.reachCh = nil
		}
	}
}

// CtlReachable reports whether the controller is reachable now (what a
// ticket button's offline numbering goes by) and a channel closed at the
// next change.
func (a *Agent) CtlReachable() (bool, <-chan struct{}) {
	a.reachMu.Lock()
	defer a.reachMu.Unlock()
	if a.reachCh == nil {
		a.reachCh = make(chan struct{})
	}
	return a.ctlReach.Load(), a.reachCh
}

// devKV is device.KV on the agent's store, scoped to one device.
type devKV struct {
	a   *Agent
	dev string
}

func (k devKV) Get(ctx context.Context, key string) ([]byte, bool, error) {
	return k.a.store.Get(ctx, k.dev, key)
}

func (k devKV) Put(ctx context.Context, key string, val []byte) error {
	return k.a.store.Put(ctx, k.dev, key, val)
}

// peers is device.Peers: a command queued on another device's worker.
type peers struct{ a *Agent }

func (p peers) Run(ctx context.Context, id, name string, args any) device.Result {
	a := p.a
	var d *dev
	if id == "" {
		for _, x := range a.order {
			if x.cfg.Kind == wire.KindPrinter {
				d = x
				break
			}
		}
	} else {
		d = a.devs[id]
	}
	switch {
	case d == nil:
		return device.Rejected(CodeUnknownDevice, fmt.Errorf("agent %s has no device %q", a.id, id))
	case d.dev == nil:
		return device.Rejected(CodeUnavailable, fmt.Errorf("device %s is %s: %s", d.cfg.ID, d.info.State, d.info.Reason))
	case d.cmd == nil:
		return device.Rejected(CodeUnsupported, fmt.Errorf("device %s (%s) takes no commands", d.cfg.ID, d.cfg.Kind))
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return device.Rejected("bad_args", err)
	}
	done := make(chan device.Result, 1)
	d.q.add(func(ctx context.Context) { done <- a.handle(ctx, d, name, raw) })
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		return device.Failed("cancelled", ctx.Err())
	}
}

var (
	_ device.Controller = ctlLink{}
	_ device.KV         = devKV{}
	_ device.Peers      = peers{}
)
