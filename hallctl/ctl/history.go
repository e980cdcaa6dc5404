package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/store"
)

// History: what a restart needs is restored from snapshots, and only the
// tail of the log after them is replayed (docs/history.md).
//
//   - the queue engine, with its de-duplication ids and ratings: the
//     QueueStream snapshot (desk.go, NewDesk);
//   - the controller's own state — the case serial counter, the cases of
//     tickets still held, the clerks at the windows, the print outcomes:
//     the StateStream snapshot;
//   - the supervision monitor (a projection of every stream): the
//     MonitorStream snapshot, taken at the seq the monitor has applied.
//
// The queue and controller snapshots are taken under the controller's lock
// at a mark record appended in the same order as the units, so their Upto
// is exactly the state in memory; SnapshotEvery the controller takes them
// (Run) and once more at a clean shutdown.

// Snapshot streams.
const (
	// StateStream names the controller state snapshot; its one record type,
	// "mark", is the seq the queue and state snapshots are taken at.
	StateStream = "ctl"
	// MonitorStream names the supervision monitor's snapshot.
	MonitorStream = "monitor"
)

// DefaultSnapshotEvery is how often Run snapshots when Options leave it 0.
const DefaultSnapshotEvery = 10 * time.Minute

// followDays is how long the monitor keeps low ratings for follow-ups.
const followDays = 90

// ctlState is the StateStream snapshot.
type ctlState struct {
	SerialDay string           `json:"serial_day"`
	SerialSeq int              `json:"serial_seq"`
	Accepted  map[int64]string `json:"accepted"` // tickets the engine holds → serial
	Clerks    map[int]string   `json:"clerks"`
	Inflight  []PrintRecord    `json:"inflight"`
	Unprinted []PrintRecord    `json:"unprinted"`
	Printed   []int64          `json:"printed"` // tickets the engine holds
	// IDRead are the keyed hashes of ID cards read at a window for the
	// ticket it served (issue 14: the applicant of a rating).
	IDRead map[int64]string `json:"id_read,omitempty"`
}

// held reports whether the engine still holds ticket id (caller holds c.mu).
func (c *Controller) held(id int64) bool {
	_, ok := c.desk.Engine().Ticket(id)
	return ok
}

// pruneHeld drops memory kept per ticket for tickets the engine no longer
// holds (compacted past days): cases accepted, prints done, ratings given,
// old request ids. Caller holds c.mu.
func (c *Controller) pruneHeld() {
	d := c.desk
	for id := range d.rated {
		if !c.held(id) {
			delete(d.rated, id)
		}
	}
	d.pruneSources()
	for id := range c.prints.printed {
		if !c.held(id) {
			delete(c.prints.printed, id)
		}
	}
	if c.cases != nil {
		for id := range c.cases.accepted {
			if !c.held(id) {
				delete(c.cases.accepted, id)
			}
		}
		for id := range c.cases.idRead {
			if !c.held(id) {
				delete(c.cases.idRead, id)
			}
		}
	}
}

// stateLocked serialises the controller state (caller holds c.mu).
func (c *Controller) stateLocked(cs *caseSys) ([]byte, error) {
	s := ctlState{Accepted: map[int64]string{}, Clerks: map[int]string{}}
	if cs != nil {
		s.SerialDay, s.SerialSeq = cs.acc.SerialState()
		s.Accepted, s.Clerks, s.IDRead = cs.accepted, cs.clerks, cs.idRead
	}
	for _, r := range c.prints.inflight {
		s.Inflight = append(s.Inflight, r)
	}
	for _, r := range c.prints.unprinted {
		s.Unprinted = append(s.Unprinted, r)
	}
	for id := range c.prints.printed {
		s.Printed = append(s.Printed, id)
	}
	return json.Marshal(s)
}

// restorePrints loads the print state of the latest StateStream snapshot
// and returns its Upto (0 without one): the print stream is replayed after it.
func (c *Controller) restorePrints(ctx context.Context) (int64, error) {
	snap, err := c.store.LatestSnapshot(ctx, StateStream)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load controller snapshot: %w", err)
	}
	var s ctlState
	if err := json.Unmarshal(snap.Data, &s); err != nil {
		return 0, fmt.Errorf("decode controller snapshot (seq %d): %w", snap.Upto, err)
	}
	for _, r := range s.Inflight {
		c.prints.inflight[r.Cmd] = r
	}
	for _, r := range s.Unprinted {
		c.prints.unprinted[r.Ticket] = r
	}
	for _, id := range s.Printed {
		c.prints.printed[id] = true
	}
	return snap.Upto, nil
}

