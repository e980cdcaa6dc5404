package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
)

const pushSecret = "0123456789abcdef-push"

const apptHall = hoursHall + "appointments: {expire_after_min: 30, push_secret: " + pushSecret + "}\n"

var apptLoc = shanghai()

// apptHarness is a controller on a store at a fixed path, which can be
// closed and opened again (a restart).
type apptHarness struct {
	t     *testing.T
	path  string
	yaml  string
	clock *clockwork.FakeClock
	st    *store.Log
	c     *Controller
}

func newApptHarness(t *testing.T, yaml string) *apptHarness {
	h := &apptHarness{t: t, path: filepath.Join(t.TempDir(), "hallctl.db"), yaml: yaml,
		clock: clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 10, 0, 0, 0, apptLoc))}
	h.open()
	t.Cleanup(func() { h.st.Close() })
	return h
}

func (h *apptHarness) open() {
	h.t.Helper()
	cfg, err := config.Parse("t.yaml", []byte(h.yaml))
	if err != nil {
		h.t.Fatal(err)
	}
	h.st, err = store.Open(context.Background(), h.path, store.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.c, err = New(context.Background(), Options{Config: cfg, Clock: h.clock, Store: h.st,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		h.t.Fatal(err)
	}
}

// restart closes the store and builds a new controller from it.
func (h *apptHarness) restart() {
	h.t.Helper()
	if err := h.st.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

// records lists the types of the appointment stream's records.
func (h *apptHarness) records() []string {
	var out []string
	err := h.st.Read(context.Background(), AppointmentStream, 0, func(r store.Record) error {
		var a Appointment
		_ = json.Unmarshal(r.Data, &a)
		out = append(out, r.Type+":"+a.Code)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func at(hhmm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", "2026-11-23 "+hhmm, apptLoc)
	if err != nil {
		panic(err)
	}
	return t
}

func (h *apptHarness) book(bk Booking) Appointment {
	h.t.Helper()
	a, _, err := h.c.Book(context.Background(), bk, "manager")
	if err != nil {
		h.t.Fatalf("book %s: %v", bk.Code, err)
	}
	return a
}

func TestAppointmentLifecycle(t *testing.T) {
	h := newApptHarness(t, apptHall)
	ctx := context.Background()
	c := h.c
	a := h.book(Booking{Code: "yy-0001", Item: "HR-001", Slot: at("10:30"), By: "m1"})
	if a.Code != "YY-0001" || a.State != ApptBooked || !a.Expires.Equal(at("11:00")) {
		t.Fatalf("booked %+v, want YY-0001 booked expiring 11:00", a)
	}
	// The same booking again changes nothing; no slot means "today".
	if _, changed, err := c.Book(ctx, Booking{Code: "YY-0001", Item: "HR-001", Slot: at("10:30")}, "manager"); err != nil || changed {
		t.Fatalf("same booking again: changed %v, %v", changed, err)
	}
	b := h.book(Booking{Code: "YY-0002", Item: "HR-001"})
	if !b.Expires.Equal(time.Date(2026, 11, 24, 0, 0, 0, 0, apptLoc)) {
		t.Fatalf("booking without a slot expires %s, want the end of the day", b.Expires)
	}

	// Check-in issues the appointment-class ticket once.
	t1, err := c.CheckIn(ctx, "yy-0001", "", "")
	if err != nil || t1.Class != queue.Appointment.String() || t1.Duplicate {
		t.Fatalf("check-in: %+v %v", t1, err)
	}
	t2, err := c.CheckIn(ctx, "YY-0001", "", "")
	if err != nil || t2.ID != t1.ID || !t2.Duplicate {
		t.Fatalf("second check-in: %+v %v, want ticket %d again", t2, err, t1.ID)
	}
	if n := c.Snapshot().Items[0].Waiting; n != 1 {
		t.Fatalf("%d tickets waiting, want 1", n)
	}
	if got, _ := c.AppointmentByCode("YY-0001"); got.State != ApptCheckedIn || got.Ticket != t1.ID || got.Number != t1.Number {
		t.Fatalf("after check-in: %+v", got)
	}
	if _, err := c.Cancel(ctx, "YY-0001", "", "m1", "manager"); !errors.Is(err, ErrAlreadyCheckedIn) || Code(err) != "already_checked_in" {
		t.Fatalf("cancel after check-in: %v", err)
	}
	if _, _, err := c.Book(ctx, Booking{Code: "YY-0001", Item: "HR-001"}, "manager"); !errors.Is(err, ErrAlreadyCheckedIn) {
		t.Fatalf("re-book after check-in: %v", err)
	}

	// Cancelled: refused at check-in.
	if x, err := c.Cancel(ctx, "yy-0002", "改期", "m1", "manager"); err != nil || x.State != ApptCancelled {
		t.Fatalf("cancel: %+v %v", x, err)
	}
	if _, err := c.CheckIn(ctx, "YY-0002", "", ""); !errors.Is(err, ErrAppointmentCancelled) || Code(err) != "booking_cancelled" {
		t.Fatalf("check-in of a cancelled booking: %v", err)
	}
	if _, err := c.CheckIn(ctx, "NOPE-0000", "", ""); Code(err) != "unknown_appointment" {
		t.Fatalf("unknown code: %v", err)
	}

	// Expiry by the clock: lazily at check-in (recorded), and by the sweep.
	h.book(Booking{Code: "YY-0003", Item: "HR-001", Slot: at("10:00")})
	h.book(Booking{Code: "YY-0004", Item: "HR-001", Slot: at("10:10")})
	h.clock.Advance(at("10:30").Sub(h.clock.Now()))
	if _, err := c.CheckIn(ctx, "YY-0003", "", ""); !errors.Is(err, ErrAppointmentExpired) || Code(err) != "appointment_expired" {
		t.Fatalf("check-in at 10:30 of the 10:00 slot: %v", err)
	}
	if _, err := c.CheckIn(ctx, "YY-0003", "", ""); !errors.Is(err, ErrAppointmentExpired) {
		t.Fatalf("again: %v", err)
	}
	if err := c.sweepAppointments(ctx); err != nil {
		t.Fatal(err)
	}
	if x, _ := c.AppointmentByCode("YY-0004"); x.State != ApptBooked {
		t.Fatalf("10:10 slot at 10:30: %s, want still booked", x.State)
	}
	h.clock.Advance(at("10:40").Sub(h.clock.Now()))
	if err := c.sweepAppointments(ctx); err != nil {
		t.Fatal(err)
	}
	if x, _ := c.AppointmentByCode("YY-0004"); x.State != ApptExpired {
		t.Fatalf("10:10 slot at 10:40: %s, want expired", x.State)
	}
	if err := c.sweepAppointments(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"created:YY-0001", "created:YY-0002", "checked_in:YY-0001", "cancelled:YY-0002",
		"created:YY-0003", "created:YY-0004", "expired:YY-0003", "expired:YY-0004"}
	if got := h.records(); !equalStrings(got, want) {
		t.Fatalf("appointment log:\n got %v\nwant %v", got, want)
	}
	// An expired code may be booked again.
	if x := h.book(Booking{Code: "YY-0003", Item: "HR-001", Slot: at("11:00")}); x.State != ApptBooked {
		t.Fatalf("re-book: %+v", x)
	}
	if _, err := c.CheckIn(ctx, "YY-0003", "", ""); err != nil {
		t.Fatalf("check-in of the re-booked code: %v", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBookingRefusals(t *testing.T) {
	h := newApptHarness(t, apptHall)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		bk   Booking
		code string
	}{
		{"short code", Booking{Code: "AB", Item: "HR-001"}, "bad_request"},
		{"an ID number as code", Booking{Code: "11010519491231002X", Item: "HR-001"}, "bad_request"},
		{"unknown item", Booking{Code: "YY-0009", Item: "NOPE"}, "unknown_item"},
		{"past slot", Booking{Code: "YY-0009", Item: "HR-001", Slot: at("08:00")}, "bad_request"},
		{"expires before slot", Booking{Code: "YY-0009", Item: "HR-001", Slot: at("11:00"), Expires: at("10:30")}, "bad_request"},
	} {
		if _, _, err := h.c.Book(ctx, tc.bk, "manager"); Code(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if got := h.records(); len(got) != 0 {
		t.Errorf("refused bookings recorded %v", got)
	}
}

// A booking's contact is kept masked; the raw name and number are in no
// record.
func TestBookingContactIsMasked(t *testing.T) {
	h := newApptHarness(t, apptHall)
	a := h.book(Booking{Code: "YY-0005", Item: "HR-001", Name: "张三丰", Phone: "138-1234-5678"})
	if a.Contact == nil || a.Contact.MaskedName != "张*丰" || a.Contact.MaskedPhone != "138****5678" {
		t.Fatalf("contact %+v", a.Contact)
	}
	err := h.st.Read(context.Background(), "", 0, func(r store.Record) error {
		if bytes.Contains(r.Data, []byte("张三丰")) || bytes.Contains(r.Data, []byte("12345678")) {
			t.Errorf("raw contact in record %s/%s: %s", r.Stream, r.Type, r.Data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// push builds and applies a signed push.
type pusher struct {
	secret []byte
	path   string
}

func (p pusher) request(body any, ts time.Time, nonce string) PushRequest {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", p.path, bytes.NewReader(b))
	SignPushRequest(req, p.secret, ts, nonce, b)
	return PushRequest{Method: "POST", Path: p.path, Timestamp: req.Header.Get("X-Servicehall-Timestamp"),
		Nonce: req.Header.Get(HeaderNonce), Signature: req.Header.Get("X-Servicehall-Signature"), Body: b}
}

func TestSignedPush(t *testing.T) {
	h := newApptHarness(t, apptHall)
	ctx := context.Background()
	p := pusher{secret: []byte(pushSecret), path: "/api/v1/appointments/push"}
	now := h.clock.Now()
	create := AppointmentPush{Op: "create", Code: "WB-1001", Item: "HR-001", Slot: at("11:00"), Contact: &PushContact{Name: "李四", Phone: "13900001111"}}
	first := p.request(create, now, "nonce-0000000000000001")
	res, err := h.c.Push(ctx, first)
	if err != nil || !res.Changed || res.Appointment.State != ApptBooked || res.Appointment.By != "push" || res.Appointment.Contact.MaskedName != "李*" {
		t.Fatalf("push: %+v %v", res, err)
	}
	refusals := func(code string) float64 { return counter(t, h.c, "servicehall_appointment_pushes_total", code) }

	// The same request again is a replay.
	if _, err := h.c.Push(ctx, first); Code(err) != "replayed_nonce" {
		t.Fatalf("replay: %v", err)
	}
	// A body, path or method other than the signed one, another key.
	tampered := first
	tampered.Body = bytes.Replace(first.Body, []byte("HR-001"), []byte("HR-002"), 1)
	other := first
	other.Path = "/api/v1/appointments/push2"
	bad := pusher{secret: []byte("another-secret-0000"), path: p.path}.request(create, now, "nonce-0000000000000002")
	for name, req := range map[string]PushRequest{"body": tampered, "path": other, "key": bad} {
		if _, err := h.c.Push(ctx, req); Code(err) != "bad_signature" {
			t.Errorf("%s changed: %v, want bad_signature", name, err)
		}
	}
	stale := p.request(create, now.Add(-PushMaxSkew-time.Second), "nonce-0000000000000003")
	if _, err := h.c.Push(ctx, stale); Code(err) != "signature_skew" {
		t.Errorf("stale: %v", err)
	}
	unsigned := first
	unsigned.Signature = ""
	if _, err := h.c.Push(ctx, unsigned); Code(err) != "unsigned" {
		t.Errorf("unsigned: %v", err)
	}
	if _, err := h.c.Push(ctx, p.request(map[string]any{"op": "create", "code": "WB-1002", "item": "HR-001", "id_number": "x"}, now, "nonce-0000000000000004")); Code(err) != "bad_request" {
		t.Errorf("unknown field: %v", err)
	}
	if refusals("replayed_nonce") != 1 || refusals("bad_signature") != 3 || refusals("signature_skew") != 1 ||
		refusals("unsigned") != 1 || refusals("bad_request") != 1 || refusals("accepted") != 1 {
		t.Errorf("counters: replayed %v bad_signature %v skew %v unsigned %v bad_request %v accepted %v",
			refusals("replayed_nonce"), refusals("bad_signature"), refusals("signature_skew"), refusals("unsigned"),
			refusals("bad_request"), refusals("accepted"))
	}
	if got := h.records(); !equalStrings(got, []string{"created:WB-1001"}) {
		t.Fatalf("refused pushes recorded: %v", got)
	}

	// A cancel push; then, after a restart, the first push replayed is
	// still refused (the nonce is durable).
	if res, err := h.c.Push(ctx, p.request(AppointmentPush{Op: "cancel", Code: "WB-1001", Reason: "用户取消"}, now, "nonce-0000000000000005")); err != nil || res.Appointment.State != ApptCancelled {
		t.Fatalf("cancel push: %+v %v", res, err)
	}
	h.restart()
	if _, err := h.c.Push(ctx, first); Code(err) != "replayed_nonce" {
		t.Fatalf("replay after restart: %v", err)
	}
	if a, _ := h.c.AppointmentByCode("WB-1001"); a.State != ApptCancelled {
		t.Fatalf("after restart: %+v", a)
	}
	// Nonces too old to be accepted anyway are dropped by the sweep.
	h.clock.Advance(PushMaxSkew + time.Minute)
	if err := h.c.sweepAppointments(ctx); err != nil {
		t.Fatal(err)
	}
	if kvs, _ := h.st.List(ctx, nonceBucket); len(kvs) != 0 {
		t.Errorf("%d old nonces kept", len(kvs))
	}
	if _, err := h.c.Push(ctx, first); Code(err) != "signature_skew" {
		t.Errorf("old replay: %v, want signature_skew", err)
	}
}

func TestPushesDisabledWithoutSecret(t *testing.T) {
	h := newApptHarness(t, hoursHall)
	p := pusher{secret: []byte(pushSecret), path: "/api/v1/appointments/push"}
	_, err := h.c.Push(context.Background(), p.request(AppointmentPush{Op: "create", Code: "WB-1", Item: "HR-001"}, h.clock.Now(), "nonce-0000000000000001"))
	if Code(err) != "pushes_disabled" {
		t.Fatalf("%v", err)
	}
}

// The book, the check-in's ticket and the notice are rebuilt from the log
// after a restart.
func TestAppointmentsAndNoticeSurviveRestart(t *testing.T) {
	h := newApptHarness(t, apptHall)
	ctx := context.Background()
	if h.c.Notice() != DefaultNotice {
		t.Fatalf("notice %q, want the default", h.c.Notice())
	}
	sub := h.c.Subscribe(8)
	defer sub.Close()
	if _, err := h.c.SetNotice(ctx, "今日 16:00 停止取号", "m1", "manager"); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-sub.C:
		if ev.Kind != "notice" || ev.Notice != "今日 16:00 停止取号" {
			t.Fatalf("feed: %+v", ev)
		}
	default:
		t.Fatal("the notice was not published after its commit")
	}
	if _, err := h.c.SetNotice(ctx, string(make([]rune, MaxNoticeRunes+1)), "m1", "manager"); Code(err) != "bad_request" {
		t.Fatalf("long notice: %v", err)
	}
	h.book(Booking{Code: "YY-0001", Item: "HR-001", Slot: at("10:30")})
	h.book(Booking{Code: "YY-0002", Item: "HR-001", Slot: at("11:30"), Name: "王五"})
	h.book(Booking{Code: "YY-0003", Item: "HR-001"})
	tk, err := h.c.CheckIn(ctx, "YY-0001", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Cancel(ctx, "YY-0003", "", "m1", "manager"); err != nil {
		t.Fatal(err)
	}
	before := h.c.Appointments()

	h.restart()
	if got := h.c.Notice(); got != "今日 16:00 停止取号" {
		t.Fatalf("notice after restart %q", got)
	}
	after := h.c.Appointments()
	if len(after) != len(before) {
		t.Fatalf("book after restart %+v, before %+v", after, before)
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.Code != b.Code || a.State != b.State || a.Ticket != b.Ticket || !a.Expires.Equal(b.Expires) || sameContact(a.Contact, b.Contact) == false {
			t.Errorf("booking %d after restart %+v, before %+v", i, a, b)
		}
	}
	again, err := h.c.CheckIn(ctx, "YY-0001", "", "")
	if err != nil || again.ID != tk.ID || !again.Duplicate {
		t.Fatalf("check-in after restart: %+v %v, want ticket %d", again, err, tk.ID)
	}
	if _, err := h.c.CheckIn(ctx, "YY-0002", "", ""); err != nil {
		t.Fatalf("check-in of a booking made before the restart: %v", err)
	}
	es, err := h.c.Audit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range es {
		kinds[e.Action.Type]++
	}
	if kinds["set_notice"] != 1 || kinds["book_appointment"] != 3 || kinds["cancel_appointment"] != 1 {
		t.Errorf("audit: %v", kinds)
	}
}

// A large book is restored from a snapshot after the first long replay.
func TestAppointmentSnapshot(t *testing.T) {
	h := newApptHarness(t, apptHall)
	ctx := context.Background()
	for i := range apptSnapshotEvery + 5 {
		h.book(Booking{Code: "S-" + strconv.Itoa(10000+i), Item: "HR-001"})
	}
	h.restart() // replays everything, saves a snapshot
	snap, err := h.st.LatestSnapshot(ctx, AppointmentStream)
	if err != nil {
		t.Fatalf("no snapshot: %v", err)
	}
	h.book(Booking{Code: "S-AFTER", Item: "HR-001"})
	h.restart()
	if n := len(h.c.Appointments()); n != apptSnapshotEvery+6 {
		t.Fatalf("%d bookings after restore from the snapshot (upto %d)", n, snap.Upto)
	}
}

// counter reads a counter of the controller's registry by its one label.
func counter(t *testing.T, c *Controller, name, label string) float64 {
	t.Helper()
	mfs, err := c.o.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if ls := m.GetLabel(); len(ls) == 1 && ls[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// The expiry loop (owned by Run's errgroup) records the expiry once the
// controller's clock passes it, and stops with its context.
func TestExpiryLoopFollowsTheClock(t *testing.T) {
	h := newApptHarness(t, apptHall)
	expired := make(chan string, 4)
	h.st.OnCommit(func(recs []store.Record) {
		for _, r := range recs {
			if r.Stream == AppointmentStream && r.Type == ApptExpired {
				var a Appointment
				_ = json.Unmarshal(r.Data, &a)
				expired <- a.Code
			}
		}
	})
	h.book(Booking{Code: "YY-0007", Item: "HR-001", Slot: at("10:05")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.c.runAppointments(ctx) }()
	if err := h.clock.BlockUntilContext(ctx, 1); err != nil { // the loop's ticker
		t.Fatal(err)
	}
	h.clock.Advance(at("10:35").Sub(h.clock.Now()))
	if code := <-expired; code != "YY-0007" {
		t.Fatalf("expired %s", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("loop: %v", err)
	}
	if a, _ := h.c.AppointmentByCode("YY-0007"); a.State != ApptExpired {
		t.Fatalf("state %s", a.State)
	}
}
