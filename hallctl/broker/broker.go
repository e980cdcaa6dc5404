// Package broker is hallctl's embedded MQTT broker: mochi-mqtt extended with
// hooks (not a fork) for the hall's authentication, topic ACL, resource
// limits and rejection counters.
//
// Every client presents credentials; an agent's MQTT client id must equal
// its username (= agent id), and it may publish and subscribe only under
// hall/v1/<hall>/agent/<its id>/ (plus read hall/v1/<hall>/ctl/status). The
// controller user may use the whole hall root hall/v1/<hall>/. Nothing
// outside the root is open to anyone but the broker itself. Only the demo
// hall (server.demo) sets AllowAnonymousLoopback, which lets clients on
// 127.0.0.0/8 and ::1 connect without credentials with the controller's
// reach, so mosquitto_sub and mosquitto_pub work out of the box there.
//
// Limits (Options.Limits, from the hall config's limits: section) bound
// what one client can take: failed logins per address, connected clients,
// packet size, messages in flight and queued to a client, topics and
// retained bytes per agent. A client over a limit is refused or
// disconnected and counted by reason; everyone else is served (see
// docs/mqtt.md).
//
// The broker keeps nothing on disk: the agents' outboxes and the
// controller's event log are the durable parts (see NOTES.md).
package broker

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/servicehall/servicehall/internal/keyrate"
	"github.com/servicehall/servicehall/internal/lograte"
	"github.com/servicehall/servicehall/wire"
)

// DefaultAddr is where the broker listens when Options.Addr is empty.
const DefaultAddr = "127.0.0.1:1883"

// DefaultMaxPacketSize bounds MQTT packets when Options.MaxPacketSize is
// zero. It is well above wire.MaxPayload so that oversize payloads still
// reach the controller, which rejects them with a reason and a counter; the
// broker only guards its memory.
const DefaultMaxPacketSize = 256 << 10

// Sentinel errors.
var (
	// ErrAddrInUse: the listen address is taken. The caller names the
	// setting that changes it (MQTT_ADDR).
	ErrAddrInUse = errors.New("address already in use")
	// ErrConfig: the options are not usable; the message says why.
	ErrConfig = errors.New("bad broker options")
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("broker already started")
	// ErrClosed: the broker has been closed.
	ErrClosed = errors.New("broker closed")
)

// Rejection reasons, the "reason" label of the rejection counter.
const (
	ReasonAuthFailed       = "auth_failed"        // bad or missing credentials, or client id ≠ username
	ReasonAuthThrottled    = "auth_throttled"     // too many failed logins from the address: refused unchecked
	ReasonACLDenied        = "acl_denied"         // publish, subscribe or Last Will topic not allowed
	ReasonTooManyClients   = "too_many_clients"   // Limits.Clients reached
	ReasonPacketTooLarge   = "packet_too_large"   // a packet over MaxPacketSize: disconnected
	ReasonSlowConsumer     = "slow_consumer"      // a client that does not read its messages: disconnected
	ReasonTopicLimit       = "topic_limit"        // an agent's distinct topics over Limits.TopicsPerAgent
	ReasonRetainedLimit    = "retained_limit"     // an agent's retained bytes over Limits.RetainedBytesPerAgent
	ReasonRetainNotAllowed = "retain_not_allowed" // retained on a topic kind the contract never retains
	ReasonPublishRate      = "publish_rate"       // an agent publishing faster than Limits.PublishesPerS: disconnected
)

// reasons lists every rejection reason, in the counters' order.
var reasons = [...]string{
	ReasonAuthFailed, ReasonAuthThrottled, ReasonACLDenied, ReasonTooManyClients, ReasonPacketTooLarge,
	ReasonSlowConsumer, ReasonTopicLimit, ReasonRetainedLimit, ReasonRetainNotAllowed, ReasonPublishRate,
}

// User is one MQTT account.
type User struct {
	// Username is the agent id for agents (the client id must equal it),
	// e.g. "hallctl-<hall>" for the controller.
	Username string
	// Password, when set, is compared in constant time: for secrets that
	// never leave the process, such as a random one hallctl makes at start
	// for its own connection to the embedded broker.
	Password string
	// PasswordHash is checked by Options.VerifyHash (bcrypt) when Password
	// is empty.
	PasswordHash []byte
	// Controller grants the whole hall root instead of one agent's subtree.
	Controller bool
	// NoClientCert exempts the user from Options.RequireClientCert: for
	// hallctl's own in-process connection, whose secret never leaves the
	// process.
	NoClientCert bool
}

