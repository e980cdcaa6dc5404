package queue

import (
	"cmp"
	"fmt"
	"slices"
)

// Day-rollover compaction. The engine's memory is bounded by what today
// needs: when the first event of a new local day is applied, every ticket
// that is no longer live (finished, voided, cancelled) is dropped; tickets
// still waiting, called or serving stay, whatever day they were issued.
// What estimates learn from past days is already compact — the per-item
// service and occupancy averages and the calibration of the P50–P90 range
// — so nothing is lost for them. Past tickets remain in the event log for
// reports; the engine answers ErrUnknownTicket for them. Compaction happens
// inside Apply, so a replay of the log compacts exactly as the live engine
// did, and a snapshot holds only what the engine holds.
//
// Held tickets stay in id order, so a ticket is found by its offset from
// the newest (today's ids are contiguous) or, for a ticket left live from
// an earlier day, by binary search.

// nextID is the id the next issued ticket gets.
func (e *Engine) nextID() int64 { return e.lastID + 1 }

// HeldTickets is how many tickets the engine holds in memory (today's and
// those still live); TicketCount counts every ticket ever issued.
func (e *Engine) HeldTickets() int { return len(e.tickets) }

// findTicket returns the index of a held ticket id.
func (e *Engine) findTicket(id int64) (int32, error) {
	n := len(e.tickets)
	if n == 0 || id < e.tickets[0].id || id > e.tickets[n-1].id {
		return -1, fmt.Errorf("ticket %d: %w", id, ErrUnknownTicket)
	}
	if i := n - 1 - int(e.tickets[n-1].id-id); i >= 0 && e.tickets[i].id == id {
		return int32(i), nil
	}
	i, ok := slices.BinarySearchFunc(e.tickets, id, func(t ticket, id int64) int { return cmp.Compare(t.id, id) })
	if !ok {
		return -1, fmt.Errorf("ticket %d: %w", id, ErrUnknownTicket)
	}
	return int32(i), nil
}

// numberOf is a held ticket's number ("" if not held).
func (e *Engine) numberOf(id int64) string {
	ti, err := e.findTicket(id)
	if err != nil {
		return ""
	}
	return e.tickets[ti].number
}

// compact drops every ticket that is no longer live and renumbers the
// ticket indexes the engine keeps (queues, window currents, heads).
func (e *Engine) compact() {
	if e.keepAll {
		return
	}
	live := 0
	for i := range e.tickets {
		if e.tickets[i].state.Live() {
			live++
		}
	}
	if live == len(e.tickets) {
		return
	}
	remap := make([]int32, len(e.tickets))
	kept := make([]ticket, 0, max(live, 64))
	for i := range e.tickets {
		remap[i] = -1
		if e.tickets[i].state.Live() {
			remap[i] = int32(len(kept))
			kept = append(kept, e.tickets[i])
		}
	}
	e.tickets = kept
	move := func(q []int32) {
		for i := range q {
			q[i] = remap[q[i]]
		}
	}
	one := func(p *int32) {
		if *p >= 0 {
			*p = remap[*p]
		}
	}
	for j := range e.items {
		it := &e.items[j]
		move(it.q)
		for c := range it.cq {
			move(it.cq[c])
		}
		one(&e.headIdx[j])
		one(&e.oldIdx[j])
	}
	for wi := range e.windows {
		w := &e.windows[wi]
		one(&w.cur)
		move(w.direct)
	}
}
