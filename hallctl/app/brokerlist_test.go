package app

import (
	"context"
	"strings"
	"testing"
)

// server.broker_url / --broker-url take a cluster's nodes separated by
// commas; every entry is checked at start (paho would skip a bad one
// without a word), and a bad one names the key.
func TestBrokerURLListIsChecked(t *testing.T) {
	_, err := Start(context.Background(), Options{Config: testConfig(t), Logger: quietLogger(),
		BrokerURL: "tcp://127.0.0.1:1,http://127.0.0.1:2", Username: "u", Password: "p",
		HTTPAddr: "127.0.0.1:0", StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "--broker-url") || !strings.Contains(err.Error(), `scheme "http"`) {
		t.Fatalf("a bad second broker URL: %v", err)
	}
}
