package app

import (
	"context"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/servicehall/servicehall/hallctl/config"
)

// Finding "production config refuses anonymous clients everywhere but the
// demo" (issue 10, item 6): a hall with no server.users used to let any
// loopback client in without credentials, with the controller's reach.
// Now only server.demo does; without it an anonymous connect is refused.
func TestEmbeddedBrokerAnonymousOnlyInDemo(t *testing.T) {
	for _, demo := range []bool{false, true} {
		yaml := strings.Replace(testHall, "server: {demo: true}", "server: {demo: "+map[bool]string{false: "false", true: "true"}[demo]+"}", 1)
		cfg, err := config.Parse("test.yaml", []byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		a, err := Start(ctx, Options{Config: cfg, Logger: quietLogger(), MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", StateDir: t.TempDir()})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + a.MQTTAddr()).SetClientID("mosquitto-sub").SetProtocolVersion(4).
			SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second))
		tok := c.Connect()
		if !tok.WaitTimeout(5 * time.Second) {
			t.Fatal("connect: no answer")
		}
		if got := tok.Error() == nil; got != demo {
			t.Errorf("demo=%v: anonymous loopback client admitted=%v (%v)", demo, got, tok.Error())
		}
		if !demo && a.Broker.Stats().AuthFailed != 1 {
			t.Errorf("refusal not counted: %+v", a.Broker.Stats())
		}
		c.Disconnect(0)
		cancel()
		a.Close()
	}
}
