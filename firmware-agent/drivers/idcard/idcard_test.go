package idcard

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/idcardemu"
	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/sam"
	"github.com/servicehall/servicehall/wire"
)

// checkPrivate asserts the raw number, name and address appear in neither
// the event nor the logs.
func checkPrivate(t *testing.T, h *harness, c wire.Card) {
	t.Helper()
	card := idcardemu.DemoCard()
	b, _ := json.Marshal(c)
	for _, raw := range []string{card.ID, card.Name, card.Address, card.ID[:17]} {
		if strings.Contains(string(b), raw) {
			t.Errorf("event carries raw %q: %s", raw, b)
		}
		if strings.Contains(h.logs.String(), raw) {
			t.Errorf("logs carry raw %q", raw)
		}
	}
}

var demoEvent = wire.Card{IDHash: HashID(testSecret, "11010519491231002X"), MaskedID: "110105********002X",
	MaskedName: "张*", BirthYear: 1949, Sex: SexFemale, ValidTo: ValidLongTerm}

func TestCardPresentedOnceYieldsOneEvent(t *testing.T) {
	h, emu, _ := start(t, hopts{card: true})
	h.waitStatus(wire.StateOnline, "")
	h.tick()
	c := h.event()
	if c != demoEvent {
		t.Fatalf("event %+v\nwant %+v", c, demoEvent)
	}
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	// The card stays in the field: the reader answers 80 after a read, and
	// no further event comes.
	for range 5 {
		h.tick()
		h.noEvent()
	}
	h.waitCommands("status find select read find find find find find")
	// Taken away and presented again: a second event.
	emu.Remove()
	h.tick()
	if err := emu.Present(idcardemu.DemoCard()); err != nil {
		t.Fatal(err)
	}
	h.tick()
	if c2 := h.event(); c2 != demoEvent {
		t.Fatalf("second event %+v", c2)
	}
	h.tick()
	h.noEvent()
	checkPrivate(t, h, c)
	if !strings.Contains(h.logs.String(), "idcard card read") {
		t.Fatal("read not logged at all")
	}
}

// Readers that keep answering 9F while the card stays: the driver itself
// waits for the card to leave.
func TestStickyFindLatchesUntilCardLeaves(t *testing.T) {
	h, emu, _ := start(t, hopts{card: true, emu: idcardemu.Opts{FindAfterRead: true}})
	h.tick()
	h.event()
	for range 3 {
		h.tick()
		h.noEvent()
	}
	h.waitCommands("status find select read find find find")
	emu.Remove()
	h.tick() // find → 80: the card left
	if err := emu.Present(idcardemu.DemoCard()); err != nil {
		t.Fatal(err)
	}
	h.tick()
	h.event()
	h.waitCommands("status find select read find find find find find select read")
}

// Repeat suppresses the same card bouncing at the edge of the field.
func TestRepeatWindow(t *testing.T) {
	h, emu, _ := start(t, hopts{card: true, opts: func(o *Opts) { o.Repeat = 5 * time.Second }})
	h.tick() // t=1s
	h.event()
	emu.Remove()
	h.tick() // 2s
	_ = emu.Present(idcardemu.DemoCard())
	h.tick() // 3s: 2 s after the event, ignored
	h.noEvent()
	emu.Remove()
	h.tick() // 4s
	h.tick() // 5s
	_ = emu.Present(idcardemu.DemoCard())
	h.tick() // 6s: 5 s after, a new presentation
	h.event()
}

func TestRawOnlyWhenEnabled(t *testing.T) {
	h, _, _ := start(t, hopts{card: true, opts: func(o *Opts) { o.Raw = true }})
	h.tick()
	c := h.event()
	if c.Raw == nil || c.Raw.ID != "11010519491231002X" || c.Raw.Name != "张三" {
		t.Fatalf("raw %+v", c.Raw)
	}
	// Even with raw on, the logs carry neither.
	for _, raw := range []string{"11010519491231002X", "张三"} {
		if strings.Contains(h.logs.String(), raw) {
			t.Fatalf("logs carry %q", raw)
		}
	}
}

