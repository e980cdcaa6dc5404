package broker

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// errOverLimit is the stop cause of a client disconnected for a limit.
var errOverLimit = errors.New("mqtt client over a limit")

// hallHook is the mochi hook that authenticates clients, applies the ACL
// (also to Last Will topics, which mochi does not check), holds each client
// to its limits and counts every refusal by reason.
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
	cl      *mqtt.Client // the connection that authenticated
	role    role
	user    string
	dropped atomic.Bool // disconnected for a limit (counted once)
}

func (h *hallHook) ID() string { return "servicehall-auth-acl" }

func (h *hallHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect,
		mqtt.OnConnectAuthenticate,
		mqtt.OnACLCheck,
		mqtt.OnDisconnect,
		mqtt.OnClientExpired,
		mqtt.OnPublish,
		mqtt.OnPublishDropped,
		mqtt.OnQosPublish,
		mqtt.OnWillSent,
	}, []byte{b})
}

// OnConnect refuses a client over Limits.Clients (CONNACK "server
// unavailable"), counted before the answer goes out.
func (h *hallHook) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	b := h.b
	b.mu.Lock()
	srv := b.srv
	b.mu.Unlock()
	if srv == nil || atomic.LoadInt64(&srv.Info.ClientsConnected) < int64(b.opts.Limits.Clients) {
		return nil
	}
	b.reject(ReasonTooManyClients)
	b.log.Warn("mqtt connection refused", "reason", ReasonTooManyClients, "client", cl.ID, "remote", cl.Net.Remote)
	_ = srv.SendConnack(cl, packets.ErrServerUnavailable, false, nil)
	return packets.ErrServerUnavailable
}

func (h *hallHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	b := h.b
	user := string(pk.Connect.Username)
	r, why := b.authenticate(cl.ID, user, pk.Connect.Password, pk.Connect.PasswordFlag, cl.Net.Remote)
	if why == "" {
		why = b.refuseCert(user, cl.Net.Conn, cl.Net.Remote)
	}
	if why != "" {
		// Never log the password; usernames are agent ids, not people.
		b.log.Warn("mqtt connection refused", "reason", ReasonAuthFailed, "why", why,
			"client", cl.ID, "username", user, "remote", cl.Net.Remote)
		return false
	}
	if pk.Connect.WillFlag && !b.acl.allowed(r, user, pk.Connect.WillTopic, true) {
		b.reject(ReasonACLDenied)
		b.log.Warn("mqtt connection refused", "reason", ReasonACLDenied, "why", "last will topic not allowed",
			"client", cl.ID, "username", user, "topic", pk.Connect.WillTopic, "remote", cl.Net.Remote)
		return false
	}
	if pk.Connect.WillFlag && pk.Connect.WillRetain && r != roleController && !b.budget.retainAllowed(pk.Connect.WillTopic) {
		b.reject(ReasonRetainNotAllowed)
		b.log.Warn("mqtt connection refused", "reason", ReasonRetainNotAllowed, "why", "retained last will on a topic that is never retained",
			"client", cl.ID, "username", user, "topic", pk.Connect.WillTopic, "remote", cl.Net.Remote)
		return false
	}
	h.who.Store(cl.ID, &identity{cl: cl, role: r, user: user})
	b.log.Debug("mqtt client admitted", "client", cl.ID, "role", r, "remote", cl.Net.Remote)
	return true
}

func (h *hallHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if id := h.identity(cl); id != nil && h.b.acl.allowed(id.role, id.user, topic, write) {
		return true
	}
	h.b.reject(ReasonACLDenied)
	op := "read" // subscribe, or delivery to a subscriber
	if write {
		op = "publish"
	}
	h.b.log.Warn("mqtt access denied", "reason", ReasonACLDenied, "op", op,
		"client", cl.ID, "username", string(cl.Properties.Username), "topic", topic)
	return false
}

