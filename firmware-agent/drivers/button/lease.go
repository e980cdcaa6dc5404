package button

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/device"
	"github.com/servicehall/servicehall/wire"
)

// EtaOffline is printed on an offline ticket instead of the people ahead
// and the wait estimate, which only the controller knows.
const EtaOffline = "等候时间暂不可估算"

// Ack codes of cmd/lease.
const (
	CodeOfflineOff = "offline_off" // options.offline is false
	CodeWrongItem  = "wrong_item"  // the lease is for another item
	CodeBadArgs    = "bad_args"
	CodeState      = "state_error" // the lease could not be stored
)

// held is a lease as the button keeps it: Next is the next counter to
// issue; counters below it are spent, whether or not they printed.
type held struct {
	Lease wire.Lease `json:"lease"`
	Next  int        `json:"next"`
}

func leaseKey(item string) string { return "lease/" + item }

// Caps announces the lease capability when offline numbering is on.
func (b *Button) Caps() []string {
	if b.offline {
		return []string{wire.CapLease}
	}
	return nil
}

// Handle takes cmd/lease: the newest lease of the item is stored before
// the command is acknowledged. A lease re-sent by the controller keeps the
// numbers already spent; an older one changes nothing.
func (b *Button) Handle(ctx context.Context, name string, args []byte) device.Result {
	if name != wire.CmdLease {
		return device.Rejected("unsupported", fmt.Errorf("ticket-button takes lease, not %s", name))
	}
	if !b.offline {
		return device.Rejected(CodeOfflineOff, errors.New("offline numbering is off for this button"))
	}
	var l wire.Lease
	if err := wire.DecodeArgs(args, &l); err != nil {
		return device.Rejected(CodeBadArgs, err)
	}
	if l.Item != b.cfg.Item {
		return device.Rejected(CodeWrongItem, fmt.Errorf("lease for %s, button issues %s", l.Item, b.cfg.Item))
	}
	b.leaseMu.Lock()
	defer b.leaseMu.Unlock()
	cur, ok, err := b.load(ctx, l.Item)
	if err != nil {
		return device.Failed(CodeState, err)
	}
	next := held{Lease: l, Next: l.From}
	switch {
	case ok && cur.Lease.From == l.From && cur.Lease.To == l.To && cur.Lease.Expires.Equal(l.Expires.Time):
		next.Next = cur.Next // the same block again
	case ok && (cur.Lease.Expires.After(l.Expires.Time) ||
		(cur.Lease.Expires.Equal(l.Expires.Time) && cur.Lease.From > l.From)):
		b.log.Info("older lease ignored", "item", l.Item, "from", l.From, "to", l.To, "held_from", cur.Lease.From)
		return device.Done
	}
	if err := b.store(ctx, next); err != nil {
		return device.Failed(CodeState, err)
	}
	b.log.Info("lease stored", "item", l.Item, "from", l.Number(l.From), "to", l.Number(l.To),
		"next", l.Number(next.Next), "expires", l.Expires.Time)
	return device.Done
}

func (b *Button) load(ctx context.Context, item string) (held, bool, error) {
	v, ok, err := b.env.KV.Get(ctx, leaseKey(item))
	if err != nil || !ok {
		return held{}, false, err
	}
	var h held
	if err := json.Unmarshal(v, &h); err != nil {
		return held{}, false, fmt.Errorf("stored lease: %w", err)
	}
	return h, true, nil
}

func (b *Button) store(ctx context.Context, h held) error {
	return b.env.KV.Put(ctx, leaseKey(h.Lease.Item), wire.Marshal(h))
}

// take spends the lease's next number durably and returns the lease and
// the counter, or ok false (logged why) when there is no usable number.
func (b *Button) take(ctx context.Context, now time.Time) (wire.Lease, int, bool) {
	b.leaseMu.Lock()
	defer b.leaseMu.Unlock()
	h, ok, err := b.load(ctx, b.cfg.Item)
	switch {
	case err != nil:
		b.log.Error("controller unreachable; lease unreadable: the press waits in the outbox", "err", err)
		return wire.Lease{}, 0, false
	case !ok:
		b.log.Warn("controller unreachable and no lease: the press waits in the outbox", "item", b.cfg.Item)
		return wire.Lease{}, 0, false
	case !now.Before(h.Lease.Expires.Time):
		b.log.Warn("controller unreachable and the lease expired: the press waits in the outbox",
			"item", b.cfg.Item, "expired", h.Lease.Expires.Time)
		return wire.Lease{}, 0, false
	case h.Next > h.Lease.To:
		b.log.Warn("controller unreachable and the lease is used up: the press waits in the outbox",
			"item", b.cfg.Item, "to", h.Lease.Number(h.Lease.To))
		return wire.Lease{}, 0, false
	}
	n := h.Next
	h.Next++
	if err := b.store(ctx, h); err != nil {
		// Not stored as spent: not used, so it can never be issued twice.
		b.log.Error("controller unreachable; lease not updated: the press waits in the outbox", "err", err)
		return wire.Lease{}, 0, false
	}
	return h.Lease, n, true
}

// printOffline issues the next leased number on the button's printer and
// returns it, or "" when the press must wait for the controller.
func (b *Button) printOffline(ctx context.Context) string {
	if b.env.Peers == nil {
		return ""
	}
	now := b.env.Clock.Now()
	l, n, ok := b.take(ctx, now)
	if !ok {
		return ""
	}
	loc := time.Local
	if l.TZ != "" {
		if z, err := time.LoadLocation(l.TZ); err == nil {
			loc = z
		}
	}
	item := l.ItemName
	if item == "" {
		item = l.Item
	}
	number := l.Number(n)
	res := b.env.Peers.Run(ctx, b.cfg.Printer, wire.CmdPrint, wire.Print{Template: wire.TemplateTicket, Fields: wire.PrintFields{
		Hall: l.Hall, Number: number, Item: item, IssuedAt: now.In(loc).Format("2006-01-02 15:04"), EtaText: EtaOffline,
	}})
	if res.Status != wire.AckDone {
		b.log.Warn("offline ticket not printed: its number is void and the press waits in the outbox",
			"number", number, "status", res.Status, "code", res.Code, "err", res.Err)
		return ""
	}
	b.log.Info("offline ticket printed", "number", number)
	return number
}
