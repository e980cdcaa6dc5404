package button

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

type ctlFlag struct{ up atomic.Bool }

func (c *ctlFlag) Reachable() bool { return c.up.Load() }

type memKV struct {
	mu   sync.Mutex
	m    map[string][]byte
	fail bool
}

func (k *memKV) Get(_ context.Context, key string) ([]byte, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok, nil
}

func (k *memKV) Put(_ context.Context, key string, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail {
		return errors.New("disk full")
	}
	k.m[key] = append([]byte(nil), v...)
	return nil
}

type printerPeer struct {
	mu     sync.Mutex
	dev    []string
	prints []wire.Print
	result device.Result
}

func (p *printerPeer) Run(_ context.Context, dev, name string, args any) device.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dev = append(p.dev, dev)
	if name == wire.CmdPrint {
		p.prints = append(p.prints, args.(wire.Print))
	}
	if p.result.Status == "" {
		return device.Done
	}
	return p.result
}

type leaseRig struct {
	b     *Button
	clk   *clockwork.FakeClock
	ctl   *ctlFlag
	kv    *memKV
	peer  *printerPeer
	rec   *recorder
	start time.Time
}

func newLeaseRig(t *testing.T, offline string) *leaseRig {
	t.Helper()
	loc, _ := time.LoadLocation("Asia/Shanghai")
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, loc)
	r := &leaseRig{clk: clockwork.NewFakeClockAt(start), ctl: &ctlFlag{}, kv: &memKV{m: map[string][]byte{}},
		peer: &printerPeer{}, rec: &recorder{}, start: start}
	raw := &gpiotest.Pin{N: "T_BTN", L: gpio.High, EdgesChan: make(chan gpio.Level, 16), Clock: r.clk}
	cfg := device.Config{ID: "btn-1", Pin: "T_BTN", Item: "HR-001", Printer: "printer-1"}
	if offline != "" {
		if err := cfg.Options.Encode(map[string]any{"offline": offline == "on"}); err != nil {
			t.Fatal(err)
		}
	}
	env := device.Env{Clock: r.clk, Events: r.rec, OpenPin: func(string) (gpio.PinIO, error) { return raw, nil },
		Ctl: r.ctl, KV: r.kv, Peers: r.peer}
	d, err := New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	r.b = d.(*Button)
	return r
}

func (r *leaseRig) lease(t *testing.T, from, to int, expires time.Time) device.Result {
	t.Helper()
	l := wire.Lease{Item: "HR-001", From: from, To: to, Expires: wire.At(expires), Prefix: "A", Hall: "测试大厅",
		ItemName: "社保卡", TZ: "Asia/Shanghai"}
	return r.b.Handle(context.Background(), wire.CmdLease, wire.Marshal(l))
}

func (r *leaseRig) tickets() []string {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	var out []string
	for _, p := range r.rec.events {
		out = append(out, p.Ticket)
	}
	return out
}

func TestOfflinePressesUseTheLease(t *testing.T) {
	r := newLeaseRig(t, "")
	ctx := context.Background()
	if caps := r.b.Caps(); len(caps) != 1 || caps[0] != wire.CapLease {
		t.Fatalf("caps %v", caps)
	}
	eod := r.start.Add(15 * time.Hour)
	if res := r.lease(t, 3, 5, eod); res.Status != wire.AckDone {
		t.Fatalf("lease: %+v", res)
	}
	// Online: a plain press, nothing printed here.
	r.ctl.up.Store(true)
	r.b.onPress(ctx)
	// Offline: A003, A004, A005 printed here, then the lease is used up.
	r.ctl.up.Store(false)
	for range 4 {
		r.clk.Advance(time.Minute)
		r.b.onPress(ctx)
	}
	// The same lease re-sent does not give the numbers back.
	if res := r.lease(t, 3, 5, eod); res.Status != wire.AckDone {
		t.Fatalf("lease again: %+v", res)
	}
	r.b.onPress(ctx)
	want := []string{"", "A003", "A004", "A005", "", ""}
	if got := r.tickets(); len(got) != len(want) || got[1] != "A003" || got[2] != "A004" || got[3] != "A005" || got[0] != "" || got[4] != "" || got[5] != "" {
		t.Fatalf("press tickets %q, want %q", got, want)
	}
	if len(r.peer.prints) != 3 {
		t.Fatalf("printed %d tickets, want 3", len(r.peer.prints))
	}
	p := r.peer.prints[0]
	if r.peer.dev[0] != "printer-1" || p.Template != wire.TemplateTicket || p.Fields.Number != "A003" ||
		p.Fields.EtaText != EtaOffline || p.Fields.Hall != "测试大厅" || p.Fields.Item != "社保卡" ||
		p.Fields.IssuedAt != "2026-11-23 09:01" {
		t.Fatalf("offline print %s %+v", r.peer.dev[0], p)
	}
	// A newer block replaces it; an older one changes nothing.
	r.lease(t, 30, 31, eod)
	r.lease(t, 10, 12, eod)
	r.b.onPress(ctx)
	if got := r.tickets(); got[len(got)-1] != "A030" {
		t.Fatalf("after a new lease: %q", got)
	}
}

