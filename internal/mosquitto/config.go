package mosquitto

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is a Mosquitto started by StartConfig.
type Server struct {
	// URL is tcp://host:port of the config's listener.
	URL  string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// StartConfig runs Mosquitto with the config file conf (which must have a
// "listener PORT HOST" line; its host is dialled) and waits until it
// listens. Mosquitto started as root drops to its own user (`user`,
// default mosquitto) before it reads password and ACL files and writes
// persistence: those must be reachable by that user. Its log (stderr, the
// default log_dest) is kept for Log and Reload.
func StartConfig(ctx context.Context, conf string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	addr, err := listenerAddr(conf)
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "tcp://" + addr, out: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.CommandContext(ctx, bin, "-c", conf)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mosquitto: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("mosquitto exited: %s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("mosquitto did not listen on %s: %s", addr, s.Log())
		}
		time.Sleep(20 * time.Millisecond) // waiting on an external process
	}
}

// Reload sends SIGHUP (Mosquitto re-reads its password and ACL files) and
// waits until Mosquitto logs the reload: it handles its clients in one
// loop, so any connection made after that is checked against the new files.
func (s *Server) Reload() error {
	before := strings.Count(s.Log(), "Reloading config")
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("reload mosquitto: %w", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(s.Log(), "Reloading config") == before {
		if time.Now().After(deadline) {
			return errors.New("mosquitto did not log a reload within 5 s")
		}
		time.Sleep(10 * time.Millisecond) // waiting on an external process
	}
	return nil
}

// Log is what Mosquitto has written so far.
func (s *Server) Log() string { return s.out.String() }

// Stop kills Mosquitto and waits for it.
func (s *Server) Stop() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// listenerAddr finds "listener PORT [HOST]" in conf.
func listenerAddr(conf string) (string, error) {
	b, err := os.ReadFile(conf)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "listener" {
			host := "127.0.0.1"
			if len(f) >= 3 && f[2] != "0.0.0.0" && f[2] != "::" {
				host = f[2]
			}
			return net.JoinHostPort(host, f[1]), nil
		}
	}
	return "", fmt.Errorf("%s has no listener line", conf)
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
