// Package mosquitto starts private Mosquitto brokers for tests and
// benchmarks: Start runs one on a free loopback port with anonymous access,
// no persistence, and set_tcp_nodelay (without it Mosquitto adds ~44 ms to
// every round trip); StartConfig runs one from a given mosquitto.conf (the
// one hallctl mosquitto-config writes) and can make it reload (SIGHUP).
package mosquitto

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Start runs a private Mosquitto on a free loopback port with
// set_tcp_nodelay (without it Mosquitto adds ~44 ms per round trip).
func Start(ctx context.Context, dir string) (url string, stop func(), err error) {
	bin, err := Binary()
	if err != nil {
		return "", nil, err
	}
	port, err := FreePort()
	if err != nil {
		return "", nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	body := "listener " + strconv.Itoa(port) + " 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\nmax_queued_messages 100000\nmax_inflight_messages 0\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start mosquitto: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return "", nil, fmt.Errorf("mosquitto did not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond) // waiting on an external process
	}
	return "tcp://" + addr, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
}

// Binary is the path of the mosquitto executable.
func Binary() (string, error) {
	bin, err := exec.LookPath("mosquitto")
	if err == nil {
		return bin, nil
	}
	if _, e := os.Stat("/usr/sbin/mosquitto"); e == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", fmt.Errorf("mosquitto not installed (apt-get install mosquitto): %w", err)
}

// FreePort returns a TCP port free on loopback now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
