// Package broker is hallctl's embedded MQTT broker: mochi-mqtt extended with
// hooks (not a fork) for the hall's authentication, topic ACL and rejection
// counters.
//
// With users configured, every client presents credentials; an agent's MQTT
// client id must equal its username (= agent id), and it may publish and
// subscribe only under hall/v1/<hall>/agent/<its id>/ (plus read
// hall/v1/<hall>/ctl/status). The controller user may use the whole hall root
// hall/v1/<hall>/. Nothing outside the root is open to anyone but the broker
// itself. For the demo, AllowAnonymousLoopback lets clients on 127.0.0.0/8
// and ::1 connect without credentials with the controller's reach, so
// mosquitto_sub and mosquitto_pub work out of the box on the hall's machine.
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
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/servicehall/servicehall/wire"
)

// DefaultAddr is where the broker listens when Options.Addr is empty.
const DefaultAddr = "127.0.0.1:1883"

// DefaultMaxPacketSize bounds MQTT packets. It is well above wire.MaxPayload
// so that oversize payloads still reach the controller, which rejects them
// with a reason and a counter; the broker only guards its memory.
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
	ReasonAuthFailed = "auth_failed" // bad or missing credentials, or client id ≠ username
	ReasonACLDenied  = "acl_denied"  // publish, subscribe or Last Will topic not allowed
)

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
}

// Options configure a Broker. Hall and some way in (Users or
// AllowAnonymousLoopback) are required.
type Options struct {
	// Addr is the TCP listen address. Default DefaultAddr; ":0" or
	// "127.0.0.1:0" picks a free port (see Broker.Addr).
	Addr string
	// TLS, when set, makes the listener TLS-only.
	TLS *tls.Config
	// Logger receives the broker's and mochi's lines. Default: discard.
	Logger *slog.Logger
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
	// without a password, with the whole hall root (demo mode). A loopback
	// client that does present a password must present a valid one.
	AllowAnonymousLoopback bool
	// MaxPacketSize bounds one MQTT packet. Default DefaultMaxPacketSize.
	MaxPacketSize uint32
}

// Stats are the broker's counters since Start.
type Stats struct {
	AuthFailed uint64 // connections refused for credentials or client id
	ACLDenied  uint64 // publishes, subscriptions and wills refused by the ACL
	Clients    int64  // clients connected now
}

// Broker is the embedded MQTT broker. Create it with New, then Start.
type Broker struct {
	opts  Options
	log   *slog.Logger
	users map[string]User
	acl   acl

	authFailed, aclDenied atomic.Uint64

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
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.MaxPacketSize == 0 {
		opts.MaxPacketSize = DefaultMaxPacketSize
	}
	var problems []error
	if err := wire.CheckID("hall", opts.Hall); err != nil {
		problems = append(problems, err)
	}
	users := make(map[string]User, len(opts.Users))
	for i, u := range opts.Users {
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
	if len(users) == 0 && !opts.AllowAnonymousLoopback {
		problems = append(problems, errors.New("no users and anonymous loopback off: nobody could connect"))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrConfig, errors.Join(problems...))
	}
	return &Broker{
		opts:  opts,
		log:   opts.Logger.With("component", "mqtt"),
		users: users,
		acl:   newACL(opts.Hall),
	}, nil
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
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = b.opts.MaxPacketSize
	srv := mqtt.New(&mqtt.Options{
		Logger:       slog.New(mochiHandler{b.log.Handler()}),
		Capabilities: caps,
	})
	if err := srv.AddHook(&hallHook{b: b}, nil); err != nil {
		return fmt.Errorf("mqtt: add hook: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: b.opts.Addr, TLSConfig: b.opts.TLS})
	if err := srv.AddListener(tcp); err != nil {
		srv.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("mqtt listen %s: %w", b.opts.Addr, ErrAddrInUse)
		}
		return fmt.Errorf("mqtt listen %s: %w", b.opts.Addr, err)
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return fmt.Errorf("mqtt serve: %w", err)
	}
	b.srv, b.addr, b.started = srv, tcp.Address(), true
	b.log.Info("mqtt broker listening", "addr", b.addr, "hall", b.opts.Hall,
		"users", len(b.users), "anonymous_loopback", b.opts.AllowAnonymousLoopback)
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
	}
	return nil
}

// Stats returns the counters.
func (b *Broker) Stats() Stats {
	s := Stats{AuthFailed: b.authFailed.Load(), ACLDenied: b.aclDenied.Load()}
	b.mu.Lock()
	srv := b.srv
	b.mu.Unlock()
	if srv != nil {
		s.Clients = atomic.LoadInt64(&srv.Info.ClientsConnected)
	}
	return s
}

// authenticate decides who a connecting client is. It returns the role and
// a reason for refusal (empty when admitted).
func (b *Broker) authenticate(clientID, username string, password []byte, hasPassword bool, remote string) (role, string) {
	if !hasPassword {
		if b.opts.AllowAnonymousLoopback && isLoopback(remote) {
			return roleLoopback, ""
		}
		return 0, "no credentials"
	}
	u, ok := b.users[username]
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