func TestInvalidCardRefused(t *testing.T) {
	h, emu, _ := start(t, hopts{})
	bad := idcardemu.DemoCard()
	bad.ID = "110105194912310021" // wrong check character
	if err := emu.Present(bad); err != nil {
		t.Fatal(err)
	}
	h.tick()
	h.noEvent()
	if !strings.Contains(h.logs.String(), "code=id_check_digit") {
		t.Fatalf("refusal not logged by code:\n%s", h.logs.String())
	}
	sexBad := idcardemu.DemoCard()
	sexBad.Sex = "1"
	emu.Remove()
	h.tick()
	_ = emu.Present(sexBad)
	h.tick()
	h.noEvent()
	if !strings.Contains(h.logs.String(), "code=id_sex_mismatch") {
		t.Fatal("sex mismatch not logged")
	}
	for _, raw := range []string{"110105194912310021", "张三"} {
		if strings.Contains(h.logs.String(), raw) {
			t.Fatalf("logs carry %q", raw)
		}
	}
}

func TestGarbageAndBadChecksumRecover(t *testing.T) {
	h, emu, _ := start(t, hopts{card: true})
	emu.InjectGarbage([]byte{0x00, 0xAA, 0xAA, 0x55, 0xFF, 0xAA, 0xAA, 0xAA, 0x96})
	emu.CorruptNext(1) // the find reply fails its XOR: a miss at the timeout
	h.tickTimeout()
	h.noEvent()
	emu.InjectGarbage([]byte("noise"))
	h.tick()
	h.event()
}

func TestTruncatedReplyRecovers(t *testing.T) {
	h, emu, _ := start(t, hopts{card: true})
	emu.TruncateNext(1) // half a find reply; the rest never comes
	h.tickTimeout()
	h.noEvent()
	h.tick()
	h.event()
}

func TestCardErrorsRetried(t *testing.T) {
	h, emu, _ := start(t, hopts{card: true})
	emu.FailNext(sam.CmdRead, sam.StatusReadFailed)
	h.tick()
	h.noEvent()
	emu.FailNext(sam.CmdSelect, sam.StatusSelectFailed)
	h.tick()
	h.noEvent()
	h.tick()
	h.event()
	h.waitCommands("status find select read find select find select read")
}

func TestMissingReply(t *testing.T) {
	h, emu, _ := start(t, hopts{card: true})
	emu.DropNext(1)
	h.tickTimeout() // find unanswered
	h.noEvent()
	h.tick()
	h.event()
	h.waitCommands("status find(dropped) find select read")
}

// A reply that comes after the driver gave up is not taken for the reply
// to a later command.
func TestLateReplyDoesNotConfuse(t *testing.T) {
	emuClock := clockworkFake()
	h, emu, _ := start(t, hopts{card: true, emu: idcardemu.Opts{Clock: emuClock}})
	emu.DelayNext(time.Hour)
	h.tickTimeout() // the find times out
	ctx, cancel := context.WithTimeout(h.ctx, watchdog)
	defer cancel()
	if err := emuClock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	emuClock.Advance(time.Hour) // now the late 9F arrives
	h.waitCommands("status find")
	h.tick()
	h.event()
	h.tick()
	h.noEvent()
}

func TestSAMErrorIsReaderFault(t *testing.T) {
	h, emu, _ := start(t, hopts{})
	h.waitStatus(wire.StateOnline, "")
	emu.SetFault(sam.StatusSelfTest)
	h.tick()
	s := h.waitStatus(wire.StateFault, CodeReaderFault)
	if !strings.HasPrefix(s.Detail, "60 ") {
		t.Fatalf("detail %q", s.Detail)
	}
	emu.SetFault(0)
	h.tick()
	h.waitStatus(wire.StateOnline, "")
}

// A silent reader (cable pulled, the pty stays) goes offline after
// MaxMisses and comes back after the backoff.
func TestSilentReaderGoesOfflineAndBack(t *testing.T) {
	h, emu, _ := start(t, hopts{card: true})
	h.waitStatus(wire.StateOnline, "")
	emu.Unplug()
	for range h.r.opts.MaxMisses - 1 {
		h.tickTimeout()
	}
	h.advanceWhenBlocked(h.r.opts.Poll)
	h.advanceWhenBlocked(h.r.opts.Timeout)
	h.waitStatus(wire.StateOffline, CodeNoReply)
	emu.Replug()
	h.advanceWhenBlocked(h.r.backoff.Min) // reopen; status answered
	h.waitStatus(wire.StateOnline, "")
	h.waitIdle()
	h.tick()
	h.event()
}
