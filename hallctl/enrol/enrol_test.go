package enrol

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	"github.com/servicehall/servicehall/hallctl/config"
)

const testHall = `hall: {id: t-hall, name: 测试大厅, hours: {open: "00:00", close: "24:00"}}
departments: [{code: HR, name: 人社}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}
windows:
  - {number: 1, dept: HR, serves: ["*"], zone: east}
  - {number: 2, dept: HR, serves: ["*"], zone: west}
agents:
  - {id: window-1, windows: [1]}
server:
  users: [{username: window-1, password_hash: "$2a$10$abcdefghijklmnopqrstuuJ3V1b8Xr7jO6fWqkq8m3J5c5l9nYb7W"}]
`

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte(testHall))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The "$7$" hash is Mosquitto's: a hash mosquitto_passwd wrote verifies
// here (a real Mosquitto accepts ours in the cli tests).
func TestMosquittoHashFormat(t *testing.T) {
	// Written by mosquitto_passwd 2.0.11 for alice / secretpass.
	const fromMosquitto = "$7$101$Vc3+7Q/vctdId+36$Aa6KzqA4b757kaaFjWdpUCyy6qpkKgo7mFrjj05tuPQ1LOumco1sG/irI2o8F9/XpCcI8UOX8Dp/l4FfaQeRjA=="
	if err := VerifyMosquittoHash(fromMosquitto, "secretpass"); err != nil {
		t.Fatalf("mosquitto_passwd's hash: %v", err)
	}
	if err := VerifyMosquittoHash(fromMosquitto, "secretpasS"); err == nil {
		t.Fatal("a wrong password verified")
	}
	h, err := MosquittoHash("p4ss")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(h, "$")
	if len(parts) != 5 || parts[1] != "7" || parts[2] != "101" || len(parts[3]) != 16 || len(parts[4]) != 88 {
		t.Fatalf("hash %q is not $7$101$<16 b64>$<88 b64>", h)
	}
	if !mosqHashRE.MatchString(h) || VerifyHash([]byte(h), []byte("p4ss")) != nil || VerifyHash([]byte(h), []byte("p4sS")) == nil {
		t.Fatal("own hash does not verify (or verifies a wrong password)")
	}
}

