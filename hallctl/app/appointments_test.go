package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/ctl"
)

// Show: appointments and the notice survive a restart. A booking pushed by
// the booking platform (signed), a check-in, a manager's booking and the
// hall notice, all over HTTP; after hallctl restarts on the same state
// directory the book, the check-in's ticket and the notice are as they
// were, and the platform's push replayed is still refused.
func TestAppointmentsAndNoticeSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(t.TempDir(), "push.secret")
	if err := os.WriteFile(secretFile, []byte("push-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := caseConfig(t, "appointments: {push_secret_file: "+secretFile+"}\n")
	a, stop := startWith(t, dir, cfg, nil)
	defer func() { stop() }()
	base := "http://" + a.HTTPAddr()
	tok := managerToken(t, dir, time.Now())

	// The platform's signed push.
	body, _ := json.Marshal(ctl.AppointmentPush{Op: "create", Code: "WB-2026-0001", Item: "HR-001",
		Slot: time.Now().Add(20 * time.Minute), Contact: &ctl.PushContact{Name: "赵六", Phone: "13700001234"}})
	req, _ := http.NewRequest("POST", base+"/api/v1/appointments/push", bytes.NewReader(body))
	ctl.SignPushRequest(req, []byte("push-secret-0123456789"), time.Now(), "platform-nonce-00000001", body)
	push := func() (int, []byte) {
		st, _, b := call(t, "POST", base+"/api/v1/appointments/push", "", body, req.Header)
		return st, b
	}
	if st, b := push(); st != 201 {
		t.Fatalf("push: %d %s", st, b)
	}
	if st, _, b := call(t, "POST", base+"/api/v1/manager/appointments", tok, []byte(`{"code":"MG-0001","item":"HR-002"}`), nil); st != 201 {
		t.Fatalf("manager booking: %d %s", st, b)
	}
	st, _, b := call(t, "POST", base+"/api/v1/appointments/wb-2026-0001/checkin", "", []byte(`{}`), nil)
	var tk ticketAnswer
	if err := json.Unmarshal(b, &tk); st != 201 || err != nil {
		t.Fatalf("check-in: %d %s", st, b)
	}
	if st, _, b := call(t, "PUT", base+"/api/v1/manager/notice", tok, []byte(`{"text":"系统维护：16:30 停止取号"}`), nil); st != 200 {
		t.Fatalf("notice: %d %s", st, b)
	}
	stop()

	a2, stop2 := startWith(t, dir, cfg, nil)
	defer stop2()
	base = "http://" + a2.HTTPAddr()
	var screen struct{ Notice string }
	_, _, b = call(t, "GET", base+"/api/v1/screen", "", nil, nil)
	if err := json.Unmarshal(b, &screen); err != nil || screen.Notice != "系统维护：16:30 停止取号" {
		t.Fatalf("notice after restart: %s", b)
	}
	var book []ctl.Appointment
	_, _, b = call(t, "GET", base+"/api/v1/manager/appointments", tok, nil, nil)
	if err := json.Unmarshal(b, &book); err != nil || len(book) != 2 {
		t.Fatalf("book after restart: %s", b)
	}
	states := map[string]ctl.Appointment{}
	for _, x := range book {
		states[x.Code] = x
	}
	if x := states["WB-2026-0001"]; x.State != ctl.ApptCheckedIn || x.Ticket != tk.ID || x.Contact == nil || x.Contact.MaskedName != "赵*" {
		t.Errorf("pushed booking after restart: %+v", x)
	}
	if x := states["MG-0001"]; x.State != ctl.ApptBooked || x.Item != "HR-002" || x.By != "m01" {
		t.Errorf("manager's booking after restart: %+v", x)
	}
	if bytes.Contains(b, []byte("赵六")) || bytes.Contains(b, []byte("13700001234")) {
		t.Errorf("raw contact served: %s", b)
	}
	st, _, b = call(t, "POST", base+"/api/v1/appointments/WB-2026-0001/checkin", "", []byte(`{}`), nil)
	var again ticketAnswer
	if err := json.Unmarshal(b, &again); st != 200 || err != nil || again.ID != tk.ID || again.Number != tk.Number {
		t.Errorf("check-in after restart: %d %s, want ticket %s again", st, b, tk.Number)
	}
	if st, b := push(); st != 409 || !bytes.Contains(b, []byte("replayed_nonce")) {
		t.Errorf("replayed push after restart: %d %s", st, b)
	}
}
