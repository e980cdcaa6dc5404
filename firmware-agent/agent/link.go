package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/firmware-agent/serialport"
	"github.com/servicehall/servicehall/internal/mqtturl"
	"github.com/servicehall/servicehall/internal/secret"
	"github.com/servicehall/servicehall/wire"
)

// ErrNotConnected means there is no broker connection right now.
var ErrNotConnected = errors.New("not connected to the broker")

// conn is one MQTT connection. The agent makes a fresh paho client for every
// connection (paho's auto-reconnect is off): a lost connection's pending
// publish tokens are then simply abandoned and the outbox re-sends from its
// head, instead of paho's in-memory store completing tokens before the
// broker has acknowledged them (paho v1.5.1 claimID on resume).
type conn struct {
	c        mqtt.Client
	lost     chan struct{}
	lostOnce sync.Once
	// ctlUp is closed once the controller's retained ctl/status "online"
	// arrives on this connection. Events are sent only after it: a broker
	// that restarted has no subscription for the controller until the
	// controller reconnects, and an event published before then is
	// acknowledged by the broker and lost.
	ctlUp   chan struct{}
	ctlOnce sync.Once
}

func (cn *conn) markCtlUp() { cn.ctlOnce.Do(func() { close(cn.ctlUp) }) }

func (c *conn) markLost() { c.lostOnce.Do(func() { close(c.lost) }) }

// link holds the current connection and wakes waiters when it changes.
type link struct {
	mu   sync.Mutex
	cur  *conn
	wake chan struct{}
}

func (l *link) init() { l.wake = make(chan struct{}) }

func (l *link) get() (*conn, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur, l.wake
}

func (l *link) set(c *conn) {
	l.mu.Lock()
	l.cur = c
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

// wait returns the current connection, waiting up to d (d < 0: until ctx).
func (l *link) wait(ctx context.Context, clock interface {
	After(time.Duration) <-chan time.Time
}, d time.Duration) (*conn, error) {
	var timeout <-chan time.Time
	if d >= 0 {
		timeout = clock.After(d)
	}
	for {
		c, w := l.get()
		if c != nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout:
			return nil, ErrNotConnected
		case <-w:
		}
	}
}

// credentials reads what connecting needs from files once, at start, so
// a missing password or certificate is a start-up error, not a retry loop.
func (a *Agent) credentials() error {
	m := a.cfg.MQTT
	if m.PasswordFile != "" {
		b, err := secret.Read(m.PasswordFile)
		if err != nil {
			return fmt.Errorf("mqtt.password_file: %w", err)
		}
		a.password = strings.TrimRight(string(b), "\r\n")
	}
	us, err := mqtturl.Parse(m.URL)
	if err != nil {
		return fmt.Errorf("mqtt.url: %w", err)
	}
	// One TLS config serves every URL of the list. Its server name is the
	// host when there is one host; with several, it is left empty so each
	// dial checks the certificate against the host it dialled.
	hosts := map[string]bool{}
	anyTLS := false
	for _, u := range us {
		hosts[u.Hostname()] = true
		anyTLS = anyTLS || mqtturl.TLS(u)
	}
	if anyTLS {
		host := ""
		if len(hosts) == 1 {
			host = us[0].Hostname()
		}
		tc, err := tlsConfig(m.TLS, host)
		if err != nil {
			return err
		}
		a.tls = tc
	}
	return nil
}

func (a *Agent) clientOptions(cn *conn) *mqtt.ClientOptions {
	m := a.cfg.MQTT
	o := mqtt.NewClientOptions()
	for _, u := range mqtturl.Split(m.URL) { // a cluster's nodes, tried in order
		o.AddBroker(u)
	}
	o.SetClientID(a.id)
	o.SetCleanSession(false)
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetOrderMatters(true)
	o.SetKeepAlive(time.Duration(m.KeepaliveS) * time.Second)
	o.SetConnectTimeout(a.opts.ConnectTimeout)
	o.SetWriteTimeout(5 * time.Second)
	o.SetWill(wire.AgentStatus(a.hall, a.id), wire.Offline, 1, true)
	o.SetDefaultPublishHandler(func(_ mqtt.Client, msg mqtt.Message) {
		if a.isCtlOnline(msg.Topic(), msg.Payload()) {
			cn.markCtlUp()
		}
		a.onMessage(msg.Topic(), msg.Payload())
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		a.log.Warn("broker connection lost", "err", err)
		cn.markLost()
	})
	if m.PasswordFile != "" {
		o.SetUsername(m.Username)
		o.SetPassword(a.password)
	}
	if a.tls != nil {
		o.SetTLSConfig(a.tls)
	}
	return o
}