// OnPublish holds an agent to its topic and retained-bytes budget and to
// the contract's retained topic kinds (after the ACL, before the message
// is retained or delivered). A refused publish is dropped and its client
// disconnected: MQTT 3.1.1 has no negative PUBACK. The controller and the
// demo's anonymous clients (which have its reach) are not budgeted.
func (h *hallHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	id := h.identity(cl)
	if id == nil {
		return pk, nil // the ACL has refused it already
	}
	if id.role != roleAgent {
		if pk.FixedHeader.Retain {
			h.b.budget.overwrite(pk.TopicName) // frees what an agent had retained there
		}
		return pk, nil
	}
	if ok, _ := h.b.pubRate.Allow(id.user, h.b.clock.Now()); !ok {
		h.overLimit(cl, id, ReasonPublishRate, "topic", pk.TopicName, "per_s", h.b.opts.Limits.PublishesPerS)
		return pk, packets.ErrRejectPacket
	}
	reason := h.b.budget.publish(id.user, pk.TopicName, pk.FixedHeader.Retain, len(pk.Payload))
	if reason == "" {
		return pk, nil
	}
	h.overLimit(cl, id, reason, "topic", pk.TopicName, "bytes", len(pk.Payload))
	return pk, packets.ErrRejectPacket
}

// OnWillSent accounts a retained Last Will to its client's budget.
func (h *hallHook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	if !pk.FixedHeader.Retain {
		return
	}
	key := ""
	if id := h.identity(cl); id != nil && id.role == roleAgent {
		key = id.user
	}
	h.b.budget.will(key, pk.TopicName, len(pk.Payload))
}

// OnPublishDropped: mochi found cl's queue of pending writes full. An
// agent that does not read is disconnected; the controller (or a demo
// client with its reach) only loses the message (counted).
func (h *hallHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	if cl.Closed() {
		return
	}
	id := h.identity(cl)
	if id == nil || id.role != roleAgent {
		h.b.reject(ReasonSlowConsumer)
		h.b.log.Warn("mqtt message dropped: the client's queue is full", "reason", ReasonSlowConsumer,
			"client", cl.ID, "topic", pk.TopicName)
		return
	}
	h.overLimit(cl, id, ReasonSlowConsumer, "queued", h.b.opts.Limits.WritesPending)
}

// OnQosPublish: a QoS 1/2 message to cl is now in flight. A connected
// agent with more than Limits.Inflight unacknowledged messages is not
// reading and is disconnected (an offline session only keeps them; the
// controller and demo clients are bounded by mochi's 8,192).
func (h *hallHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	if pk.FixedHeader.Type != packets.Publish || cl.Closed() || cl.Net.Conn == nil {
		return
	}
	if cl.State.Inflight.Len() <= h.b.opts.Limits.Inflight {
		return
	}
	if id := h.identity(cl); id != nil && id.role == roleAgent {
		h.overLimit(cl, id, ReasonSlowConsumer, "inflight", cl.State.Inflight.Len())
	}
}

// overLimit counts reason, logs it and disconnects cl (once).
func (h *hallHook) overLimit(cl *mqtt.Client, id *identity, reason string, attrs ...any) {
	if !id.dropped.CompareAndSwap(false, true) {
		return
	}
	h.b.reject(reason)
	h.b.log.Warn("mqtt client disconnected: over a limit", append([]any{"reason", reason,
		"client", cl.ID, "username", string(cl.Properties.Username), "remote", cl.Net.Remote}, attrs...)...)
	cl.Stop(errOverLimit)
}

func (h *hallHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	if errors.Is(err, packets.ErrPacketTooLarge) {
		h.b.reject(ReasonPacketTooLarge)
		h.b.log.Warn("mqtt client disconnected: packet too large", "reason", ReasonPacketTooLarge,
			"client", cl.ID, "username", string(cl.Properties.Username), "remote", cl.Net.Remote,
			"max_bytes", h.b.opts.MaxPacketSize)
	}
	if expire {
		h.forget(cl)
	}
}

func (h *hallHook) OnClientExpired(cl *mqtt.Client) { h.forget(cl) }

func (h *hallHook) identity(cl *mqtt.Client) *identity {
	if v, ok := h.who.Load(cl.ID); ok {
		return v.(*identity)
	}
	return nil
}

// forget drops cl's identity unless a newer connection with the same
// client id has authenticated since.
func (h *hallHook) forget(cl *mqtt.Client) {
	if v, ok := h.who.Load(cl.ID); ok && v.(*identity).cl == cl {
		h.who.CompareAndDelete(cl.ID, v)
	}
}

var _ mqtt.Hook = (*hallHook)(nil)
