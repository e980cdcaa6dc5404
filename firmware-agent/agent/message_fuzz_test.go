package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/firmware-agent/device/devicetest"
	"github.com/servicehall/servicehall/wire"
)

// FuzzOnMessage feeds arbitrary topics and payloads to the agent's message
// router (what the broker can send it): it must never panic, and anything
// that is not a valid command or document must be counted, not executed.
func FuzzOnMessage(f *testing.F) {
	t0 := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	id := wire.NewID(t0)
	cmd := wire.Command("h1", "a1", "printer-1", "print")
	f.Add(cmd, []byte(`{"v":1,"id":"`+id+`","args":{"template":"ticket","fields":{"number":"A001"}}}`))
	f.Add(cmd, []byte(`{"v":2,"id":"`+id+`"}`))
	f.Add(wire.Command("h1", "a1", "nope", "print"), []byte(`{"v":1,"id":"`+id+`"}`))
	f.Add(wire.Desired("h1", "a1", "led-8"), []byte(`{"version":3,"lines":["A012"]}`))
	f.Add(wire.Desired("h1", "a1", "btn-1"), []byte(`{"version":1}`))
	f.Add(wire.CtlStatus("h1"), []byte("online"))
	f.Add("hall/v1/h2/agent/a1/dev/x/cmd/print", []byte(`{}`))
	f.Add("hall/v1/h1/agent/a2/dev/x/cmd/print", []byte(`{}`))
	f.Add("elsewhere/#", []byte{0xff})

	set := devicetest.NewSet()
	cfg, err := Parse([]byte(`
agent: {id: a1, hall: h1, state_dir: `+f.TempDir()+`}
devices:
  - {id: printer-1, kind: fake-printer}
  - {id: btn-1, kind: fake-button, item: HR-001}
  - {id: led-8, kind: fake-display}
`), "fuzz.yaml")
	if err != nil {
		f.Fatal(err)
	}
	a, err := New(context.Background(), cfg, Opts{
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock:  clockwork.NewFakeClockAt(t0),
		Lookup: set.Lookup,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { a.Close() })
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		a.onMessage(topic, payload)
		// Nothing runs the queues here: drop what was queued.
		for _, d := range a.order {
			d.q.mu.Lock()
			d.q.jobs = nil
			d.q.mu.Unlock()
			d.mu.Lock()
			d.pending = nil
			d.mu.Unlock()
		}
		a.misc.mu.Lock()
		a.misc.jobs = nil
		a.misc.mu.Unlock()
		if n := len(set.Printer("printer-1").Calls()); n != 0 {
			t.Fatalf("the router executed a command itself (%d calls)", n)
		}
	})
}