func tlsConfig(t TLSConfig, host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if t.ServerName != "" {
		tc.ServerName = t.ServerName
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt.tls.ca_file %s: no PEM certificates", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		if err := secret.Check(t.KeyFile); err != nil {
			return nil, fmt.Errorf("mqtt.tls.key_file: %w", err)
		}
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// runLink connects, reconnects with backoff, and on ctx end publishes the
// retained "offline" and disconnects.
func (a *Agent) runLink(ctx context.Context) {
	backoff := serialport.Backoff{Min: a.opts.ReconnectMin, Max: a.opts.ReconnectMax}
	var delay time.Duration
	for ctx.Err() == nil {
		cn, err := a.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			delay = backoff.Next(delay)
			a.log.Warn("broker connect failed", "url", a.cfg.MQTT.URL, "err", err, "retry_in", delay)
			if !serialport.Sleep(ctx, a.clock, delay) {
				return
			}
			continue
		}
		delay = 0
		a.stats.connects.Add(1)
		toks := a.birth(cn)
		a.link.set(cn) // the sender and acks start after the birth messages
		a.log.Info("connected to broker", "url", a.cfg.MQTT.URL)
		go a.awaitBirth(ctx, cn, toks)
		select {
		case <-cn.lost:
			a.setCtlReachable(false)
			a.link.set(nil)
		case <-ctx.Done():
			a.setCtlReachable(false)
			a.link.set(nil)
			a.shutdown(cn)
			return
		}
	}
}

func (a *Agent) connect(ctx context.Context) (*conn, error) {
	cn := &conn{lost: make(chan struct{}), ctlUp: make(chan struct{})}
	cn.c = mqtt.NewClient(a.clientOptions(cn))
	tok := cn.c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		go func() { <-tok.Done(); cn.c.Disconnect(0) }()
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return cn, nil
}

// birth queues the subscriptions, "online", the info, every device status
// and display report on a new connection, before anything else
// is published on it. With a persistent session the broker may deliver
// queued commands before the subscriptions are renewed; the default
// handler takes them.
func (a *Agent) birth(cn *conn) []mqtt.Token {
	// Subscribe first: the broker handles one client's packets in order, so
	// once anyone sees "online" the agent is already listening.
	toks := []mqtt.Token{cn.c.SubscribeMultiple(map[string]byte{
		wire.AgentCommandFilter(a.hall, a.id): 1,
		wire.AgentDesiredFilter(a.hall, a.id): 1,
		wire.CtlStatus(a.hall):                1,
	}, nil)}
	toks = append(toks, cn.c.Publish(wire.AgentStatus(a.hall, a.id), 1, true, wire.Online))
	toks = append(toks, cn.c.Publish(wire.AgentInfo(a.hall, a.id), 1, true, wire.Marshal(a.Info())))
	toks = append(toks, a.republishRetained(cn)...)
	return toks
}

// awaitBirth logs birth failures (a lost connection starts over).
func (a *Agent) awaitBirth(ctx context.Context, cn *conn, toks []mqtt.Token) {
	for _, t := range toks {
		select {
		case <-t.Done():
			if err := t.Error(); err != nil {
				a.log.Warn("birth", "err", err)
			}
		case <-cn.lost:
			return
		case <-ctx.Done():
			return
		}
	}
}

// onCtlOnline re-sends the info and flushes the outbox whenever the
// controller announces itself.
func (a *Agent) onCtlOnline(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.ctlOnline:
		}
		if err := a.publish(ctx, wire.AgentInfo(a.hall, a.id), true, wire.Marshal(a.Info()), 0); err != nil {
			a.log.Debug("re-send info", "err", err)
		}
		a.kickOutbox()
	}
}

// shutdown publishes the retained "offline" and disconnects cleanly.
func (a *Agent) shutdown(cn *conn) {
	t := cn.c.Publish(wire.AgentStatus(a.hall, a.id), 1, true, wire.Offline)
	select {
	case <-t.Done():
	case <-cn.lost:
	case <-time.After(2 * time.Second):
	}
	cn.c.Disconnect(250)
	a.log.Info("disconnected from broker")
}