func TestAddRevokeMerge(t *testing.T) {
	cfg := testConfig(t)
	dir := t.TempDir()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	r, pw, err := Add(dir, cfg, Grant{ID: "kiosk-1", Kiosk: true, Windows: []int{2}, Zones: []string{"west"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(pw) < 24 {
		t.Fatalf("password %d chars", len(pw))
	}
	if bcrypt.CompareHashAndPassword([]byte(r.BcryptHash), []byte(pw)) != nil || VerifyMosquittoHash(r.MosquittoHash, pw) != nil {
		t.Fatal("hashes do not verify the password")
	}
	b, _ := os.ReadFile(Path(dir))
	if strings.Contains(string(b), pw) {
		t.Fatal("the plaintext password is in the enrolment file")
	}
	if fi, _ := os.Stat(Path(dir)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("enrolment file mode %o", fi.Mode().Perm())
	}
	// Refusals, each with its reason.
	for _, tc := range []struct {
		g    Grant
		want string
	}{
		{Grant{ID: "kiosk-1", Kiosk: true}, "already enrolled"},
		{Grant{ID: "window-1", Windows: []int{1}}, "listed in the config"},
		{Grant{ID: "w-9", Windows: []int{9}}, "window 9 is not"},
		{Grant{ID: "s-1", Zones: []string{"north"}}, `zone "north"`},
		{Grant{ID: "Bad/Id", Kiosk: true}, "agent id"},
		{Grant{ID: "x-1"}, "grants nothing"},
	} {
		if _, _, err := Add(dir, cfg, tc.g, now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%+v) = %v, want %q", tc.g, err, tc.want)
		}
	}
	// --force re-issues: a new password, the old one no longer verifies.
	r2, pw2, err := Add(dir, cfg, Grant{ID: "kiosk-1", Kiosk: true, Force: true}, now)
	if err != nil || pw2 == pw || bcrypt.CompareHashAndPassword([]byte(r2.BcryptHash), []byte(pw)) == nil {
		t.Fatalf("force: %v", err)
	}

	merged := testConfig(t)
	recs, _ := Load(dir)
	if err := Merge(merged, recs); err != nil {
		t.Fatal(err)
	}
	if a, ok := merged.Enrolled("kiosk-1"); !ok || !a.Kiosk {
		t.Fatalf("kiosk-1 not merged: %+v", merged.Agents)
	}
	// The same id in the config with other grants is refused.
	clash := testConfig(t)
	clash.Agents = append(clash.Agents, config.Agent{ID: "kiosk-1", Windows: []int{1}})
	if err := Merge(clash, recs); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	// The same grants: listed once.
	same := testConfig(t)
	same.Agents = append(same.Agents, config.Agent{ID: "kiosk-1", Kiosk: true})
	if err := Merge(same, recs); err != nil || len(same.Agents) != 2 {
		t.Fatalf("same grants: %v %+v", err, same.Agents)
	}

	if err := Revoke(dir, cfg, "kiosk-1", now); err != nil {
		t.Fatal(err)
	}
	recs, _ = Load(dir)
	after := testConfig(t)
	if err := Merge(after, recs); err != nil {
		t.Fatal(err)
	}
	if _, ok := after.Enrolled("kiosk-1"); ok {
		t.Fatal("a revoked agent is merged")
	}
	if err := Revoke(dir, cfg, "window-1", now); !errors.Is(err, ErrNotEnrolled) || !strings.Contains(err.Error(), "remove it from the config") {
		t.Fatalf("revoking a config agent: %v", err)
	}
	if err := Revoke(dir, cfg, "nobody", now); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("revoking nobody: %v", err)
	}
}

// The bundle holds exactly the files the servicehall-agent package reads,
// and its agent.yaml passes the agent's own validation.
func TestBundle(t *testing.T) {
	for _, kiosk := range []bool{true, false} {
		r := Record{ID: "kiosk-1", Kiosk: kiosk, Windows: []int{2}, Zones: []string{"west"}}
		b := Bundle{Record: r, Hall: "t-hall", Password: "pw-123456789012345678901234", BrokerURL: "ssl://hall.local:8883",
			CA: []byte("-----BEGIN CERTIFICATE-----\n"), IDKey: []byte("0123456789abcdef0123"), Now: time.Now()}
		var buf bytes.Buffer
		if err := b.WriteTarGz(&buf); err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		got := map[string]string{}
		modes := map[string]int64{}
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(tr)
			got[h.Name], modes[h.Name] = string(body), h.Mode
		}
		want := []string{BundleConfig, BundlePassword, BundleCA}
		if kiosk {
			want = append(want, BundleIDKey)
		}
		if len(got) != len(want) {
			t.Fatalf("kiosk=%v: files %v, want %v", kiosk, keys(got), want)
		}
		for _, n := range want {
			if _, ok := got[n]; !ok {
				t.Fatalf("kiosk=%v: %s missing (%v)", kiosk, n, keys(got))
			}
		}
		if modes[BundlePassword] != 0o600 || strings.TrimSpace(got[BundlePassword]) != b.Password {
			t.Fatalf("mqtt-password: mode %o", modes[BundlePassword])
		}
		c, err := agent.Parse([]byte(got[BundleConfig]), "agent.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("agent.yaml refused by the agent:\n%v\n%s", err, got[BundleConfig])
		}
		if c.Agent.ID != "kiosk-1" || c.Agent.Hall != "t-hall" || c.Agent.StateDir != AgentStateDir ||
			c.MQTT.URL != b.BrokerURL || c.MQTT.Username != "kiosk-1" || c.MQTT.PasswordFile != "/etc/servicehall/mqtt-password" ||
			c.MQTT.TLS.CAFile != "/etc/servicehall/ca.pem" {
			t.Fatalf("agent.yaml: %+v", c)
		}
		if kiosk != (c.Agent.SecretFile == "/etc/servicehall/id-hash.key") {
			t.Fatalf("kiosk=%v: secret_file %q", kiosk, c.Agent.SecretFile)
		}
		for _, frag := range []string{"window: 2", "zone: west"} {
			if !strings.Contains(got[BundleConfig], frag) {
				t.Errorf("device template lacks %q", frag)
			}
		}
		cmd := b.InstallCommand("kiosk-1.tar.gz")
		if !strings.Contains(cmd, "tar --no-same-owner -xzf kiosk-1.tar.gz -C /etc/servicehall") ||
			!strings.Contains(cmd, "systemctl enable --now servicehall-agent.service") ||
			!strings.Contains(cmd, "chown servicehall-agent:servicehall-agent /etc/servicehall/mqtt-password") {
			t.Fatalf("install command: %s", cmd)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The ACL narrows each agent to its own subtree by message kind and
// leaves revoked agents and bcrypt-only users out (with a warning).
func TestMosquittoFiles(t *testing.T) {
	h, _ := MosquittoHash("x")
	revoked := time.Now()
	f, err := Mosquitto(MosquittoOptions{Hall: "t-hall", Listener: "127.0.0.1:1884", Dir: "/etc/m", Controller: "hallctl-t-hall", ControllerHash: h,
		Records: []Record{{ID: "kiosk-1", MosquittoHash: h}, {ID: "gone", MosquittoHash: h, Revoked: &revoked}},
		Users:   []config.User{{Username: "old", PasswordHash: "$2a$10$xx"}, {Username: "m7", PasswordHash: h}},
		TLSCert: "/c.pem", TLSKey: "/k.pem", TLSCA: "/ca.pem"})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"allow_anonymous false", "password_file /etc/m/passwd", "acl_file /etc/m/acl", "persistence true",
		"set_tcp_nodelay true", "listener 1884 127.0.0.1", "certfile /c.pem", "keyfile /k.pem", "cafile /ca.pem"} {
		if !strings.Contains(f.Conf, line+"\n") {
			t.Errorf("mosquitto.conf lacks %q", line)
		}
	}
	if strings.Contains(f.Passwd, "gone:") || strings.Contains(f.ACL, "gone") || strings.Contains(f.Passwd, "old:") {
		t.Errorf("revoked or bcrypt users in the files:\n%s\n%s", f.Passwd, f.ACL)
	}
	if !strings.HasPrefix(f.Passwd, "hallctl-t-hall:$7$") || !strings.Contains(f.Passwd, "\nkiosk-1:$7$") || !strings.Contains(f.Passwd, "\nm7:$7$") {
		t.Errorf("passwd:\n%s", f.Passwd)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "bcrypt") {
		t.Errorf("warnings: %v", f.Warnings)
	}
	for _, line := range []string{"user hallctl-t-hall\ntopic readwrite hall/v1/t-hall/#\n",
		"topic write hall/v1/t-hall/agent/kiosk-1/dev/+/evt/+\n", "topic read hall/v1/t-hall/agent/kiosk-1/dev/+/cmd/+\n",
		"topic read hall/v1/t-hall/ctl/status\n"} {
		if !strings.Contains(f.ACL, line) {
			t.Errorf("acl lacks %q:\n%s", line, f.ACL)
		}
	}
	if strings.Contains(f.ACL, "topic write hall/v1/t-hall/agent/kiosk-1/dev/+/cmd") {
		t.Error("an agent may publish commands")
	}
	// A hash that would add a line to the password file is refused.
	if _, err := Mosquitto(MosquittoOptions{Hall: "t-hall", Users: []config.User{{Username: "e", PasswordHash: "$7$101$a$b\nroot:$7$1$a$b"}}}); err == nil {
		t.Error("a multi-line hash was accepted")
	}
}
