package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/enrol"
)

// prodConfig is testHall without server.demo: every client needs a password.
func prodConfig(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte(strings.Replace(testHall, "server: {demo: true}", "server: {demo: false}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// agentClient connects as an agent (client id = username); lost receives
// when the broker drops it.
func agentClient(t *testing.T, url, id, pass string) (c mqtt.Client, lost chan error, err error) {
	t.Helper()
	lost = make(chan error, 1)
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(id).SetPassword(pass).SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).SetCleanSession(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	c = mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("connect: no answer")
	}
	return c, lost, tok.Error()
}

func waitLost(t *testing.T, lost chan error, advance func()) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if advance != nil {
			advance()
		}
		select {
		case <-lost:
			return
		case <-deadline:
			t.Fatal("the revoked agent's session was not ended")
		case <-time.After(20 * time.Millisecond): // polls the fake clock only
		}
	}
}

// An agent enrolled with hallctl agent add is admitted by the embedded
// broker and has its grants in the controller; revoked, its live session
// ends and it cannot come back; a re-issued password replaces the old one.
func TestEnrolledAgentEmbeddedBroker(t *testing.T) {
	dir := t.TempDir()
	cfg := prodConfig(t)
	now := time.Now()
	if _, _, err := enrol.Add(dir, cfg, enrol.Grant{ID: "board-7", Zones: []string{"east"}}, now); err != nil {
		t.Fatal(err)
	}
	_, pw7, _ := enrol.Add(dir, cfg, enrol.Grant{ID: "board-7", Zones: []string{"east"}, Force: true}, now)
	_, pw8, err := enrol.Add(dir, cfg, enrol.Grant{ID: "board-8", Windows: []int{2}}, now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := clockwork.NewFakeClock()
	a, err := Start(ctx, Options{Config: cfg, Logger: quietLogger(), Clock: clock, MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	url := "tcp://" + a.MQTTAddr()
	if g, ok := a.Controller.Config().Enrolled("board-7"); !ok || !g.MayZone("east") {
		t.Fatalf("the controller lacks board-7's grants: %+v", a.Controller.Config().Agents)
	}
	if _, ok := cfg.Enrolled("board-7"); ok {
		t.Fatal("Start changed the caller's config")
	}

	if _, _, err := agentClient(t, url, "board-7", pw7+"x"); err == nil {
		t.Fatal("a wrong password was admitted")
	}
	c7, lost7, err := agentClient(t, url, "board-7", pw7)
	if err != nil {
		t.Fatalf("board-7: %v", err)
	}
	defer c7.Disconnect(0)
	c8, lost8, err := agentClient(t, url, "board-8", pw8)
	if err != nil {
		t.Fatalf("board-8: %v", err)
	}
	defer c8.Disconnect(0)

	// Revoke board-7: the watcher sees the file change on its clock.
	if err := enrol.Revoke(dir, cfg, "board-7", now); err != nil {
		t.Fatal(err)
	}
	waitLost(t, lost7, func() { clock.Advance(EnrolmentPoll) })
	if _, _, err := agentClient(t, url, "board-7", pw7); err == nil {
		t.Fatal("a revoked agent reconnected")
	}
	select {
	case err := <-lost8:
		t.Fatalf("board-8 was dropped too: %v", err)
	default:
	}

	// Re-issue board-8's password: the old one is refused at once.
	_, pw8b, err := enrol.Add(dir, cfg, enrol.Grant{ID: "board-8", Windows: []int{2}, Force: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ReloadEnrolments(); err != nil {
		t.Fatal(err)
	}
	waitLost(t, lost8, nil)
	if _, _, err := agentClient(t, url, "board-8", pw8); err == nil {
		t.Fatal("the old password still works")
	}
	c8b, _, err := agentClient(t, url, "board-8", pw8b)
	if err != nil {
		t.Fatalf("the new password: %v", err)
	}
	c8b.Disconnect(0)
}

// The same agent in the config and in the enrolment file with other
// grants, or with two passwords, refuses to start.
func TestEnrolmentConflictRefusesStart(t *testing.T) {
	dir := t.TempDir()
	base := prodConfig(t)
	if _, _, err := enrol.Add(dir, base, enrol.Grant{ID: "board-7", Zones: []string{"east"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	grants := prodConfig(t)
	grants.Agents = append(grants.Agents, config.Agent{ID: "board-7", Windows: []int{1}})
	users := prodConfig(t)
	users.Server.Users = []config.User{{Username: "board-7", PasswordHash: "$2a$10$x"}}
	for name, cfg := range map[string]*config.Config{"grants": grants, "users": users} {
		a, err := Start(context.Background(), Options{Config: cfg, Logger: quietLogger(), MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: dir})
		if err == nil {
			a.Close()
			t.Fatalf("%s: started", name)
		}
		if !errors.Is(err, enrol.ErrConflict) || !strings.Contains(err.Error(), "board-7") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