func TestOfflineLeaseExpiredOrPrintFailed(t *testing.T) {
	r := newLeaseRig(t, "")
	ctx := context.Background()
	r.lease(t, 1, 5, r.start.Add(time.Hour))
	// The printer fails: the number is spent, the press goes out plain.
	r.peer.result = device.Failed("paper_out", errors.New("paper out"))
	r.b.onPress(ctx)
	r.peer.result = device.Result{}
	r.b.onPress(ctx)
	// Expired: plain press, nothing printed.
	r.clk.Advance(time.Hour)
	r.b.onPress(ctx)
	if got := r.tickets(); len(got) != 3 || got[0] != "" || got[1] != "A002" || got[2] != "" {
		t.Fatalf("tickets %q, want \"\", A002, \"\"", got)
	}
	// A store that cannot record the spent number: the number is not used.
	r2 := newLeaseRig(t, "")
	r2.lease(t, 1, 5, r2.start.Add(time.Hour))
	r2.kv.fail = true
	r2.b.onPress(ctx)
	if got := r2.tickets(); len(got) != 1 || got[0] != "" || len(r2.peer.prints) != 0 {
		t.Fatalf("with a failing store: tickets %q, %d prints", got, len(r2.peer.prints))
	}
	if res := r2.lease(t, 6, 9, r2.start.Add(time.Hour)); res.Status != wire.AckFailed || res.Code != CodeState {
		t.Fatalf("lease not stored acked %+v", res)
	}
}

func TestOfflineOffAndBadLeases(t *testing.T) {
	r := newLeaseRig(t, "off")
	if caps := r.b.Caps(); len(caps) != 0 {
		t.Fatalf("caps with offline off: %v", caps)
	}
	if res := r.lease(t, 1, 5, r.start.Add(time.Hour)); res.Status != wire.AckRejected || res.Code != CodeOfflineOff {
		t.Fatalf("lease with offline off: %+v", res)
	}
	r.b.onPress(context.Background())
	if got := r.tickets(); len(got) != 1 || got[0] != "" {
		t.Fatalf("offline off: %q", got)
	}
	on := newLeaseRig(t, "on")
	other := wire.Lease{Item: "TX-001", From: 1, To: 2, Expires: wire.At(on.start.Add(time.Hour)), Prefix: "B"}
	if res := on.b.Handle(context.Background(), wire.CmdLease, wire.Marshal(other)); res.Code != CodeWrongItem {
		t.Fatalf("lease for another item: %+v", res)
	}
	if res := on.b.Handle(context.Background(), wire.CmdLease, []byte(`{"item":"HR-001","from":5,"to":4}`)); res.Code != CodeBadArgs {
		t.Fatalf("bad lease: %+v", res)
	}
	if res := on.b.Handle(context.Background(), wire.CmdPrint, []byte(`{}`)); res.Status != wire.AckRejected {
		t.Fatalf("print to a button: %+v", res)
	}
}
