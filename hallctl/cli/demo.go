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
	var started []demoAgent
	var wg sync.WaitGroup
	for _, f := range fs.Args() {
		ag := readDemoAgent(f)
		id := ag.Agent.ID
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
		started = append(started, ag)
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
	printDemo(e.stdout, a, cfg.Hall.ID, logDir, selfCommand(), *path, started)

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

// demoAgent is what the cheat sheet needs of an agent config.
type demoAgent struct {
	Agent struct {
		ID       string `yaml:"id"`
		StateDir string `yaml:"state_dir"`
	} `yaml:"agent"`
	Devices []struct {
		ID     string `yaml:"id"`
		Kind   string `yaml:"kind"`
		Window int    `yaml:"window"`
		Item   string `yaml:"item"`
	} `yaml:"devices"`
}

func readDemoAgent(path string) demoAgent {
	var c demoAgent
	if b, err := os.ReadFile(path); err == nil {
		_ = yaml.Unmarshal(b, &c)
	}
	if c.Agent.ID == "" {
		c.Agent.ID = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return c
}

func agentID(path string) string { return readDemoAgent(path).Agent.ID }

// selfCommand is how this hallctl was started (bin/hallctl under make run),
// so that printed commands work as printed from the same directory.
func selfCommand() string {
	if len(os.Args) == 0 || os.Args[0] == "" {
		return "hallctl"
	}
	return shellQuote(os.Args[0])
}

// shellQuote quotes s for sh when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printDemo is the cheat sheet `make run` prints: every command in it
// works as printed from the directory the demo was started in (exe is
// this binary as started, cfgPath the hall config; the device paths come
// from the agent configs). TestDemoCheatSheetRuns runs them.
func printDemo(w io.Writer, a *app.App, hall, logDir, exe, cfgPath string, agents []demoAgent) {
	fmt.Fprintf(w, "\nservicehall demo hall %q is running with %d device agents. Ctrl-C stops it.\n\n", hall, len(agents))
	tok := exe + " token --config " + shellQuote(cfgPath)
	printURLs(w, a, tok)
	fmt.Fprintln(w)
	printStaffSignIn(w, a.Controller.Config(), tok) // staff.go
	fmt.Fprintf(w, "agent logs    %s/\n\n", logDir)
	// The emulated devices, played through the pipes and files in each
	// device's state dir.
	dev := func(ag demoAgent, id, file string) string {
		return shellQuote(filepath.Join(ag.Agent.StateDir, id, file))
	}
	var play, watch []string
	for _, ag := range agents {
		for _, d := range ag.Devices {
			switch d.Kind {
			case "ticket-button":
				play = append(play, fmt.Sprintf("echo > %s|# %s: ticket button, a ticket for %s", dev(ag, d.ID, "press"), ag.Agent.ID, d.Item))
			case "idcard-reader":
				play = append(play, fmt.Sprintf("echo > %s|# %s: present the demo ID card (张三, born 1949)", dev(ag, d.ID, "card"), ag.Agent.ID))
			case "qr-scanner":
				play = append(play, fmt.Sprintf("echo A001 > %s|# %s: scan a code (a ticket number, a ticket's QR link, an appointment or case number)", dev(ag, d.ID, "scan"), ag.Agent.ID))
			case "rating-pad":
				if d.Window == 1 {
					play = append(play, fmt.Sprintf("echo 5 > %s|# window %d: rate 非常满意 after a service (1–5)", dev(ag, d.ID, "press"), d.Window))
				}
			case "escpos-printer":
				watch = append(watch, fmt.Sprintf("tail -F %s|# %s: the printed tickets", dev(ag, d.ID, "paper.txt"), ag.Agent.ID))
			case "led-display":
				if d.Window == 1 {
					watch = append(watch, fmt.Sprintf("cat %s|# window %d's LED panel", dev(ag, d.ID, "led-screen.json"), d.Window))
				}
			}
		}
	}
	col := func(lines []string) {
		width := 0
		for _, l := range lines {
			cmd, _, _ := strings.Cut(l, "|")
			width = max(width, len(cmd))
		}
		for _, l := range lines {
			cmd, note, _ := strings.Cut(l, "|")
			fmt.Fprintf(w, "  %-*s  %s\n", width, cmd, note)
		}
	}
	if len(play) > 0 {
		fmt.Fprintf(w, "Play the emulated devices (a line to the pipe in each device's state dir):\n")
		col(play)
	}
	if len(watch) > 0 {
		fmt.Fprintf(w, "See what they show:\n")
		col(watch)
	}
	host, port := splitHostPort(a.MQTTAddr())
	root := "hall/v1/" + hall
	fmt.Fprintf(w, "\nWatch the hall:\n  mosquitto_sub -h %s -p %s -v -t '%s/#'\n", host, port, root)
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
