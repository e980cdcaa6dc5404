package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// demoCopy copies the demo hall's config and the kiosk-1 and window-1
// agent configs into dir with every state dir inside dir.
func demoCopy(t *testing.T, dir string) (hall string, agents []string) {
	t.Helper()
	rewrite := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "state_dir: state/demo", "state_dir: "+filepath.Join(dir, "state"))
		if err := os.WriteFile(dst, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hall = filepath.Join(dir, "hall.yaml")
	rewrite("../../configs/demo/hall.yaml", hall)
	for _, a := range []string{"kiosk-1", "window-1"} {
		p := filepath.Join(dir, a+".yaml")
		rewrite("../../configs/demo/agents/"+a+".yaml", p)
		agents = append(agents, p)
	}
	return hall, agents
}

// waitFor polls cond (a file appearing, an MQTT message arriving) until
// it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The cheat sheet `make run` prints works as printed: the demo runs with
// real firmware-agent processes, and every command printed — the token
// lines, the pipes that press the button, present the ID card, scan a
// QR code and rate, the LED file (there before the first call), the
// printer's paper, and the mosquitto_pub lines — is run as printed, in a
// shell, and its effect is seen on the hall's MQTT topics.
func TestDemoCheatSheetRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds firmware-agent and runs the demo hall")
	}
	if _, err := exec.LookPath("mosquitto_pub"); err != nil {
		t.Skip("mosquitto-clients not installed")
	}
	dir := t.TempDir()
	agentBin := filepath.Join(dir, "firmware-agent")
	if out, err := exec.Command("go", "build", "-o", agentBin, "../../firmware-agent").CombinedOutput(); err != nil {
		t.Fatalf("build firmware-agent: %v\n%s", err, out)
	}
	hall, agents := demoCopy(t, dir)

	pr, pw := io.Pipe()
	envs := map[string]string{"MQTT_ADDR": "127.0.0.1:0", "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error"}
	var errb bytes.Buffer
	e := &env{version: "v-test", stdin: strings.NewReader(""), stdout: pw, stderr: &errb, getenv: func(k string) string { return envs[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, e, append([]string{"demo", "--config", hall, "--agent-bin", agentBin}, agents...))
		pw.Close()
	}()
	defer func() {
		cancel()
		go func() { _, _ = io.Copy(io.Discard, pr) }()
		if code := <-done; code != 0 {
			t.Errorf("demo exit %d: %s", code, errb.String())
		}
	}()
	var sheet []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		sheet = append(sheet, sc.Text())
		if strings.Contains(sc.Text(), `\"action\":\"call-next\"`) {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	text := strings.Join(sheet, "\n")
	t.Log("\n" + text)

	// The broker, from the sheet.
	var broker string
	for _, l := range sheet {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MQTT" {
			broker = strings.TrimPrefix(f[2], "mqtt://")
		}
	}
	if broker == "" {
		t.Fatalf("no broker address in the sheet")
	}
	var mu sync.Mutex
	seen := map[string][]string{}
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker).SetClientID("sheet-test"))
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt: %v", tok.Error())
	}
	defer cl.Disconnect(100)
	if tok := cl.SubscribeMultiple(map[string]byte{"hall/v1/demo-hall/agent/+/dev/+/evt/#": 1, "hall/v1/demo-hall/agent/+/dev/+/cmd/#": 1}, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		seen[m.Topic()] = append(seen[m.Topic()], string(m.Payload()))
		mu.Unlock()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	count := func(topic string) int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen["hall/v1/demo-hall/agent/"+topic])
	}
	sh := func(cmd string) string {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		defer ccancel()
		out, err := exec.CommandContext(cctx, "sh", "-c", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	cmdOf := func(l string) string {
		c, _, _ := strings.Cut(strings.TrimSpace(l), "  #")
		return strings.TrimSpace(c)
	}
	// The pipe a line writes to, once its agent has made it.
	pipeReady := func(cmd string) {
		_, p, _ := strings.Cut(cmd, "> ")
		waitFor(t, "pipe "+p, func() bool {
			fi, err := os.Stat(p)
			return err == nil && fi.Mode()&os.ModeNamedPipe != 0
		})
	}

	// The token lines run as printed (the binary as started: here the
	// test binary, so the rest of the line runs in-process).
	tokens := 0
	var clerkToken, httpBase string
	for _, l := range sheet {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "health" {
			httpBase = strings.TrimSuffix(f[1], "/healthz")
		}
	}
	for _, l := range sheet {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, selfCommand()+" token ") {
			continue
		}
		args := strings.Fields(strings.TrimPrefix(l, selfCommand()+" "))
		code, out, errs := runCLI(t, args...)
		if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
			t.Errorf("%s: exit %d %q %s", l, code, out, errs)
		}
		if strings.Contains(l, "--role clerk --window 1") {
			clerkToken = strings.TrimSpace(out)
		}
		tokens++
	}
	if tokens < 1 || !strings.Contains(text, "(token: "+selfCommand()+" token --config "+hall+" --role clerk --window N)") {
		t.Errorf("%d token lines; the URL list must name a working command too", tokens)
	}

	var ran []string
	var padLine string
	for _, l := range sheet {
		c := cmdOf(l)
		switch {
		case strings.HasPrefix(c, "cat ") && strings.HasSuffix(c, "led-screen.json"):
			// Before any call: the idle panel.
			waitFor(t, "the LED file", func() bool { _, err := os.Stat(strings.TrimPrefix(c, "cat ")); return err == nil })
			if out := sh(c); !strings.Contains(out, `"lines":[]`) {
				t.Errorf("%s: %q", c, out)
			}
		case strings.HasPrefix(c, "tail -F "):
			if _, err := os.Stat(strings.TrimPrefix(c, "tail -F ")); err != nil {
				t.Errorf("%s: %v", c, err)
			}
		case strings.HasPrefix(c, "echo") && strings.HasSuffix(c, "/card"):
			pipeReady(c)
			n := count("kiosk-1/dev/reader-1/evt/card")
			sh(c)
			waitFor(t, "a card event after "+c, func() bool { return count("kiosk-1/dev/reader-1/evt/card") > n })
		case strings.HasPrefix(c, "echo") && strings.HasSuffix(c, "/scan"):
			pipeReady(c)
			sh(c)
			waitFor(t, "a scan after "+c, func() bool { return count("kiosk-1/dev/scan-1/evt/scan") > 0 })
			mu.Lock()
			if !strings.Contains(seen["hall/v1/demo-hall/agent/kiosk-1/dev/scan-1/evt/scan"][0], `"A001"`) {
				t.Errorf("scan event %v", seen["hall/v1/demo-hall/agent/kiosk-1/dev/scan-1/evt/scan"])
			}
			mu.Unlock()
		case strings.HasPrefix(c, "echo") && strings.HasSuffix(c, "btn-1/press"):
			pipeReady(c)
			n := count("kiosk-1/dev/btn-1/evt/press")
			sh(c)
			waitFor(t, "a press after "+c, func() bool { return count("kiosk-1/dev/btn-1/evt/press") > n })
		case strings.HasPrefix(c, "echo") && strings.HasSuffix(c, "pad-1/press"):
			padLine = c // after a service, below
			continue
		default:
			continue
		}
		ran = append(ran, c)
	}
	// The rating pad takes a rating after a service: window 1's clerk
	// (with the printed token) serves the ticket the button printed, the
	// controller opens the pad's session, and the printed line rates.
	if padLine == "" {
		t.Fatal("no rating pad line")
	}
	for _, a := range []string{"call-next", "start", "finish"} {
		req, _ := http.NewRequestWithContext(ctx, "POST", httpBase+"/api/v1/windows/1/actions", strings.NewReader(`{"action":"`+a+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+clerkToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("%s at window 1: %d %s", a, res.StatusCode, b)
		}
	}
	waitFor(t, "the pad's session", func() bool { return count("window-1/dev/pad-1/cmd/rating-open") > 0 })
	pipeReady(padLine)
	sh(padLine)
	waitFor(t, "a rating after "+padLine, func() bool { return count("window-1/dev/pad-1/evt/rating") > 0 })
	ran = append(ran, padLine)
	if len(ran) != 6 {
		t.Errorf("ran %d device lines, want 6 (button, card, scan, rating, paper, LED): %v", len(ran), ran)
	}
	// The two mosquitto_pub commands, each printed over two lines.
	pubs := 0
	for i, l := range sheet {
		if strings.HasPrefix(strings.TrimSpace(l), "mosquitto_pub ") && i+1 < len(sheet) {
			cmd := strings.TrimSuffix(strings.TrimSpace(l), "\\") + " " + strings.TrimSpace(sheet[i+1])
			sh(cmd)
			pubs++
		}
	}
	waitFor(t, "the keypad's call-next from mosquitto_pub", func() bool { return count("window-1/dev/caller-1/evt/key") > 0 })
	if pubs != 2 {
		t.Errorf("%d mosquitto_pub lines", pubs)
	}
}
