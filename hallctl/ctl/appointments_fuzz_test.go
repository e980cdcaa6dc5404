package ctl

import (
	"testing"
	"time"
)

// A push body is decoded strictly; whatever it holds, an accepted one has
// a known op, and verification never panics on arbitrary headers.
func FuzzDecodeAppointmentPush(f *testing.F) {
	f.Add([]byte(`{"op":"create","code":"WB-1","item":"HR-001","slot":"2026-11-23T02:30:00Z","contact":{"name":"张三","phone":"13800000000"}}`))
	f.Add([]byte(`{"op":"cancel","code":"WB-1","reason":"x"}`))
	f.Add([]byte(`{"op":"create","code":"WB-1"} {}`))
	f.Add([]byte(`{"op":"move"}`))
	b := &book{key: []byte("0123456789abcdef")}
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := DecodeAppointmentPush(body)
		if err == nil && p.Op != "create" && p.Op != "cancel" {
			t.Fatalf("accepted op %q", p.Op)
		}
		if err == nil && p.Op == "create" && p.Item == "" {
			t.Fatal("accepted a create without item")
		}
		s := string(body)
		if _, err := b.verify(PushRequest{Method: "POST", Path: "/p", Timestamp: s, Nonce: s, Signature: s, Body: body}, now); err == nil {
			t.Fatalf("verified an unsigned body %q", body)
		}
	})
}
