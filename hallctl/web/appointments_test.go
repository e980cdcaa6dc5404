package web_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/web"
)

const webPushSecret = "web-push-secret-0123456789"

// signedPush sends a push signed with secret at ts with nonce.
func (h *hall) signedPush(t *testing.T, secret string, body []byte, ts time.Time, nonce string) resp {
	t.Helper()
	req, _ := http.NewRequest("POST", h.base+"/api/v1/appointments/push", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	ctl.SignPushRequest(req, []byte(secret), ts, nonce, body)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	return resp{status: res.StatusCode, ctype: res.Header.Get("Content-Type"), body: buf.Bytes()}
}

func TestAppointmentPushRoute(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(testHall+"appointments: {push_secret: "+webPushSecret+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := startHallWith(t, cfg)
	m := h.token(t, web.RoleManager, 0)
	create := []byte(`{"op":"create","code":"wb-0001","item":"HR-001","slot":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `","contact":{"name":"张三丰","phone":"13812345678"}}`)
	r := h.signedPush(t, webPushSecret, create, time.Now(), "nonce-web-000000001")
	var res ctl.PushResult
	r.decode(t, &res)
	if r.status != 201 || !res.Changed || res.Appointment.Code != "WB-0001" || res.Appointment.Contact.MaskedName != "张*丰" {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	if bytes.Contains(r.body, []byte("张三丰")) || bytes.Contains(r.body, []byte("13812345678")) {
		t.Fatalf("raw contact in the answer: %s", r.body)
	}
	for _, tc := range []struct {
		name   string
		r      resp
		status int
		code   string
	}{
		{"replayed", h.signedPush(t, webPushSecret, create, time.Now(), "nonce-web-000000001"), 409, "replayed_nonce"},
		{"other key", h.signedPush(t, "another-secret-0123456", create, time.Now(), "nonce-web-000000002"), 401, "bad_signature"},
		{"stale", h.signedPush(t, webPushSecret, create, time.Now().Add(-10*time.Minute), "nonce-web-000000003"), 401, "signature_skew"},
		{"unsigned", h.do(t, "POST", "/api/v1/appointments/push", "", create), 401, "unsigned"},
		{"bad op", h.signedPush(t, webPushSecret, []byte(`{"op":"move","code":"WB-0001"}`), time.Now(), "nonce-web-000000004"), 400, "bad_request"},
		{"unknown item", h.signedPush(t, webPushSecret, []byte(`{"op":"create","code":"WB-0002","item":"NOPE"}`), time.Now(), "nonce-web-000000005"), 404, "unknown_item"},
	} {
		if p := tc.r.problem(t); tc.r.status != tc.status || p.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, tc.r.status, p.Code, tc.status, tc.code)
		}
	}
	// The pushed booking checks in at a kiosk, once.
	var a, b web.TicketResponse
	r = h.do(t, "POST", "/api/v1/appointments/WB-0001/checkin", "", map[string]any{})
	r.decode(t, &a)
	if r.status != 201 || a.Class != "appointment" {
		t.Fatalf("check-in: %d %s", r.status, r.body)
	}
	r = h.do(t, "POST", "/api/v1/appointments/wb-0001/checkin", "", map[string]any{})
	r.decode(t, &b)
	if r.status != 200 || b.ID != a.ID || !b.Duplicate {
		t.Fatalf("second check-in: %d %s", r.status, r.body)
	}
	// A cancel push after the check-in is refused; the manager sees the book.
	r = h.signedPush(t, webPushSecret, []byte(`{"op":"cancel","code":"WB-0001"}`), time.Now(), "nonce-web-000000006")
	if p := r.problem(t); r.status != 409 || p.Code != "already_checked_in" {
		t.Fatalf("cancel after check-in: %d %s", r.status, r.body)
	}
	var book []ctl.Appointment
	h.do(t, "GET", "/api/v1/manager/appointments", m, nil).decode(t, &book)
	if len(book) != 1 || book[0].State != ctl.ApptCheckedIn || book[0].Number != a.Number {
		t.Fatalf("book: %+v", book)
	}
	if r := h.do(t, "GET", "/api/v1/manager/appointments", "", nil); r.status != 401 {
		t.Errorf("book without a token: %d", r.status)
	}
}

func TestAppointmentPushesDisabled(t *testing.T) {
	h := startHall(t)
	r := h.signedPush(t, webPushSecret, []byte(`{"op":"cancel","code":"WB-0001"}`), time.Now(), "nonce-web-000000001")
	if p := r.problem(t); r.status != 403 || p.Code != "pushes_disabled" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestManagerCancelsAppointment(t *testing.T) {
	h := startHall(t)
	m := h.token(t, web.RoleManager, 0)
	if r := h.do(t, "POST", "/api/v1/manager/appointments", m, map[string]any{"code": "YY-0009", "item": "HR-002"}); r.status != 201 {
		t.Fatalf("book: %d %s", r.status, r.body)
	}
	if r := h.do(t, "POST", "/api/v1/manager/appointments", m, map[string]any{"code": "YY-0009", "item": "HR-002"}); r.status != 200 {
		t.Fatalf("the same booking again: %d %s", r.status, r.body)
	}
	r := h.do(t, "POST", "/api/v1/manager/appointments", m, map[string]any{"code": "11010519491231002X", "item": "HR-002"})
	if p := r.problem(t); p.Code != "bad_request" {
		t.Fatalf("an ID number as code: %d %s", r.status, r.body)
	}
	var a ctl.Appointment
	r = h.do(t, "POST", "/api/v1/manager/appointments/yy-0009/cancel", m, map[string]any{"reason": "窗口调整"})
	r.decode(t, &a)
	if r.status != 200 || a.State != ctl.ApptCancelled {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	r = h.do(t, "POST", "/api/v1/appointments/YY-0009/checkin", "", map[string]any{})
	if p := r.problem(t); r.status != 409 || p.Code != "booking_cancelled" {
		t.Fatalf("check-in of a cancelled booking: %d %s", r.status, r.body)
	}
	var audit []ctl.AuditEntry
	h.do(t, "GET", "/api/v1/manager/audit", m, nil).decode(t, &audit)
	if len(audit) < 2 || audit[0].Action.Type != "cancel_appointment" || audit[1].Action.Type != "book_appointment" || audit[0].Actor != "manager-test" {
		t.Fatalf("audit: %+v", audit)
	}
}

// The notice is set through ctl: the screen shows it, the stream carries
// it, the audit log has it; a too long one is refused.
func TestNotice(t *testing.T) {
	h := startHall(t)
	m := h.token(t, web.RoleManager, 0)
	var sc web.Screen
	h.do(t, "GET", "/api/v1/screen", "", nil).decode(t, &sc)
	if sc.Notice != ctl.DefaultNotice {
		t.Fatalf("default notice %q", sc.Notice)
	}
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(h.base, "http", "ws", 1)+"/api/v1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var hello web.StreamMsg
	if err := ws.ReadJSON(&hello); err != nil || hello.Kind != "hello" {
		t.Fatalf("hello: %+v %v", hello, err)
	}
	if r := h.do(t, "PUT", "/api/v1/manager/notice", m, map[string]any{"text": "午间 12:00-13:30 部分窗口暂停"}); r.status != 200 {
		t.Fatalf("set: %d %s", r.status, r.body)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var msg web.StreamMsg
		if err := ws.ReadJSON(&msg); err != nil {
			t.Fatal(err)
		}
		if msg.Kind == "notice" {
			if msg.Notice != "午间 12:00-13:30 部分窗口暂停" {
				t.Fatalf("stream: %+v", msg)
			}
			break
		}
	}
	h.do(t, "GET", "/api/v1/screen", "", nil).decode(t, &sc)
	if sc.Notice != "午间 12:00-13:30 部分窗口暂停" {
		t.Fatalf("screen notice %q", sc.Notice)
	}
	r := h.do(t, "PUT", "/api/v1/manager/notice", m, map[string]any{"text": strings.Repeat("长", 301)})
	if p := r.problem(t); r.status != 400 || p.Code != "bad_request" {
		t.Fatalf("long notice: %d %s", r.status, r.body)
	}
	if r := h.do(t, "PUT", "/api/v1/manager/notice", "", map[string]any{"text": "x"}); r.status != 401 {
		t.Fatalf("without a token: %d", r.status)
	}
	var audit []ctl.AuditEntry
	h.do(t, "GET", "/api/v1/manager/audit", m, nil).decode(t, &audit)
	if len(audit) == 0 || audit[0].Action.Type != "set_notice" || audit[0].Detail != "午间 12:00-13:30 部分窗口暂停" {
		t.Fatalf("audit: %+v", audit)
	}
}
