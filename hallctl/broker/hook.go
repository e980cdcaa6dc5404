package broker

import (
	"bytes"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// hallHook is the mochi hook that authenticates clients, applies the ACL
// (also to Last Will topics, which mochi does not check) and counts every
// refusal by reason.
type hallHook struct {
	mqtt.HookBase
	b *Broker

	// who maps a client id to the identity that authenticated it. It is
	// keyed by id, not by connection, because a persistent session outlives
	// its connection: messages queued for an offline agent are ACL-checked
	// against its session.
	who sync.Map // string → *identity
}

type identity struct {
	cl   *mqtt.Client // the connection that authenticated
	role role
	user string
}

func (h *hallHook) ID() string { return "servicehall-auth-acl" }

func (h *hallHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnectAuthenticate,
		mqtt.OnACLCheck,
		mqtt.OnDisconnect,
		mqtt.OnClientExpired,
	}, []byte{b})
}

func (h *hallHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	b := h.b
	user := string(pk.Connect.Username)
	r, why := b.authenticate(cl.ID, user, pk.Connect.Password, pk.Connect.PasswordFlag, cl.Net.Remote)
	if why != "" {
		b.authFailed.Add(1)
		// Never log the password; usernames are agent ids, not people.
		b.log.Warn("mqtt connection refused", "reason", ReasonAuthFailed, "why", why,
			"client", cl.ID, "username", user, "remote", cl.Net.Remote)
		return false
	}
	if pk.Connect.WillFlag && !b.acl.allowed(r, user, pk.Connect.WillTopic, true) {
		b.aclDenied.Add(1)
		b.log.Warn("mqtt connection refused", "reason", ReasonACLDenied, "why", "last will topic not allowed",
			"client", cl.ID, "username", user, "topic", pk.Connect.WillTopic, "remote", cl.Net.Remote)
		return false
	}
	h.who.Store(cl.ID, &identity{cl: cl, role: r, user: user})
	b.log.Debug("mqtt client admitted", "client", cl.ID, "role", r, "remote", cl.Net.Remote)
	return true
}

func (h *hallHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	v, ok := h.who.Load(cl.ID)
	if ok {
		id := v.(*identity)
		if h.b.acl.allowed(id.role, id.user, topic, write) {
			return true
		}
	}
	h.b.aclDenied.Add(1)
	op := "read" // subscribe, or delivery to a subscriber
	if write {
		op = "publish"
	}
	h.b.log.Warn("mqtt access denied", "reason", ReasonACLDenied, "op", op,
		"client", cl.ID, "username", string(cl.Properties.Username), "topic", topic)
	return false
}

func (h *hallHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	if expire {
		h.forget(cl)
	}
}

func (h *hallHook) OnClientExpired(cl *mqtt.Client) { h.forget(cl) }

// forget drops cl's identity unless a newer connection with the same
// client id has authenticated since.
func (h *hallHook) forget(cl *mqtt.Client) {
	if v, ok := h.who.Load(cl.ID); ok && v.(*identity).cl == cl {
		h.who.CompareAndDelete(cl.ID, v)
	}
}

var _ mqtt.Hook = (*hallHook)(nil)