// Limits bound what one client can take from the broker. A zero field
// takes its value from DefaultLimits (the hall config's limits: defaults).
type Limits struct {
	// Clients is how many clients may be connected at once; one more is
	// refused (CONNACK "server unavailable").
	Clients int
	// Inflight bounds the QoS 1 messages sent to an agent and not yet
	// acknowledged while it is connected (over it: a slow consumer), and
	// the QoS 2 messages a client may have unacknowledged towards the
	// broker. The controller and the demo's anonymous clients are exempt
	// (mochi's own bound of 8,192 holds).
	Inflight int
	// WritesPending bounds the packets queued for one client; an agent
	// whose queue is full is a slow consumer and is disconnected (for the
	// controller and demo clients the message is dropped and counted).
	WritesPending int
	// TopicsPerAgent bounds the distinct topics one agent publishes to;
	// RetainedBytesPerAgent the payload bytes it keeps retained. Over
	// either: the publish is dropped and the client disconnected. The
	// controller and the demo's anonymous clients are not budgeted.
	TopicsPerAgent        int
	RetainedBytesPerAgent int
	// AuthFailuresPerMin is each client address's budget of failed logins
	// a minute (and the burst); over it, its connects are refused without
	// checking the password until the budget refills.
	AuthFailuresPerMin int
	// PublishesPerS is each agent's rate of publishes (PublishBurst at
	// once); a flooding agent is disconnected rather than left to take the
	// controller's time (a board sends a few messages a second). The
	// controller and the demo's anonymous clients are not limited.
	PublishesPerS int
	PublishBurst  int
	// WriteTimeout bounds one write to a client: a client that reads
	// nothing for that long is a slow consumer and is disconnected.
	WriteTimeout time.Duration
	// ConnectTimeout bounds the wait for a new connection's CONNECT
	// packet.
	ConnectTimeout time.Duration
}

// DefaultLimits are the limits for fields left zero; they match the hall
// config's defaults (config.DefaultLimits).
var DefaultLimits = Limits{
	Clients:               512,
	Inflight:              64,
	WritesPending:         1024,
	TopicsPerAgent:        256,
	RetainedBytesPerAgent: 1 << 20,
	AuthFailuresPerMin:    10,
	PublishesPerS:         100,
	PublishBurst:          1000,
	WriteTimeout:          30 * time.Second,
	ConnectTimeout:        10 * time.Second,
}

func (l *Limits) applyDefaults() {
	d := DefaultLimits
	fill := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&l.Clients, d.Clients)
	fill(&l.Inflight, d.Inflight)
	fill(&l.WritesPending, d.WritesPending)
	fill(&l.TopicsPerAgent, d.TopicsPerAgent)
	fill(&l.RetainedBytesPerAgent, d.RetainedBytesPerAgent)
	fill(&l.AuthFailuresPerMin, d.AuthFailuresPerMin)
	fill(&l.PublishesPerS, d.PublishesPerS)
	fill(&l.PublishBurst, d.PublishBurst)
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.ConnectTimeout <= 0 {
		l.ConnectTimeout = d.ConnectTimeout
	}
	l.Inflight = min(l.Inflight, math.MaxUint16)
	l.WritesPending = min(l.WritesPending, math.MaxInt32)
}