// publish sends one QoS 1 message and waits for its PUBACK, waiting up to
// wait for a connection (0: fail at once when disconnected).
func (a *Agent) publish(ctx context.Context, topic string, retained bool, payload []byte, wait time.Duration) error {
	cn, err := a.link.wait(ctx, a.clock, wait)
	if err != nil {
		return err
	}
	t := cn.c.Publish(topic, 1, retained, payload)
	select {
	case <-t.Done():
		return t.Error()
	case <-cn.lost:
		return ErrNotConnected
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publishAsync sends without waiting, if connected.
func (a *Agent) publishAsync(topic string, retained bool, payload []byte) {
	if cn, _ := a.link.get(); cn != nil {
		cn.c.Publish(topic, 1, retained, payload)
	}
}

// isCtlOnline reports whether a message is the controller's "online".
func (a *Agent) isCtlOnline(topic string, payload []byte) bool {
	if topic != wire.CtlStatus(a.hall) {
		return false
	}
	s, err := wire.DecodeAvailability(payload)
	return err == nil && s == wire.Online
}

// onMessage routes every message the agent receives. It runs on paho's
// router goroutine, so it never blocks: work goes to queues.
func (a *Agent) onMessage(topic string, payload []byte) {
	t, err := wire.ParseTopic(topic, a.hall)
	if err != nil {
		a.malformed(wire.Reason(err), "topic", err)
		return
	}
	if t.Kind != wire.KindCtlStatus && t.Agent != a.id {
		a.malformed("other_agent", "topic", fmt.Errorf("%s is not for agent %s", topic, a.id))
		return
	}
	switch t.Kind {
	case wire.KindCtlStatus:
		s, err := wire.DecodeAvailability(payload)
		if err != nil {
			a.malformed(wire.Reason(err), "ctl/status", err)
			return
		}
		a.setCtlReachable(s == wire.Online)
		if s == wire.Online {
			select {
			case a.ctlOnline <- struct{}{}:
			default:
			}
		}
	case wire.KindCommand:
		a.onCommand(t, payload)
	case wire.KindDesired:
		a.onDesired(t, payload)
	default:
		a.malformed("unexpected_topic", "topic", fmt.Errorf("%s (%s) is not for the agent", topic, t.Kind))
	}
}

// sendOutbox publishes the outbox in order, one connection at a time,
// deleting events only after their PUBACK.
func (a *Agent) sendOutbox(ctx context.Context) {
	for {
		cn, err := a.link.wait(ctx, a.clock, -1)
		if err != nil {
			return
		}
		select {
		case <-cn.ctlUp:
		case <-cn.lost:
			continue
		case <-ctx.Done():
			return
		}
		a.drain(ctx, cn)
		if ctx.Err() != nil {
			return
		}
		// drain returns when the connection is lost or a publish failed;
		// avoid spinning on a connection that is failing but not yet lost.
		select {
		case <-cn.lost:
		case <-ctx.Done():
			return
		case <-a.clock.After(a.opts.ReconnectMin):
		}
	}
}

// window is how many events may await their PUBACK at once. They go out in
// order on one connection, so the broker forwards them in order.
const window = 32

func (a *Agent) drain(ctx context.Context, cn *conn) {
	type inflight struct {
		key int64
		tok mqtt.Token
	}
	for {
		batch, err := a.store.Peek(ctx, 0, window)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Error("outbox", "err", err)
			}
			return
		}
		if len(batch) == 0 {
			select {
			case <-a.kick:
				continue
			case <-cn.lost:
				return
			case <-ctx.Done():
				return
			}
		}
		fl := make([]inflight, 0, len(batch))
		for _, p := range batch {
			fl = append(fl, inflight{p.Key, cn.c.Publish(p.Topic, 1, false, p.Payload)})
		}
		var acked int64 = -1
		n := 0
		var failed error
	wait:
		for _, f := range fl {
			select {
			case <-f.tok.Done():
				if err := f.tok.Error(); err != nil {
					failed = err
					break wait
				}
				acked = f.key
				n++
			case <-cn.lost:
				failed = ErrNotConnected
				break wait
			case <-ctx.Done():
				failed = ctx.Err()
				break wait
			}
		}
		if acked >= 0 {
			// Keys rise with the outbox order: everything up to acked is out.
			if err := a.store.DeleteThrough(context.WithoutCancel(ctx), acked); err != nil {
				a.log.Error("outbox delete", "err", err)
				return
			}
			a.stats.eventsPublished.Add(uint64(n))
		}
		if failed != nil {
			if ctx.Err() == nil {
				a.log.Warn("outbox publish interrupted; will re-send from the head", "err", failed)
			}
			return
		}
	}
}
