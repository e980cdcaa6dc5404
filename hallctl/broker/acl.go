package broker

import (
	"strings"

	"github.com/servicehall/servicehall/wire"
)

// role is what a connected client may do.
type role uint8

const (
	roleAgent      role = iota + 1 // its own agent subtree, plus reading ctl/status
	roleController                 // the whole hall root
	roleLoopback                   // anonymous loopback client (demo): the whole hall root
)

func (r role) String() string {
	switch r {
	case roleAgent:
		return "agent"
	case roleController:
		return "controller"
	case roleLoopback:
		return "loopback"
	}
	return "none"
}

// acl decides topic access for one hall. It is pure, so it is tested
// apart from the broker.
type acl struct {
	root      string // "hall/v1/<hall>/"
	ctlStatus string // "hall/v1/<hall>/ctl/status"
}

func newACL(hall string) acl {
	return acl{root: wire.Root + hall + "/", ctlStatus: wire.CtlStatus(hall)}
}

// allowed reports whether a client with role r and username user may
// publish to (write) or subscribe to / receive (read) topic, which may be a
// filter with wildcards when reading.
//
// A filter is allowed only when every topic it can match is allowed, so
// wildcards may appear only after the literal prefix the role owns:
// "hall/v1/h/agent/a/#" is fine for agent a, "hall/v1/h/agent/+/#" and
// "hall/v1/#" are not.
func (a acl) allowed(r role, user, topic string, write bool) bool {
	if topic == "" || len(topic) > wire.MaxTopicLen {
		return false
	}
	switch r {
	case roleController, roleLoopback:
		return underPrefix(topic, a.root)
	case roleAgent:
		if user == "" || strings.ContainsAny(user, "/+#") {
			return false
		}
		if !write && topic == a.ctlStatus {
			// Agents watch the controller's availability to re-send
			// info and flush their outbox when it comes back.
			return true
		}
		return underPrefix(topic, a.root+"agent/"+user+"/")
	}
	return false
}

// underPrefix reports whether topic (or filter) begins with prefix
// ("…/" terminated) and has at least one level after it, and no wildcard
// inside the prefix. Because the prefix is matched literally, a "+" or "#"
// in the first levels never matches.
func underPrefix(topic, prefix string) bool {
	return len(topic) > len(prefix) && strings.HasPrefix(topic, prefix)
}
