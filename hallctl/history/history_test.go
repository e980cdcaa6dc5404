package history_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	_ "modernc.org/sqlite"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/history"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
)

const hall = `hall: {id: h, name: 历史大厅, timezone: Asia/Shanghai, hours: {open: "00:00", close: "24:00"}}
departments: [{code: HR, name: 人社}, {code: TX, name: 税务}]
items:
  - {code: HR-001, name: 社保卡, dept: HR, prefix: A, service_s: 240}
  - {code: TX-001, name: 发票, dept: TX, prefix: B, service_s: 120}
windows:
  - {number: 1, dept: HR, serves: ["dept:HR"]}
  - {number: 2, dept: TX, serves: ["dept:TX"]}
  - {number: 3, dept: HR, serves: ["*"]}
`

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func parse(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := parseB()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func parseB() (*config.Config, error) { return config.Parse("h.yaml", []byte(hall)) }

// end is the day after the generated history; the tests' clock runs on it.
func end(cfg *config.Config) time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, cfg.Loc) }

// generate writes a modest history into a fresh log at dir/hallctl.db.
func generate(t *testing.T, cfg *config.Config, dir string, served int, endDay time.Time) history.Stats {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "hallctl.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := history.Generate(ctx, st, history.Options{Config: cfg, Served: served, Days: 30, End: endDay, Seed: 3, Batch: 500})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func open(t *testing.T, path string, clock clockwork.Clock, cfg *config.Config) (*ctl.Controller, *store.Log) {
	t.Helper()
	st, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ctl.New(context.Background(), ctl.Options{Config: cfg, Clock: clock, Store: st, Logger: quiet})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return c, st
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// state is what the tests compare: the engine's whole saved state, the
// supervision alerts and follow-ups, and the next ticket and case.
type state struct {
	Engine    json.RawMessage
	Alerts    []byte
	FollowUps []byte
	Next      ctl.Issued
	Progress  []byte
}

func observe(t *testing.T, c *ctl.Controller) state {
	t.Helper()
	ctx := context.Background()
	var s state
	c.View(func(e *queue.Engine) {
		b, err := e.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		s.Engine = b
	})
	s.Alerts, _ = json.Marshal(c.Supervision(ctx))
	s.FollowUps, _ = json.Marshal(c.FollowUps(ctx))
	// The next decisions: a ticket, a call and its case.
	var err error
	if s.Next, err = c.Issue(ctx, ctl.IssueRequest{Item: "HR-001", Source: "next"}, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, ctl.ActRequest{Window: 1, Action: "call-next"}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Act(ctx, ctl.ActRequest{Window: 1, Action: "start"})
	if err != nil {
		t.Fatal(err)
	}
	s.Progress, _ = json.Marshal(res.Events)
	s.Next.IssuedAt = time.Time{}
	return s
}

// TestSnapshotAndTailEqualFullReplay: a controller that restores the
// snapshots and replays the tail after them has the same engine, the same
// supervision alerts and follow-ups, and takes the same next decisions as
// one that replays the whole log.
func TestSnapshotAndTailEqualFullReplay(t *testing.T) {
	cfg := parse(t)
	dir := t.TempDir()
	stats := generate(t, cfg, dir, 3000, end(cfg))
	if stats.Served < 2990 || stats.Cases < 3000 || stats.Rated == 0 || stats.Days < 15 {
		t.Fatalf("generated %+v", stats)
	}
	ctx := context.Background()
	path := filepath.Join(dir, "hallctl.db")
	clock := clockwork.NewFakeClockAt(end(cfg).Add(9 * time.Hour))

	// A first start replays the whole year and snapshots; then the day
	// goes on (the tail), with a low rating to follow up.
	a, st := open(t, path, clock, cfg)
	for w := 1; w <= 3; w++ {
		if _, err := a.Manage(ctx, ctl.ManagerAction{Type: "open", Window: w}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 12; i++ {
		clock.Advance(time.Minute)
		item := []string{"HR-001", "TX-001"}[i%2]
		if _, err := a.Issue(ctx, ctl.IssueRequest{Item: item}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	for w := 1; w <= 3; w++ {
		for _, act := range []string{"call-next", "start", "finish"} {
			clock.Advance(time.Minute)
			if _, err := a.Act(ctx, ctl.ActRequest{Window: w, Action: act, Clerk: "c"}); err != nil {
				t.Fatalf("window %d %s: %v", w, act, err)
			}
		}
	}
	last := int64(0)
	a.View(func(e *queue.Engine) {
		last = int64(e.TicketCount())
		if e.HeldTickets() > 20 {
			t.Errorf("engine holds %d tickets of a month and a morning: not compacted", e.HeldTickets())
		}
	})
	// A low rating of one of today's served tickets: a follow-up.
	rated := int64(0)
	for id := last - 11; id <= last && rated == 0; id++ {
		if _, err := a.Rate(ctx, id, 1, "pad", "r1"); err == nil {
			rated = id
		}
	}
	if rated == 0 {
		t.Fatal("no ticket of today could be rated")
	}
	st.Close()

	// Full replay: the same log without its snapshots.
	full := filepath.Join(t.TempDir(), "hallctl.db")
	copyFile(t, path, full)
	db, err := sql.Open("sqlite", full)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM snapshots`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	b, stB := open(t, path, clock, cfg)
	defer stB.Close()
	for _, s := range []string{ctl.QueueStream, ctl.StateStream, ctl.MonitorStream} {
		if _, err := stB.LatestSnapshot(ctx, s); err != nil {
			t.Fatalf("snapshot %s: %v", s, err)
		}
	}
	c, stC := open(t, full, clock, cfg)
	defer stC.Close()
	// Both know the year's low ratings and today's.
	for _, x := range []*ctl.Controller{b, c} {
		fus := x.FollowUps(ctx)
		if len(fus) < 10 || fus[len(fus)-1].Ticket != rated {
			t.Fatalf("follow-ups: %+v; want the year's and ticket %d last", fus, rated)
		}
	}
	sb, sc := observe(t, b), observe(t, c)
	if !bytes.Equal(sb.Engine, sc.Engine) {
		t.Errorf("engine differs:\nsnapshot+tail %s\nfull replay   %s", sb.Engine, sc.Engine)
	}
	if !bytes.Equal(sb.Alerts, sc.Alerts) || !bytes.Equal(sb.FollowUps, sc.FollowUps) {
		t.Errorf("supervision differs:\n%s\n%s\nvs\n%s\n%s", sb.Alerts, sb.FollowUps, sc.Alerts, sc.FollowUps)
	}
	if sb.Next != sc.Next || !bytes.Equal(sb.Progress, sc.Progress) {
		t.Errorf("next decisions differ:\n%+v %s\n%+v %s", sb.Next, sb.Progress, sc.Next, sc.Progress)
	}
	if sb.Next.ID != last+1 {
		t.Errorf("next ticket %d, want %d", sb.Next.ID, last+1)
	}

	// A snapshot taken now, then a restart: the same state again.
	if err := b.SaveSnapshots(ctx); err != nil {
		t.Fatal(err)
	}
	var want json.RawMessage
	b.View(func(e *queue.Engine) { want, _ = e.MarshalState() })
	stB.Close()
	d, stD := open(t, path, clock, cfg)
	defer stD.Close()
	var got json.RawMessage
	d.View(func(e *queue.Engine) { got, _ = e.MarshalState() })
	if !bytes.Equal(got, want) {
		t.Errorf("restart after SaveSnapshots: engine differs")
	}
	fb, _ := json.Marshal(b.FollowUps(ctx))
	fd, _ := json.Marshal(d.FollowUps(ctx))
	if !bytes.Equal(fb, fd) {
		t.Errorf("restart after SaveSnapshots: follow-ups differ:\n%s\n%s", fb, fd)
	}
}
