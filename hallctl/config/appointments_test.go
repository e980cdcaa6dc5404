package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppointmentsDefaultsAndKey(t *testing.T) {
	c, err := Parse("hall.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Appointments; a.ExpireAfterMin != DefaultExpireAfterMin {
		t.Fatalf("defaults: %+v", a)
	}
	if k, err := c.Appointments.PushKey(); err != nil || k != nil {
		t.Fatalf("no secret: key %q, %v", k, err)
	}
	file := filepath.Join(t.TempDir(), "push.secret")
	if err := os.WriteFile(file, []byte("0123456789abcdef-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Parse("hall.yaml", []byte(good+"appointments: {expire_after_min: 15, push_secret_file: "+file+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := c.Appointments.PushKey(); err != nil || string(k) != "0123456789abcdef-from-file" || c.Appointments.ExpireAfterMin != 15 {
		t.Fatalf("key %q, %v, %+v", k, err, c.Appointments)
	}
}

func TestAppointmentsValidate(t *testing.T) {
	_, err := Parse("hall.yaml", []byte(good+"appointments:\n  expire_after_min: -5\n  push_secret: short\n"))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	for _, w := range []string{"appointments.expire_after_min: -5 must be 1 to 1440", "appointments.push_secret: is shorter than 16 bytes"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in\n%v", w, err)
		}
	}
	_, err = Parse("hall.yaml", []byte(good+"appointments: {push_secret: 0123456789abcdef, push_secret_file: /nonexistent/x}\n"))
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("both set: %v", err)
	}
	_, err = Parse("hall.yaml", []byte(good+"appointments: {push_secret_file: /nonexistent/x}\n"))
	if err == nil || !strings.Contains(err.Error(), "appointments.push_secret_file") {
		t.Errorf("missing file: %v", err)
	}
	_, err = Parse("hall.yaml", []byte(good+"appointments: {wat: 1}\n"))
	if err == nil || !strings.Contains(err.Error(), "wat") {
		t.Errorf("unknown key: %v", err)
	}
}
