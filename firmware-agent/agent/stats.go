package agent

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"
)

// Stats is a snapshot of the agent's counters.
type Stats struct {
	EventsEmitted   uint64 // events committed to the outbox
	EventsPublished uint64 // events acknowledged by the broker and removed
	CmdExecuted     uint64 // commands handed to a driver
	CmdDuplicate    uint64 // command ids seen again (answered with the stored ack)
	CmdExpired      uint64 // commands acked expired (at receipt or before running)
	CmdRejected     uint64 // commands acked rejected by the agent (bad payload, unknown device, unsupported)
	DesiredApplied  uint64 // desired documents applied
	DesiredStale    uint64 // desired documents dropped as older than one already taken
	DesiredRejected uint64 // desired documents for devices that are not running displays
	DeviceRestarts  uint64 // device Run failures followed by a restart
	Connects        uint64 // successful broker connections
	// Malformed counts messages refused before any handling, by reason
	// (wire.Reason codes plus "other_agent", "unexpected_topic", "unknown_device").
	Malformed map[string]uint64
}

type counters struct {
	eventsEmitted, eventsPublished                atomic.Uint64
	cmdExecuted, cmdDuplicate, cmdExpired         atomic.Uint64
	cmdRejected                                   atomic.Uint64
	desiredApplied, desiredStale, desiredRejected atomic.Uint64
	deviceRestarts, connects                      atomic.Uint64
	mu                                            sync.Mutex
	malformed                                     map[string]uint64
}

// Stats returns the counters now.
func (a *Agent) Stats() Stats {
	c := &a.stats
	c.mu.Lock()
	m := maps.Clone(c.malformed)
	c.mu.Unlock()
	return Stats{
		EventsEmitted: c.eventsEmitted.Load(), EventsPublished: c.eventsPublished.Load(),
		CmdExecuted: c.cmdExecuted.Load(), CmdDuplicate: c.cmdDuplicate.Load(),
		CmdExpired: c.cmdExpired.Load(), CmdRejected: c.cmdRejected.Load(),
		DesiredApplied: c.desiredApplied.Load(), DesiredStale: c.desiredStale.Load(),
		DesiredRejected: c.desiredRejected.Load(),
		DeviceRestarts:  c.deviceRestarts.Load(), Connects: c.connects.Load(),
		Malformed: m,
	}
}

// OutboxLen counts events waiting to be published.
func (a *Agent) OutboxLen(ctx context.Context) (int, error) { return a.store.Len(ctx) }

// malformed counts and logs a refused message with its reason.
func (a *Agent) malformed(reason, what string, err error, attrs ...any) {
	a.stats.mu.Lock()
	a.stats.malformed[reason]++
	a.stats.mu.Unlock()
	a.log.Warn("message refused", append([]any{"what", what, "reason", reason, "err", err}, attrs...)...)
}
