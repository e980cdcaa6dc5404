package config

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// The staff: section is checked with key paths: ids, names, roles,
// windows, and a hash that is bcrypt and not the demo password outside
// a demo hall.
func TestStaffSection(t *testing.T) {
	good, _ := bcrypt.GenerateFromPassword([]byte("a-real-password"), bcrypt.MinCost)
	demo, _ := bcrypt.GenerateFromPassword([]byte(DemoStaffPassword), bcrypt.MinCost)
	base := "hall: {id: x}\ndepartments: [{code: D, name: 部门}]\nitems: [{code: I1, name: 事项, dept: D, prefix: A, kind: immediate}]\n" +
		"windows: [{number: 1, dept: D, serves: [I1]}]\n"
	ok := base + "staff:\n  - {id: c1, name: 小李, role: clerk, windows: [1], password_hash: \"" + string(good) + "\"}\n" +
		"  - {id: m1, name: 陈主任, role: manager, password_file: /run/secrets/m1}\n"
	c, err := Parse("ok.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if s, found := c.StaffMember("c1"); !found || !s.MayWindow(1) || s.MayWindow(2) || c.StaffName("m1") != "陈主任" {
		t.Errorf("staff %+v", c.Staff)
	}
	bad := base + "staff:\n" +
		"  - {id: \"bad id\", name: x, role: clerk, password_hash: \"" + string(good) + "\"}\n" +
		"  - {id: \"11010519491231002X\", name: x, role: clerk, password_hash: \"" + string(good) + "\"}\n" +
		"  - {id: c2, name: \"\", role: boss, password_hash: nothash}\n" +
		"  - {id: c2, name: y, role: manager, windows: [9]}\n" +
		"  - {id: c3, name: z, role: clerk, password_hash: \"" + string(demo) + "\"}\n"
	_, err = Parse("bad.yaml", []byte(bad))
	if err == nil {
		t.Fatal("bad staff accepted")
	}
	for _, want := range []string{"staff[0].id", "staff[1].id: looks like an ID-card number", "staff[2].name", "staff[2].role",
		"staff[2].password_hash: is not a bcrypt hash", "staff[3].id: staff id \"c2\" is listed twice", "staff[3].windows: only a clerk",
		"staff[3].windows: window 9", "staff[3]: needs password_hash or password_file", "staff[4].password_hash: is the demo password"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in:\n%v", want, err)
		}
	}
	if _, err := Parse("demo.yaml", []byte(strings.Replace(base, "hall: {id: x}", "hall: {id: x}\nserver: {demo: true}", 1)+
		"staff:\n  - {id: c3, name: z, role: clerk, password_hash: \""+string(demo)+"\"}\n")); err != nil {
		t.Errorf("the demo password in a demo hall: %v", err)
	}
}
