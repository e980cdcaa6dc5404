package broker

import (
	"strings"
	"testing"

	"github.com/servicehall/servicehall/wire"
)

func TestACLAllowed(t *testing.T) {
	a := newACL("h")
	cases := []struct {
		r     role
		user  string
		topic string
		write bool
		want  bool
	}{
		{roleAgent, "a", "hall/v1/h/agent/a/status", true, true},
		{roleAgent, "a", "hall/v1/h/agent/a/dev/p/cmd/print", false, true},
		{roleAgent, "a", "hall/v1/h/agent/a/#", false, true},
		{roleAgent, "a", "hall/v1/h/agent/a/dev/+/cmd/+", false, true},
		{roleAgent, "a", "hall/v1/h/ctl/status", false, true},
		{roleAgent, "a", "hall/v1/h/ctl/status", true, false},
		{roleAgent, "a", "hall/v1/h/agent/a", false, false},
		{roleAgent, "a", "hall/v1/h/agent/a/", true, false},
		{roleAgent, "a", "hall/v1/h/agent/ab/status", true, false},
		{roleAgent, "ab", "hall/v1/h/agent/a/status", true, false},
		{roleAgent, "a", "hall/v1/h/agent/+/status", false, false},
		{roleAgent, "a", "hall/v1/h/agent/#", false, false},
		{roleAgent, "a", "hall/v1/+/agent/a/#", false, false},
		{roleAgent, "a", "hall/v1/h2/agent/a/status", true, false},
		{roleAgent, "a", "#", false, false},
		{roleAgent, "+", "hall/v1/h/agent/+/x", true, false},
		{roleAgent, "", "hall/v1/h/agent//x", true, false},
		{roleController, "c", "hall/v1/h/#", false, true},
		{roleController, "c", "hall/v1/h/agent/a/dev/p/cmd/print", true, true},
		{roleController, "c", "hall/v1/h/ctl/status", true, true},
		{roleController, "c", "hall/v1/h", false, false},
		{roleController, "c", "hall/v1/#", false, false},
		{roleController, "c", "hall/v1/h2/ctl/status", true, false},
		{roleController, "c", "$SYS/broker/clients", false, false},
		{roleLoopback, "", "hall/v1/h/agent/x/dev/y/evt/press", true, true},
		{roleLoopback, "", "#", false, false},
		{role(0), "a", "hall/v1/h/agent/a/status", true, false},
		{roleController, "c", "hall/v1/h/" + strings.Repeat("x", wire.MaxTopicLen), true, false},
		{roleController, "c", "", true, false},
	}
	for _, tc := range cases {
		if got := a.allowed(tc.r, tc.user, tc.topic, tc.write); got != tc.want {
			t.Errorf("%v %q %q write=%v: %v, want %v", tc.r, tc.user, tc.topic, tc.write, got, tc.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for remote, want := range map[string]bool{
		"127.0.0.1:1234":        true,
		"127.8.9.10:1":          true,
		"[::1]:5":               true,
		"[::ffff:127.0.0.1]:5":  true,
		"10.0.0.5:1883":         false,
		"[fe80::1]:1":           false,
		"192.168.1.20:50000":    false,
		"localhost:1":           false,
		"127.0.0.1":             false,
		"":                      false,
		"[::ffff:10.1.1.1]:200": false,
	} {
		if got := isLoopback(remote); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", remote, got, want)
		}
	}
}

func TestAuthenticateRemote(t *testing.T) {
	b, err := New(Options{Hall: "h", AllowAnonymousLoopback: true,
		Users: []User{{Username: "a"}, {Username: "c", Controller: true}},
		Check: PlainCheck(map[string]string{"a": "pa", "c": "pc"})})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		id, user, pass string
		hasPass        bool
		remote         string
		want           role
	}{
		{"x", "", "", false, "127.0.0.1:1", roleLoopback},
		{"x", "", "", false, "10.0.0.9:1", 0},  // anonymous off loopback
		{"a", "a", "", false, "10.0.0.9:1", 0}, // username without password off loopback
		{"a", "a", "pa", true, "10.0.0.9:1", roleAgent},
		{"b", "a", "pa", true, "10.0.0.9:1", 0},  // client id ≠ username
		{"a", "a", "pc", true, "127.0.0.1:1", 0}, // wrong password, even on loopback
		{"any", "c", "pc", true, "10.0.0.9:1", roleController},
		{"a", "a", "", true, "10.0.0.9:1", 0}, // empty password flagged
	}
	for _, tc := range cases {
		got, why := b.authenticate(tc.id, tc.user, []byte(tc.pass), tc.hasPass, tc.remote)
		if got != tc.want || (got == 0) != (why != "") {
			t.Errorf("authenticate(%q, %q, %q, %s) = %v %q, want %v", tc.id, tc.user, tc.pass, tc.remote, got, why, tc.want)
		}
	}
}

// FuzzACL checks that no topic lets an agent out of its own subtree (other
// than reading ctl/status) and that nothing panics.
func FuzzACL(f *testing.F) {
	for _, s := range []string{"hall/v1/h/agent/a/status", "hall/v1/h/agent/a/#", "hall/v1/h/#", "#", "+/+/+",
		"hall/v1/h/ctl/status", "hall/v1/h/agent/a", "hall/v1/h/agent/ab/x", "$SYS/x", "hall/v1/h/agent/a/../b"} {
		f.Add(s, "a", true)
		f.Add(s, "a", false)
	}
	a := newACL("h")
	f.Fuzz(func(t *testing.T, topic, user string, write bool) {
		if a.allowed(roleAgent, user, topic, write) {
			own := "hall/v1/h/agent/" + user + "/"
			if !(strings.HasPrefix(topic, own) && len(topic) > len(own)) && !(!write && topic == "hall/v1/h/ctl/status") {
				t.Fatalf("agent %q allowed %q (write=%v)", user, topic, write)
			}
			if strings.ContainsAny(user, "/+#") || user == "" {
				t.Fatalf("agent with username %q allowed anything", user)
			}
		}
		for _, r := range []role{roleController, roleLoopback} {
			if a.allowed(r, user, topic, write) && !strings.HasPrefix(topic, "hall/v1/h/") {
				t.Fatalf("%v allowed %q outside the root", r, topic)
			}
		}
	})
}
