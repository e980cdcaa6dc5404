package broker

import mqtt "github.com/mochi-mqtt/server/v2"

// AddHookForTest lets tests observe the running broker's events.
func AddHookForTest(b *Broker, h mqtt.Hook) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv.AddHook(h, nil)
}

// Usage is what an agent holds against its budgets: distinct topics and
// retained bytes.
func Usage(b *Broker, agent string) (topics, retainedBytes int) { return b.budget.usage(agent) }
