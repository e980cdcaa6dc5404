package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/servicehall/servicehall/hallctl/app"
	"gopkg.in/yaml.v3"
)

// runDemo is `make run`: hallctl serve in-process plus one firmware-agent
// process per agent config, every device emulated. Ctrl-C stops it all.
func runDemo(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "demo", "--config FILE [--agent-bin PATH] AGENT.yaml...")
	path := fs.String("config", "configs/demo/hall.yaml", "hall config `file`")
	agentBin := fs.String("agent-bin", "bin/firmware-agent", "firmware-agent `binary` to run for each agent config")
	if ok, code := parse(fs, args); !ok {
		return code
	}
	cfg, ok := loadConfig(e, *path)
	if !ok {
		return 1
	}
	if _, err := os.Stat(*agentBin); err != nil {
		fmt.Fprintf(e.stderr, "hallctl demo: agent binary: %v (run 'make build' first)\n", err)
		return 1
	}
	log := e.logger()
	a, err := app.Start(ctx, app.Options{Config: cfg, Logger: log,
		MQTTAddr: e.getenv("MQTT_ADDR"), HTTPAddr: e.getenv("HTTP_ADDR")})
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl demo:", err)
		return 1
	}
	defer a.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()

	logDir := filepath.Join(first(cfg.Server.StateDir, "state"), "logs")
	if err := os.MkdirAll(logDir, 0o750); err != nil {
		fmt.Fprintln(e.stderr, "hallctl demo:", err)
		return 1
	}
	var procs []*exec.Cmd
	var wg sync.WaitGroup
	for _, f := range fs.Args() {
		id := agentID(f)
		lf, err := os.Create(filepath.Join(logDir, id+".log"))
		if err != nil {
			fmt.Fprintln(e.stderr, "hallctl demo:", err)
			cancel()
			break
		}
		cmd := exec.Command(*agentBin, "--config", f)
		cmd.Env = append(os.Environ(), "MQTT_URL="+a.BrokerURL())
		cmd.Stdout, cmd.Stderr = lf, lf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(e.stderr, "hallctl demo: start agent %s: %v\n", f, err)
			lf.Close()
			cancel()
			break
		}
		procs = append(procs, cmd)
		wg.Add(1)
		go func(name string, c *exec.Cmd, lf *os.File) {
			defer wg.Done()
			err := c.Wait()
			lf.Close()
			if runCtx.Err() == nil {
				fmt.Fprintf(e.stderr, "hallctl demo: agent %s exited: %v (log: %s)\n", name, err, lf.Name())
			}
		}(id, cmd, lf)
	}
	printDemo(e.stdout, a, cfg.Hall.ID, logDir, len(procs))

	select {
	case <-ctx.Done():
	case err := <-done:
		if err != nil {
			fmt.Fprintln(e.stderr, "hallctl demo:", err)
		}
	}
	fmt.Fprintln(e.stdout, "\nstopping the demo hall…")
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		for _, p := range procs {
			_ = p.Process.Kill()
		}
		<-stopped
	}
	cancel()
	<-done
	fmt.Fprintln(e.stdout, "stopped.")
	return 0
}

func agentID(path string) string {
	var c struct {
		Agent struct {
			ID string `yaml:"id"`
		} `yaml:"agent"`
	}
	if b, err := os.ReadFile(path); err == nil && yaml.Unmarshal(b, &c) == nil && c.Agent.ID != "" {
		return c.Agent.ID
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

func printDemo(w io.Writer, a *app.App, hall, logDir string, agents int) {
	fmt.Fprintf(w, "\nservicehall demo hall %q is running with %d device agents. Ctrl-C stops it.\n\n", hall, agents)
	printURLs(w, a)
	host, port := splitHostPort(a.MQTTAddr())
	root := "hall/v1/" + hall
	fmt.Fprintf(w, "agent logs    %s/\n\n", logDir)
	fmt.Fprintf(w, "Watch the hall:\n  mosquitto_sub -h %s -p %s -v -t '%s/#'\n", host, port, root)
	fmt.Fprintf(w, "Emulated buttons are pressed through pipes in each device's state dir:\n")
	fmt.Fprintf(w, "  echo > state/demo/agents/kiosk-1/btn-1/press        # take a ticket for HR-001\n")
	fmt.Fprintf(w, "  echo 5 > state/demo/agents/window-1/pad-1/press     # rate 非常满意 after a service\n")
	fmt.Fprintf(w, "The printed tickets:  tail -f state/demo/agents/kiosk-1/printer-1/paper.txt\n")
	fmt.Fprintf(w, "Window 1's LED:       cat state/demo/agents/window-1/led-1/led-screen.json\n\n")
	fmt.Fprintf(w, "Or play a device yourself over MQTT — press the kiosk's ticket button:\n")
	fmt.Fprintf(w, "  mosquitto_pub -h %s -p %s -q 1 -t '%s/agent/kiosk-1/dev/btn-1/evt/press' \\\n    -m \"{\\\"v\\\":1,\\\"id\\\":\\\"$(cat /proc/sys/kernel/random/uuid)\\\",\\\"ts\\\":\\\"$(date -u +%%FT%%TZ)\\\",\\\"session\\\":\\\"cli\\\",\\\"seq\\\":1,\\\"data\\\":{\\\"item\\\":\\\"HR-001\\\"}}\"\n", host, port, root)
	fmt.Fprintf(w, "Call the next ticket to window 1 (its LED and the east speaker follow; then \"start\", \"finish\"):\n")
	fmt.Fprintf(w, "  mosquitto_pub -h %s -p %s -q 1 -t '%s/agent/window-1/dev/caller-1/evt/key' \\\n    -m \"{\\\"v\\\":1,\\\"id\\\":\\\"$(cat /proc/sys/kernel/random/uuid)\\\",\\\"ts\\\":\\\"$(date -u +%%FT%%TZ)\\\",\\\"session\\\":\\\"cli\\\",\\\"seq\\\":1,\\\"data\\\":{\\\"action\\\":\\\"call-next\\\"}}\"\n\n", host, port, root)
}

func splitHostPort(addr string) (string, string) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return addr, "1883"
	}
	return addr[:i], addr[i+1:]
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
