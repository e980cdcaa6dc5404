package app

import (
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/wire"
)

func leaseDevices() []wire.DeviceInfo {
	return []wire.DeviceInfo{
		{ID: "printer-1", Kind: wire.KindPrinter},
		{ID: "btn-1", Kind: wire.KindButton, Item: "HR-001", Printer: "printer-1", Caps: []string{wire.CapLease}},
	}
}

// online publishes a device's retained status, as an agent's birth does.
func (d *device) online(dev string) {
	d.c.Publish(wire.DevStatus(d.hall, d.agent, dev), 1, true, wire.Marshal(wire.DevStatusMsg{State: wire.StateOnline})).WaitTimeout(5 * time.Second)
}

func nextLease(t *testing.T, k *device) wire.Lease {
	t.Helper()
	c := k.nextCmd(t)
	if c.Device != "btn-1" || c.Name != wire.CmdLease {
		t.Fatalf("got %s/%s %s, want btn-1/lease", c.Device, c.Name, c.Msg.Args)
	}
	var l wire.Lease
	if err := wire.DecodeArgs(c.Msg.Args, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func printed(t *testing.T, k *device) string {
	t.Helper()
	c := k.nextCmd(t)
	if c.Device != "printer-1" || c.Name != wire.CmdPrint {
		t.Fatalf("got %s/%s %s, want printer-1/print", c.Device, c.Name, c.Msg.Args)
	}
	var p wire.Print
	if err := wire.DecodeArgs(c.Msg.Args, &p); err != nil {
		t.Fatal(err)
	}
	return p.Fields.Number
}

// TestLeaseGrantedAndLeasedPressesEntered: a dispenser with the lease
// capability gets a block of numbers when it comes online; online numbers
// continue after it; presses carrying a leased number enter the queue by
// their print time, once, without a print; a used or foreign number is
// refused; a lease running low is topped up.
func TestLeaseGrantedAndLeasedPressesEntered(t *testing.T) {
	a, stop := startApp(t, t.TempDir())
	defer stop()
	k := newDevice(t, a.BrokerURL(), "t-hall", "kiosk-1", leaseDevices())
	waitRegistered(t, a, "kiosk-1", 2)
	k.online("btn-1")

	l := nextLease(t, k)
	loc := a.Controller.Config().Loc
	now := time.Now().In(loc)
	eod := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, loc)
	if l.Item != "HR-001" || l.From != 1 || l.To != 20 || l.Prefix != "A" || l.Hall != "测试大厅" ||
		l.ItemName != "社保卡" || l.TZ != "Asia/Shanghai" || !l.Expires.Equal(eod) {
		t.Fatalf("lease %+v, want HR-001 A001..A020 until %s", l, eod)
	}

	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	if n := printed(t, k); n != "A021" {
		t.Fatalf("online press printed %s, want A021 (after the lease)", n)
	}

	// Offline presses arrive after the rejoin; ts is the print time.
	printedAt := time.Now().Add(-10 * time.Minute)
	ev := wire.NewEvent(printedAt, "s1", 100, wire.Press{Item: "HR-001", Ticket: "A001"})
	k.publishEvent("btn-1", wire.EvtPress, ev)
	k.publishEvent("btn-1", wire.EvtPress, ev) // QoS 1 redelivery
	k.publishEvent("btn-1", wire.EvtPress, wire.NewEvent(printedAt.Add(time.Minute), "s1", 101, wire.Press{Item: "HR-001", Ticket: "A002"}))
	k.publishEvent("btn-1", wire.EvtPress, wire.NewEvent(printedAt.Add(2*time.Minute), "s1", 102, wire.Press{Item: "HR-001", Ticket: "A002"}))  // used
	k.publishEvent("btn-1", wire.EvtPress, wire.NewEvent(printedAt.Add(2*time.Minute), "s1", 103, wire.Press{Item: "HR-001", Ticket: "A099"}))  // not leased
	k.publishEvent("btn-1", wire.EvtPress, wire.NewEvent(printedAt.Add(2*time.Minute), "s1", 104, wire.Press{Item: "HR-001", Ticket: "A021x"})) // not a number
	// An online press after them: the next command is its print, so none
	// of the leased presses printed anything.
	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	if n := printed(t, k); n != "A022" {
		t.Fatalf("online press printed %s, want A022", n)
	}
	var got []string
	var issuedA1 time.Time
	a.Controller.View(func(e *queue.Engine) {
		for _, tv := range e.Snapshot(time.Now()).Waiting {
			got = append(got, tv.Number)
		}
		tv, _ := e.TicketByNumber("A001")
		issuedA1 = tv.IssuedAt
	})
	if want := []string{"A001", "A002", "A021", "A022"}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("waiting %v, want %v (print order, each once)", got, want)
	}
	if !issuedA1.Equal(printedAt.Truncate(time.Millisecond)) {
		t.Fatalf("A001 issued at %s, want its print time %s", issuedA1, printedAt)
	}

	// Use the block down to 4 left: a new block follows the online numbers.
	for i := 3; i <= 16; i++ {
		k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001", Ticket: queue.Number("A", i)})
	}
	l2 := nextLease(t, k)
	if l2.From != 23 || l2.To != 42 {
		t.Fatalf("refill lease %d..%d, want 23..42", l2.From, l2.To)
	}
}

// TestNoLeaseWithoutCapability: a dispenser that does not announce the
// lease capability gets none, and numbering starts at 1.
func TestNoLeaseWithoutCapability(t *testing.T) {
	a, stop := startApp(t, t.TempDir())
	defer stop()
	k := newDevice(t, a.BrokerURL(), "t-hall", "kiosk-1", kioskDevices())
	waitRegistered(t, a, "kiosk-1", 2)
	k.online("btn-1")
	k.emit("btn-1", wire.EvtPress, wire.Press{Item: "HR-001"})
	if n := printed(t, k); n != "A001" {
		t.Fatalf("printed %s, want A001", n)
	}
}
