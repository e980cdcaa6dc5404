package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/servicehall/servicehall/wire"
)

// fatal records the first error the controller cannot recover from (a
// commit that failed leaves memory ahead of the log) and stops Run, which
// returns it: hallctl serve exits non-zero and systemd restarts it, and the
// restart rebuilds state from the log. Requests after it get
// ErrUnavailable; /healthz answers 503.
func (c *Controller) fatal(err error) {
	c.fatalMu.Lock()
	defer c.fatalMu.Unlock()
	if c.fatalErr != nil {
		return
	}
	c.fatalErr = err
	c.metrics.healthy.Set(0)
	c.log.Error("fatal: the controller stops", "err", err)
	if c.stop != nil {
		c.stop(err)
	}
}

// failure is the fatal error, nil while the controller is healthy.
func (c *Controller) failure() error {
	c.fatalMu.Lock()
	defer c.fatalMu.Unlock()
	if c.fatalErr == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, c.fatalErr)
}

// Err is the fatal error that stopped the controller (nil while healthy).
func (c *Controller) Err() error { return c.failure() }

// watchStore checks the event log every CheckEvery: a write that failed
// elsewhere (the case registry, the outbox) or a database file deleted or
// replaced while running is fatal.
func (c *Controller) watchStore(ctx context.Context) error {
	t := c.clock.NewTicker(c.o.CheckEvery)
	defer t.Stop()
	for {
		if err := c.store.Check(); err != nil {
			err = fmt.Errorf("event log: %w", err)
			c.fatal(err)
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.Chan():
		}
	}
}

// hand gives f to runWork; after Run has returned, f is dropped (the MQTT
// goroutines that call it must never block on a stopped controller).
func (c *Controller) hand(f func(context.Context)) {
	select {
	case c.work <- f:
	case <-c.ended:
	}
}

// runWork does, one at a time, the work that MQTT callbacks hand over
// (recording command outcomes, keeping agents' births): it may wait for a
// commit, which the MQTT goroutines must not.
func (c *Controller) runWork(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-c.work:
			f(context.WithoutCancel(ctx))
		}
	}
}

// registryBucket keeps each agent's last birth, so that after a restart
// the device registry is known before the agents' retained info arrives.
const registryBucket = "registry"

// rememberInfo keeps an agent's birth durable (on the MQTT router
// goroutine; a separate unit of its own).
func (c *Controller) rememberInfo(info wire.InfoMsg) {
	b := wire.Marshal(info)
	c.hand(func(ctx context.Context) {
		err := c.inUnit(ctx, func(u *unit) error {
			u.Put(registryBucket, info.Agent, b)
			return nil
		})
		if err != nil && !errors.Is(err, ErrUnavailable) {
			c.log.Error("keep agent info", "agent", info.Agent, "err", err)
		}
	})
}

// loadRegistry seeds the bus with the agents' last known births.
func (c *Controller) loadRegistry(ctx context.Context) error {
	kvs, err := c.store.List(ctx, registryBucket)
	if err != nil {
		return err
	}
	infos := make([]wire.InfoMsg, 0, len(kvs))
	for _, kv := range kvs {
		var info wire.InfoMsg
		if err := json.Unmarshal(kv.Val, &info); err != nil {
			c.log.Warn("skip unreadable agent info", "agent", kv.Key, "err", err)
			continue
		}
		infos = append(infos, info)
	}
	c.bus.Load(infos...)
	return nil
}
