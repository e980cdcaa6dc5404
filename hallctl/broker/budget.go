package broker

import (
	"sync"

	"github.com/servicehall/servicehall/wire"
)

// budgets bound what each publisher (an agent, by username; an anonymous
// demo client, by client id) leaves in the broker and in the controller's
// device registry: the distinct topics it publishes to, and the payload
// bytes it keeps retained. Retained messages are allowed only on the
// contract's retained topic kinds (agent and device status, info, desired,
// reported, ctl/status); an empty retained payload deletes the message and
// frees its bytes. The controller is not budgeted.
type budgets struct {
	hall                string
	maxTopics, maxBytes int

	mu       sync.Mutex
	pubs     map[string]*budget  // publisher key → its budget
	retained map[string]retained // topic → who retained how much there
}

type budget struct {
	topics map[string]struct{}
	bytes  int
}

type retained struct {
	key  string
	size int
}

func newBudgets(hall string, maxTopics, maxBytes int) *budgets {
	return &budgets{hall: hall, maxTopics: maxTopics, maxBytes: maxBytes,
		pubs: map[string]*budget{}, retained: map[string]retained{}}
}

// retainAllowed reports whether the contract lets topic be retained.
func (bs *budgets) retainAllowed(topic string) bool {
	t, err := wire.ParseTopic(topic, bs.hall)
	return err == nil && t.Kind.Retained()
}

// agentOwn reports whether topic is one of an agent's own fixed topics
// (its status and info: one each, so bounded without a budget). They are
// always allowed, so a board that spent its topic budget on junk can still
// come online and say who it is after a reconnect.
func (bs *budgets) agentOwn(topic string) bool {
	t, err := wire.ParseTopic(topic, bs.hall)
	return err == nil && (t.Kind == wire.KindAgentStatus || t.Kind == wire.KindAgentInfo)
}

// publish checks and records one publish by key. It
// returns the rejection reason, or "" when the publish may go on; a
// refused publish changes nothing.
func (bs *budgets) publish(key, topic string, retain bool, size int) string {
	if retain && !bs.retainAllowed(topic) {
		return ReasonRetainNotAllowed
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.pubs[key]
	if b == nil {
		b = &budget{topics: map[string]struct{}{}}
		bs.pubs[key] = b
	}
	_, known := b.topics[topic]
	if !known && len(b.topics) >= bs.maxTopics && !bs.agentOwn(topic) {
		return ReasonTopicLimit
	}
	if retain && size > 0 {
		held := 0
		if r, ok := bs.retained[topic]; ok && r.key == key {
			held = r.size
		}
		if b.bytes-held+size > bs.maxBytes {
			return ReasonRetainedLimit
		}
	}
	b.topics[topic] = struct{}{}
	if retain {
		bs.retainLocked(key, topic, size)
	}
	return ""
}

// overwrite records a retained message on topic by the controller, which
// is not budgeted: whoever had bytes retained there has them back.
func (bs *budgets) overwrite(topic string) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.retainLocked("", topic, 0)
}

// will records a retained Last Will sent for key: it replaces what was
// retained on its topic (its size was checked at connect against the
// packet limit; the topic against the ACL and the retained kinds).
func (bs *budgets) will(key, topic string, size int) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.retainLocked(key, topic, size)
}

// retainLocked moves topic's retained bytes to key (size 0: deleted).
func (bs *budgets) retainLocked(key, topic string, size int) {
	if r, ok := bs.retained[topic]; ok {
		if b := bs.pubs[r.key]; b != nil {
			b.bytes -= r.size
		}
		delete(bs.retained, topic)
	}
	if size == 0 || key == "" {
		return
	}
	b := bs.pubs[key]
	if b == nil {
		b = &budget{topics: map[string]struct{}{}}
		bs.pubs[key] = b
	}
	b.bytes += size
	bs.retained[topic] = retained{key: key, size: size}
}

// usage returns key's distinct topics and retained bytes (for tests and
// the abuse benchmark).
func (bs *budgets) usage(key string) (topics, bytes int) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b := bs.pubs[key]; b != nil {
		return len(b.topics), b.bytes
	}
	return 0, 0
}
