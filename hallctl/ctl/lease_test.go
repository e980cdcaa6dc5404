package ctl

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/wire"
)

var dispenserDevices = []wire.DeviceInfo{
	{ID: "prn-1", Kind: wire.KindPrinter},
	{ID: "btn-1", Kind: wire.KindButton, Item: "HR-001", Printer: "prn-1", Caps: []string{wire.CapLease}},
}

func nextLease(t *testing.T, a *agent) (wire.Lease, cmdSeen) {
	t.Helper()
	c := a.next()
	if c.Device != "btn-1" || c.Name != wire.CmdLease {
		t.Fatalf("got %s/%s %s, want btn-1/lease", c.Device, c.Name, c.Msg.Args)
	}
	return args[wire.Lease](t, c), c
}

// pressLeased emits a press of a number the dispenser printed from its
// lease at printed.
func pressLeased(a *agent, number string, printed time.Time) wire.EventMsg {
	a.mu.Lock()
	a.seq++
	ev := wire.NewEvent(printed, "s1", a.seq, wire.Press{Item: "HR-001", Ticket: number})
	a.mu.Unlock()
	a.emitMsg("btn-1", wire.EvtPress, ev)
	return ev
}

// A dispenser that can number offline holds a lease from the moment it is
// online: online tickets continue after the block, offline tickets enter
// the queue by their print time without a print, once; a number outside
// the lease or used twice is refused; a block running low is topped up.
func TestLeaseGrantedAndLeasedPresses(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", dispenserDevices...)
	k.status("btn-1", wire.StateOnline, "")
	l, _ := nextLease(t, k)
	endOfDay := time.Date(2026, 11, 24, 0, 0, 0, 0, shanghai())
	if l.Item != "HR-001" || l.From != 1 || l.To != 20 || l.Prefix != "A" || !l.Expires.Equal(endOfDay) ||
		l.Hall != "测试大厅" || l.ItemName != "社保卡" {
		t.Fatalf("lease %+v", l)
	}
	ctx := context.Background()
	on, err := r.c.Issue(ctx, IssueRequest{Item: "HR-001"}, "kiosk-1", "prn-1")
	if err != nil || on.Number != "A021" {
		t.Fatalf("online ticket after a lease of 1–20: %+v %v", on, err)
	}
	k.next() // its print

	printed := r.clock.Now().Add(-2 * time.Minute)
	ev := pressLeased(k, "A001", printed)
	r.waitFor("the offline ticket entered", func() bool { _, ok := r.c.FindTicket("A001"); return ok })
	if tv := r.ticket("A001"); !tv.IssuedAt.Equal(printed.Truncate(time.Millisecond)) || tv.State != queue.Waiting {
		t.Fatalf("offline ticket %+v, printed %s", tv, printed)
	}
	k.emitMsg("btn-1", wire.EvtPress, ev) // redelivered: nothing more
	pressLeased(k, "A001", r.clock.Now()) // used twice
	pressLeased(k, "A050", r.clock.Now()) // not leased
	for i := 2; i <= 16; i++ {            // 16 of 20 used: fewer than 5 left
		pressLeased(k, queue.Number("A", i), r.clock.Now())
	}
	l2, _ := nextLease(t, k)
	if l2.From != 22 || l2.To != 41 {
		t.Fatalf("top-up lease %d–%d, want 22–41", l2.From, l2.To)
	}
	if n := len(r.c.Snapshot().Waiting); n != 17 {
		t.Fatalf("waiting %d, want 16 offline + 1 online", n)
	}
	if logs := r.logs.String(); strings.Count(logs, "offline ticket refused") != 2 {
		t.Fatalf("refusals logged %d times, want 2:\n%s", strings.Count(logs, "offline ticket refused"), logs)
	}
	k.none() // offline tickets print nothing
}