// Options configure a Broker. Hall and some way in (Users or
// AllowAnonymousLoopback) are required.
type Options struct {
	// Addr is the TCP listen address. Default DefaultAddr; ":0" or
	// "127.0.0.1:0" picks a free port (see Broker.Addr).
	Addr string
	// Listener, when set, is accepted on instead of listening on Addr
	// (tests inject failing listeners); the broker closes it.
	Listener net.Listener
	// TLS, when set, makes the listener TLS-only.
	TLS *tls.Config
	// RequireClientCert refuses every client, unless its User says
	// NoClientCert, that has not presented a TLS client certificate whose
	// CN equals its username (the certificate itself is verified by the
	// TLS layer against TLS.ClientCAs, which must be set, with ClientAuth
	// tls.VerifyClientCertIfGiven or stricter). Refusals count as
	// auth_failed.
	RequireClientCert bool
	// Logger receives the broker's and mochi's lines, rate limited (see
	// LogLinesPerS). Default: discard.
	Logger *slog.Logger
	// LogLinesPerS and LogBurst bound the broker's log output; suppressed
	// lines are counted and summarised. Default 20 and 100.
	LogLinesPerS, LogBurst int
	// Clock times the login throttle and the log limiter. Default: the
	// real clock.
	Clock clockwork.Clock
	// Hall is the hall id; the ACL covers hall/v1/<Hall>/.
	Hall string
	// Users are the accounts and their roles.
	Users []User
	// Check, when set, verifies every user's password instead of
	// User.Password and User.PasswordHash (an external store, tests); it is
	// only asked about configured Users.
	Check func(username, password string) bool
	// VerifyHash checks a password against User.PasswordHash; its
	// signature is bcrypt.CompareHashAndPassword's. Required when a user
	// has only a PasswordHash and Check is nil.
	VerifyHash func(hash, password []byte) error
	// AllowAnonymousLoopback lets clients from 127.0.0.0/8 and ::1 connect
	// without a password, with the whole hall root. Only the demo hall
	// (server.demo) sets it. A loopback client that does present a
	// password must present a valid one.
	AllowAnonymousLoopback bool
	// MaxPacketSize bounds one MQTT packet; a bigger one disconnects its
	// sender. Default DefaultMaxPacketSize.
	MaxPacketSize uint32
	// Limits bound each client; zero fields take DefaultLimits.
	Limits Limits
}

// Stats are the broker's counters since Start.
type Stats struct {
	AuthFailed uint64 // connections refused for credentials or client id
	ACLDenied  uint64 // publishes, subscriptions and wills refused by the ACL
	// Rejected counts every refusal and disconnect by reason (the
	// Reason… constants), AuthFailed and ACLDenied included.
	Rejected map[string]uint64
	// AcceptErrors counts failed accepts (file descriptors exhausted, …);
	// the listener retries with a back-off and keeps serving.
	AcceptErrors uint64
	// LogSuppressed counts log lines dropped by the log limiter.
	LogSuppressed uint64
	Clients       int64 // clients connected now
}

// Broker is the embedded MQTT broker. Create it with New, then Start.
type Broker struct {
	opts Options
	log  *slog.Logger
	// logLimit bounds the broker's log lines (its own and mochi's), so
	// no client floods the log; dropped lines are counted and summarised.
	logLimit *lograte.Handler
	clock    clockwork.Clock
	// users are the accounts; SetUsers replaces them while running.
	users    atomic.Pointer[map[string]User]
	hook     *hallHook // set by Start
	acl      acl
	throttle *authThrottle
	budget   *budgets
	pubRate  *keyrate.Set // per agent: Limits.PublishesPerS

	rejected     [len(reasons)]atomic.Uint64
	acceptErrors atomic.Uint64

	mu       sync.Mutex
	srv      *mqtt.Server
	addr     string
	started  bool
	closed   bool
	stopOnce sync.Once
}

// New checks opts and builds a broker; it does not listen yet.
func New(opts Options) (*Broker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.MaxPacketSize == 0 {
		opts.MaxPacketSize = DefaultMaxPacketSize
	}
	if opts.LogLinesPerS <= 0 {
		opts.LogLinesPerS = 20
	}
	if opts.LogBurst <= 0 {
		opts.LogBurst = 100
	}
	opts.Limits.applyDefaults()
	var problems []error
	if err := wire.CheckID("hall", opts.Hall); err != nil {
		problems = append(problems, err)
	}
	users, uproblems := checkUsers(opts, opts.Users)
	problems = append(problems, uproblems...)
	if opts.RequireClientCert && (opts.TLS == nil || opts.TLS.ClientCAs == nil || opts.TLS.ClientAuth < tls.VerifyClientCertIfGiven) {
		problems = append(problems, errors.New("RequireClientCert needs TLS with ClientCAs and ClientAuth VerifyClientCertIfGiven or stricter"))
	}
	if len(users) == 0 && !opts.AllowAnonymousLoopback {
		problems = append(problems, errors.New("no users and anonymous loopback off: nobody could connect"))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrConfig, errors.Join(problems...))
	}
	b := &Broker{
		opts:     opts,
		clock:    opts.Clock,
		acl:      newACL(opts.Hall),
		throttle: newAuthThrottle(opts.Limits.AuthFailuresPerMin),
		budget:   newBudgets(opts.Hall, opts.Limits.TopicsPerAgent, opts.Limits.RetainedBytesPerAgent),
		pubRate:  keyrate.New(opts.Limits.PublishesPerS*60, opts.Limits.PublishBurst, max(len(users), 1)*2+64),
	}
	b.users.Store(&users)
	b.logLimit = lograte.New(opts.Logger.Handler(), lograte.Options{PerSecond: opts.LogLinesPerS, Burst: opts.LogBurst,
		Interval: time.Second, Clock: opts.Clock, Message: "mqtt log lines suppressed"})
	b.log = slog.New(b.logLimit).With("component", "mqtt")
	return b, nil
}