// restoreCases loads the case part of the latest StateStream snapshot and
// the monitor's snapshot, then replays the log once from the older of the
// two: case and clerk records after the state's Upto, every record after
// the monitor's. It returns how many records it read.
func (c *Controller) restoreCases(ctx context.Context, cs *caseSys) (int, error) {
	var fromState, fromMon int64
	snap, err := c.store.LatestSnapshot(ctx, StateStream)
	switch {
	case err == nil:
		var s ctlState
		if err := json.Unmarshal(snap.Data, &s); err != nil {
			return 0, fmt.Errorf("decode controller snapshot (seq %d): %w", snap.Upto, err)
		}
		cs.acc.RestoreSerials(s.SerialDay, s.SerialSeq)
		for k, v := range s.Accepted {
			cs.accepted[k] = v
		}
		for k, v := range s.Clerks {
			cs.clerks[k] = v
		}
		for k, v := range s.IDRead {
			cs.idRead[k] = v
		}
		fromState = snap.Upto
	case !errors.Is(err, store.ErrNotFound):
		return 0, fmt.Errorf("load controller snapshot: %w", err)
	}
	msnap, err := c.store.LatestSnapshot(ctx, MonitorStream)
	switch {
	case err == nil:
		if err := cs.monitor.Restore(c.cfg, msnap.Data); err != nil {
			return 0, fmt.Errorf("restore monitor snapshot (seq %d): %w", msnap.Upto, err)
		}
		fromMon = msnap.Upto
	case !errors.Is(err, store.ErrNotFound):
		return 0, fmt.Errorf("load monitor snapshot: %w", err)
	}
	n, day := 0, ""
	cs.monSeq = fromMon
	err = c.store.Read(ctx, "", min(fromState, fromMon), func(r store.Record) error {
		n++
		if r.Seq > fromState {
			if err := c.replayCase(cs, r); err != nil {
				return err
			}
		}
		if r.Seq > fromMon {
			// A long replay compacts as the live monitor does each day.
			if d := r.At.In(c.cfg.Loc).Format(casesys.DateLayout); d != day {
				day = d
				cs.monitor.Compact(monitorCuts(r.At.In(c.cfg.Loc)))
			}
			cs.monitor.Apply(r)
			cs.monSeq = r.Seq
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, nil
}

// replayCase applies one logged record to the case state (at start).
func (c *Controller) replayCase(cs *caseSys, r store.Record) error {
	switch r.Stream {
	case casesys.CaseStream:
		if r.Type != "accepted" {
			return nil
		}
		var cas casesys.Case
		if err := json.Unmarshal(r.Data, &cas); err == nil && c.held(cas.Ticket) {
			cs.accepted[cas.Ticket] = cas.Serial
		}
		return cs.acc.Replay(r)
	case casesys.IdentityStream:
		var id casesys.Identity
		if json.Unmarshal(r.Data, &id) == nil && id.Window != 0 && id.IDHash != "" && c.held(id.Ticket) {
			cs.idRead[id.Ticket] = id.IDHash
		}
	case casesys.ClerkStream:
		var s casesys.ClerkShift
		if json.Unmarshal(r.Data, &s) == nil && s.Window != 0 {
			if r.Type == "signed_out" {
				s.Clerk = ""
			}
			cs.clerks[s.Window] = s.Clerk
		}
	}
	return nil
}

// monitorCuts are the Ledger.Compact days for a monitor at now: tickets
// from yesterday on (a rating may come the morning after), low ratings
// for followDays.
func monitorCuts(now time.Time) (ticketsFrom, followFrom string) {
	return now.AddDate(0, 0, -1).Format(casesys.DateLayout), now.AddDate(0, 0, -followDays).Format(casesys.DateLayout)
}

// pruneMonitor compacts the monitor once a local day.
func (c *Controller) pruneMonitor(cs *caseSys) {
	cs.monMu.Lock()
	defer cs.monMu.Unlock()
	now := c.clock.Now().In(c.cfg.Loc)
	if day := now.Format(casesys.DateLayout); day != cs.monPrune {
		cs.monPrune = day
		cs.monitor.Compact(monitorCuts(now))
	}
}

// SaveSnapshots saves the queue, controller and monitor snapshots now, so a
// restart replays only what comes after them.
func (c *Controller) SaveSnapshots(ctx context.Context) error {
	if err := c.failure(); err != nil {
		return err
	}
	c.mu.Lock()
	c.pruneHeld()
	deskData, err := c.desk.stateBytes()
	if err != nil {
		c.mu.Unlock()
		return err
	}
	state, err := c.stateLocked(c.cases)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	// The mark is appended in unit order: every change in memory now is
	// in a record before it.
	var b store.Batch
	b.Append(store.Record{Stream: StateStream, Type: "mark", At: c.clock.Now()})
	p := c.store.Submit(&b)
	c.mu.Unlock()
	seqs, err := p.Wait()
	if err != nil {
		err = fmt.Errorf("commit: %w", err)
		c.fatal(err)
		return err
	}
	upto := seqs[0]
	ctx = context.WithoutCancel(ctx)
	if err := c.store.SaveSnapshot(ctx, QueueStream, upto, deskData); err != nil {
		return fmt.Errorf("save queue snapshot: %w", err)
	}
	if err := c.store.SaveSnapshot(ctx, StateStream, upto, state); err != nil {
		return fmt.Errorf("save controller snapshot: %w", err)
	}
	if cs := c.cases; cs != nil {
		c.pruneMonitor(cs)
		cs.monMu.Lock()
		mon, err := cs.monitor.MarshalState()
		monUpto := cs.monSeq
		cs.monMu.Unlock()
		if err != nil {
			return fmt.Errorf("monitor snapshot: %w", err)
		}
		if err := c.store.SaveSnapshot(ctx, MonitorStream, monUpto, mon); err != nil {
			return fmt.Errorf("save monitor snapshot: %w", err)
		}
	}
	c.log.Debug("snapshot saved", "upto", upto, "queue_bytes", len(deskData), "state_bytes", len(state))
	return nil
}

// runSnapshots snapshots every interval while records were added since
// the last one; a failure to snapshot is logged (the log itself is whole).
func (c *Controller) runSnapshots(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultSnapshotEvery
	}
	last, _ := c.store.LastSeq(ctx, "")
	t := c.clock.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
		seq, err := c.store.LastSeq(ctx, "")
		if err != nil || seq == last {
			continue
		}
		if err := c.SaveSnapshots(ctx); err != nil {
			c.log.Warn("snapshot", "err", err)
			continue
		}
		last, _ = c.store.LastSeq(ctx, "")
	}
}

// stateBytes serialises the desk for a QueueStream snapshot: the engine,
// the newest request ids and the ratings of tickets held.
func (d *Desk) stateBytes() ([]byte, error) {
	state, err := d.eng.MarshalState()
	if err != nil {
		return nil, fmt.Errorf("queue snapshot: %w", err)
	}
	snap := deskSnapshot{Engine: state, Sources: d.sources}
	for id := range d.rated {
		snap.Rated = append(snap.Rated, id)
	}
	for k := range d.ratedCase {
		snap.RatedCases = append(snap.RatedCases, k)
	}
	return json.Marshal(snap)
}

// startSnapshots saves the controller and monitor snapshots at start,
// after a long replay: nothing is in flight, so the log's last seq is the
// state in memory.
func (c *Controller) startSnapshots(ctx context.Context, cs *caseSys) error {
	upto, err := c.store.LastSeq(ctx, "")
	if err != nil || upto == 0 {
		return err
	}
	c.pruneHeld()
	state, err := c.stateLocked(cs)
	if err != nil {
		return err
	}
	if err := c.store.SaveSnapshot(ctx, StateStream, upto, state); err != nil {
		return fmt.Errorf("save controller snapshot: %w", err)
	}
	mon, err := cs.monitor.MarshalState()
	if err != nil {
		return err
	}
	if err := c.store.SaveSnapshot(ctx, MonitorStream, cs.monSeq, mon); err != nil {
		return fmt.Errorf("save monitor snapshot: %w", err)
	}
	return nil
}

// pruneSources forgets the request ids of all but the newest maxSources
// tickets, except those of tickets the engine still holds.
func (d *Desk) pruneSources() {
	floor := int64(d.eng.TicketCount() - maxSources)
	for k, v := range d.sources {
		if _, held := d.eng.Ticket(v); v <= floor && !held {
			delete(d.sources, k)
		}
	}
}