// A dispenser that refuses leases (offline numbering off on the agent) is
// not asked again until its agent announces itself again; a lost cmd/lease
// is sent again.
func TestLeaseRefusedAndLost(t *testing.T) {
	t.Parallel()
	r := startedRig(t)
	k := r.newAgent("kiosk-1", dispenserDevices...)
	k.answer("btn-1", wire.AckRejected, "leases_off")
	k.status("btn-1", wire.StateOnline, "")
	_, c := nextLease(t, k)
	key := "kiosk-1/btn-1\x00HR-001"
	r.barrier(k, "prn-1")
	r.c.leases.mu.Lock()
	s := r.c.leases.sent[key]
	r.c.leases.mu.Unlock()
	if s.state != "refused" || s.refused != "leases_off" || s.from != 1 {
		t.Fatalf("refusal %+v", s)
	}
	if !strings.Contains(r.logs.String(), "lease refused by the dispenser") {
		t.Fatal("a refused lease was not logged")
	}
	r.c.ensureLeases(context.Background())
	r.barrier(k, "prn-1") // fails on a lease command before its print
	// The agent comes back with offline numbering on: the same block is
	// sent again (not a new one), and is done.
	k.answer("btn-1", wire.AckDone, "")
	k.status("btn-1", wire.StateOnline, "ok") // a new status: the refusal is forgotten
	l, c2 := nextLease(t, k)
	if l.From != 1 || c2.Msg.ID == c.Msg.ID {
		t.Fatalf("lease after the refusal: %+v (id %s, first %s)", l, c2.Msg.ID, c.Msg.ID)
	}
	r.barrier(k, "prn-1")
	r.c.leases.mu.Lock()
	s = r.c.leases.sent[key]
	r.c.leases.mu.Unlock()
	if s.state != "done" {
		t.Fatalf("lease after its done: %+v", s)
	}
	var leases []queue.LeaseView
	r.c.View(func(e *queue.Engine) { leases = e.Leases("kiosk-1/btn-1") })
	if len(leases) != 1 {
		t.Fatalf("leases granted %d, want 1", len(leases))
	}
	// A command that is never answered expires; the next check sends it again.
	k.answer("btn-1", "", "")
	r.c.leases.mu.Lock()
	delete(r.c.leases.sent, key) // as after a restart: not known to be held
	r.c.leases.mu.Unlock()
	r.c.ensureLeases(context.Background())
	nextLease(t, k)
	k.answer("btn-1", wire.AckDone, "")
	r.clock.Advance(leaseKeep + time.Second)
	l3, _ := nextLease(t, k)
	if l3.From != 1 {
		t.Fatalf("re-sent lease %+v", l3)
	}
}

// Leases end with the local day, or sooner with leases.lifetime_s; an
// expired lease is replaced by a new block. Halls and dispensers can turn
// leases off.
func TestLeaseLifetimeAndSwitches(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigHall+"leases: {lifetime_s: 3600, block: 10}\n", nil)
	r.start()
	k := r.newAgent("kiosk-1", dispenserDevices...)
	k.status("btn-1", wire.StateOnline, "")
	l, _ := nextLease(t, k)
	if want := rigStart.Add(time.Hour); !l.Expires.Equal(want) || l.To-l.From != 9 {
		t.Fatalf("lease %+v, want 10 numbers until %s", l, want)
	}
	r.clock.Advance(time.Hour)
	l2, _ := nextLease(t, k)
	if l2.From != 11 {
		t.Fatalf("lease after expiry %+v", l2)
	}
	late := time.Date(2026, 11, 23, 23, 30, 0, 0, shanghai())
	if got := r.c.leaseExpiry(late); !got.Equal(time.Date(2026, 11, 24, 0, 0, 0, 0, shanghai())) {
		t.Fatalf("a lease never outlives its day: %s", got)
	}

	off := newRig(t, rigHall+"leases: {off: true}\n", nil)
	off.start()
	ko := off.newAgent("kiosk-1", dispenserDevices...)
	ko.status("btn-1", wire.StateOnline, "")
	off.c.ensureLeases(context.Background())
	off.barrier(ko, "prn-1")

	one := newRig(t, rigHall+"leases: {dispensers: {kiosk-1/btn-1: false}}\n", nil)
	one.start()
	k1 := one.newAgent("kiosk-1", dispenserDevices...)
	k1.status("btn-1", wire.StateOnline, "")
	one.c.ensureLeases(context.Background())
	one.barrier(k1, "prn-1")
	var n int
	one.c.View(func(e *queue.Engine) { n = len(e.Leases("kiosk-1/btn-1")) })
	if n != 0 {
		t.Fatalf("a dispenser with leases off got %d", n)
	}
}