// checkUsers indexes users by name and lists what is wrong with them.
func checkUsers(opts Options, list []User) (map[string]User, []error) {
	var problems []error
	users := make(map[string]User, len(list))
	for i, u := range list {
		if err := wire.CheckID("username", u.Username); err != nil {
			problems = append(problems, fmt.Errorf("user %d: %w", i, err))
			continue
		}
		if _, dup := users[u.Username]; dup {
			problems = append(problems, fmt.Errorf("user %q listed twice", u.Username))
		}
		if opts.Check == nil {
			switch {
			case u.Password == "" && len(u.PasswordHash) == 0:
				problems = append(problems, fmt.Errorf("user %q has no password, no password hash, and no Check is set", u.Username))
			case u.Password == "" && opts.VerifyHash == nil:
				problems = append(problems, fmt.Errorf("user %q has a password hash but VerifyHash (bcrypt) is not set", u.Username))
			}
		}
		users[u.Username] = u
	}
	return users, problems
}

// Start listens on Options.Addr and serves in the background until Close.
// ctx bounds only the start itself. A taken address gives an error wrapping
// ErrAddrInUse.
func (b *Broker) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return ErrClosed
	case b.started:
		return ErrStarted
	}
	lim := b.opts.Limits
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = b.opts.MaxPacketSize
	// Limits.Clients is applied by the hook (OnConnect), which counts it.
	caps.MaximumClientWritesPending = int32(lim.WritesPending)
	caps.ReceiveMaximum = uint16(lim.Inflight)
	// mochi's per-client store of unacknowledged messages stays at its
	// default (8,192) for the controller; agents are held to
	// Limits.Inflight by the hook.
	caps.MaximumInflight = max(caps.MaximumInflight, uint16(lim.Inflight))
	// Messages for an offline persistent session expire after a day, and
	// so does the session.
	caps.MaximumMessageExpiryInterval = 24 * 60 * 60
	caps.MaximumSessionExpiryInterval = 24 * 60 * 60
	caps.TopicAliasMaximum = 0
	srv := mqtt.New(&mqtt.Options{
		Logger:       slog.New(mochiHandler{b.log.Handler()}),
		Capabilities: caps,
	})
	b.hook = &hallHook{b: b}
	if err := srv.AddHook(b.hook, nil); err != nil {
		return fmt.Errorf("mqtt: add hook: %w", err)
	}
	ln := b.opts.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", b.opts.Addr)
		if err != nil {
			srv.Close()
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("mqtt listen %s: %w", b.opts.Addr, ErrAddrInUse)
			}
			return fmt.Errorf("mqtt listen %s: %w", b.opts.Addr, err)
		}
	}
	if b.opts.TLS != nil {
		ln = tls.NewListener(ln, b.opts.TLS)
	}
	tcp := newListener("tcp", ln, b)
	if err := srv.AddListener(tcp); err != nil {
		srv.Close()
		ln.Close()
		return fmt.Errorf("mqtt listen %s: %w", b.opts.Addr, err)
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return fmt.Errorf("mqtt serve: %w", err)
	}
	b.srv, b.addr, b.started = srv, tcp.Address(), true
	b.log.Info("mqtt broker listening", "addr", b.addr, "hall", b.opts.Hall,
		"users", len(*b.users.Load()), "anonymous_loopback", b.opts.AllowAnonymousLoopback)
	return nil
}

// Run starts the broker, serves until ctx ends, then closes it. An ended
// ctx is a clean stop, not an error.
func (b *Broker) Run(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	if err := b.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return b.Close()
}

// Addr is the address the broker listens on (the real port when Addr
// asked for ":0"), or the configured address before Start.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.addr != "" {
		return b.addr
	}
	return b.opts.Addr
}

// Close disconnects every client and stops listening. Clients' Last Wills
// are not sent for a broker shutdown. Safe to call more than once, and
// before Start.
func (b *Broker) Close() error {
	b.mu.Lock()
	b.closed = true
	srv := b.srv
	b.mu.Unlock()
	if srv != nil {
		b.stopOnce.Do(func() { srv.Close() })
	} else if b.opts.Listener != nil {
		b.opts.Listener.Close()
	}
	return nil
}

