// Package natstest starts private NATS server clusters for tests: n
// nats-server processes (Debian's nats-server, v2.9 here) on free loopback
// ports, routed to each other, each with JetStream (its own store
// directory) and an MQTT 3.1.1 listener. NATS serves MQTT only with
// JetStream on and a server_name; its MQTT sessions, retained messages and
// QoS 1 queues live in JetStream streams replicated across the nodes.
//
// Tests never touch the machine's own servers: every port is free-picked
// and every file is under the directory the caller gives.
package natstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Node is one nats-server of a Cluster.
type Node struct {
	Name string
	// MQTTURL is tcp://127.0.0.1:port of the node's MQTT listener.
	MQTTURL string
	conf    string
	cmd     *exec.Cmd
	out     *lockedBuffer
	done    chan struct{}
	mu      sync.Mutex
}

// Cluster is a running set of nodes.
type Cluster struct {
	Nodes []*Node
	bin   string
	ctx   context.Context
}

// Binary is the path of the nats-server executable.
func Binary() (string, error) {
	if bin, err := exec.LookPath("nats-server"); err == nil {
		return bin, nil
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server", nil
	}
	if _, err := os.Stat("/usr/bin/nats-server"); err == nil {
		return "/usr/bin/nats-server", nil
	}
	return "", errors.New("nats-server not installed (apt-get install nats-server)")
}

// Start runs an n-node cluster with its files under dir and waits until
// every node accepts an MQTT session (JetStream has a leader and the MQTT
// streams exist), at most 60 s.
func Start(ctx context.Context, dir string, n int) (*Cluster, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3 * n)
	if err != nil {
		return nil, err
	}
	var routes []string
	for i := 0; i < n; i++ {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3*i+1]))
	}
	replicas := n
	if replicas > 3 {
		replicas = 3
	}
	c := &Cluster{bin: bin, ctx: ctx}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("n%d", i+1)
		nd := filepath.Join(dir, name)
		if err := os.MkdirAll(nd, 0o700); err != nil {
			return nil, err
		}
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
jetstream { store_dir: %q, max_memory_store: 64MB, max_file_store: 512MB }
cluster {
  name: servicehall-test
  listen: 127.0.0.1:%d
  routes: [%s]
}
mqtt { host: 127.0.0.1, port: %d, stream_replicas: %d }
`, name, ports[3*i], filepath.Join(nd, "js"), ports[3*i+1], strings.Join(routes, ", "), ports[3*i+2], replicas)
		path := filepath.Join(nd, "nats.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, &Node{Name: name, MQTTURL: "tcp://127.0.0.1:" + strconv.Itoa(ports[3*i+2]), conf: path})
	}
	for _, nd := range c.Nodes {
		if err := c.start(ctx, nd); err != nil {
			c.Stop()
			return nil, err
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, nd := range c.Nodes {
		if err := nd.waitMQTT(deadline); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, nd *Node) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	nd.out, nd.done = &lockedBuffer{}, make(chan struct{})
	nd.cmd = exec.CommandContext(ctx, c.bin, "-c", nd.conf)
	nd.cmd.Stdout, nd.cmd.Stderr = nd.out, nd.out
	if err := nd.cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server %s: %w", nd.Name, err)
	}
	done := nd.done
	cmd := nd.cmd
	go func() { _ = cmd.Wait(); close(done) }()
	return nil
}

// waitMQTT polls the node (an external process) until an MQTT client with
// a persistent session can connect and subscribe at QoS 1 there.
func (nd *Node) waitMQTT(deadline time.Time) error {
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-nd.done:
			return fmt.Errorf("nats-server %s exited: %s", nd.Name, nd.Log())
		default:
		}
		if last = probe(nd.MQTTURL, "natstest-probe-"+nd.Name); last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond) // polling an external process
	}
	return fmt.Errorf("nats-server %s: MQTT not ready: %v\n%s", nd.Name, last, nd.Log())
}

func probe(url, id string) error {
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(false).
		SetAutoReconnect(false).SetConnectTimeout(2 * time.Second))
	tok := cl.Connect()
	if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect: %v", tok.Error())
	}
	defer cl.Disconnect(0)
	st := cl.Subscribe("natstest/probe", 1, func(mqtt.Client, mqtt.Message) {})
	if !st.WaitTimeout(5*time.Second) || st.Error() != nil {
		return fmt.Errorf("subscribe: %v", st.Error())
	}
	if r := st.(*mqtt.SubscribeToken).Result()["natstest/probe"]; r != 1 {
		return fmt.Errorf("subscribe refused (SUBACK %#x)", r)
	}
	return nil
}

// URLs is the nodes' MQTT URLs separated by commas, in the order of the
// given node indexes (all nodes in order when none are given): the list
// hallctl's --broker-url and the agent's mqtt.url take.
func (c *Cluster) URLs(order ...int) string {
	if len(order) == 0 {
		for i := range c.Nodes {
			order = append(order, i)
		}
	}
	var us []string
	for _, i := range order {
		us = append(us, c.Nodes[i].MQTTURL)
	}
	return strings.Join(us, ",")
}

// Kill sends SIGKILL to node i (no clean shutdown, like a machine dying)
// and waits for the process to end.
func (c *Cluster) Kill(i int) {
	nd := c.Nodes[i]
	nd.mu.Lock()
	cmd, done := nd.cmd, nd.done
	nd.mu.Unlock()
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts node i again (after Kill) with its old JetStream
// directory and waits until it serves MQTT sessions again.
func (c *Cluster) Restart(i int) error {
	nd := c.Nodes[i]
	if err := c.start(c.ctx, nd); err != nil {
		return err
	}
	return nd.waitMQTT(time.Now().Add(60 * time.Second))
}

// Stop kills every node that still runs.
func (c *Cluster) Stop() {
	for _, nd := range c.Nodes {
		nd.mu.Lock()
		cmd, done := nd.cmd, nd.done
		nd.mu.Unlock()
		if cmd != nil && cmd.Process != nil {
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

// Log is what the node has written so far.
func (nd *Node) Log() string {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.out == nil {
		return ""
	}
	return nd.out.String()
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ps []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ps = append(ps, l.Addr().(*net.TCPAddr).Port)
	}
	return ps, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