// Stats returns the counters.
func (b *Broker) Stats() Stats {
	s := Stats{
		Rejected:      make(map[string]uint64, len(reasons)),
		AcceptErrors:  b.acceptErrors.Load(),
		LogSuppressed: b.logLimit.Total(),
	}
	for i, r := range reasons {
		s.Rejected[r] = b.rejected[i].Load()
	}
	s.AuthFailed, s.ACLDenied = s.Rejected[ReasonAuthFailed], s.Rejected[ReasonACLDenied]
	b.mu.Lock()
	srv := b.srv
	b.mu.Unlock()
	if srv != nil {
		s.Clients = atomic.LoadInt64(&srv.Info.ClientsConnected)
	}
	return s
}

// reject counts one refusal for reason.
func (b *Broker) reject(reason string) {
	for i, r := range reasons {
		if r == reason {
			b.rejected[i].Add(1)
			return
		}
	}
	panic("broker: unknown rejection reason " + reason)
}

// authenticate decides who a connecting client is. It returns the role and
// a reason for refusal (empty when admitted) and counts the refusal: an
// address over its budget of failed logins is refused before its password
// is looked at (bcrypt is itself costly), and every failure spends budget.
func (b *Broker) authenticate(clientID, username string, password []byte, hasPassword bool, remote string) (role, string) {
	now := b.clock.Now()
	host := remoteHost(remote)
	if !b.throttle.allowed(host, now) {
		b.reject(ReasonAuthThrottled)
		return 0, "too many failed logins from this address"
	}
	r, why := b.check(clientID, username, password, hasPassword, remote)
	if why != "" {
		b.reject(ReasonAuthFailed)
		b.throttle.failed(host, now)
	}
	return r, why
}

func (b *Broker) check(clientID, username string, password []byte, hasPassword bool, remote string) (role, string) {
	if !hasPassword {
		if b.opts.AllowAnonymousLoopback && isLoopback(remote) {
			return roleLoopback, ""
		}
		return 0, "no credentials"
	}
	u, ok := (*b.users.Load())[username]
	if !ok {
		return 0, "unknown user"
	}
	if !b.checkPassword(u, password) {
		return 0, "wrong password"
	}
	if u.Controller {
		return roleController, ""
	}
	if clientID != username {
		return 0, "client id differs from username"
	}
	return roleAgent, ""
}

// refuseCert is authenticate's second step with Options.RequireClientCert:
// the reason to refuse an otherwise admitted client whose TLS client
// certificate is missing or names someone else ("" to admit), counted
// like a failed login.
func (b *Broker) refuseCert(username string, conn net.Conn, remote string) string {
	if !b.opts.RequireClientCert || (*b.users.Load())[username].NoClientCert && username != "" {
		return ""
	}
	why := ""
	switch cn, ok := peerCN(conn); {
	case !ok:
		why = "no client certificate"
	case cn != username:
		why = "client certificate CN differs from username"
	default:
		return ""
	}
	b.reject(ReasonAuthFailed)
	b.throttle.failed(remoteHost(remote), b.clock.Now())
	return why
}

// peerCN is the CN of the verified client certificate on a TLS connection
// (through the listener's guardedConn).
func peerCN(conn net.Conn) (string, bool) {
	if gc, ok := conn.(*guardedConn); ok {
		conn = gc.Conn
	}
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return "", false
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 || len(st.VerifiedChains) == 0 {
		return "", false
	}
	return st.PeerCertificates[0].Subject.CommonName, true
}

func (b *Broker) checkPassword(u User, password []byte) bool {
	if b.opts.Check != nil {
		return b.opts.Check(u.Username, string(password))
	}
	if u.Password != "" {
		return subtle.ConstantTimeCompare([]byte(u.Password), password) == 1
	}
	if len(u.PasswordHash) == 0 || b.opts.VerifyHash == nil {
		return false
	}
	return b.opts.VerifyHash(u.PasswordHash, password) == nil
}

// remoteHost is the address part of a "host:port" remote address (the
// whole string when it has no port).
func remoteHost(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().String()
	}
	return host
}

// isLoopback reports whether a "host:port" remote address is on loopback.
func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}

// PlainCheck returns a Check function comparing against plaintext secrets
// in constant time (for tests and the interim before bcrypt hashes).
func PlainCheck(secrets map[string]string) func(username, password string) bool {
	return func(username, password string) bool {
		want, ok := secrets[username]
		if !ok {
			return false
		}
		return subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1
	}
}
