package ctl

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/hallctl/store"
)

var testTicketKey = []byte("0123456789abcdef0123456789abcdef")

// The check value binds the link to one ticket: any other hall, id,
// number, day or key gives another value, and only well-formed values of
// the right length verify.
func TestTicketCheckBindsTicket(t *testing.T) {
	ref := TicketRef{Hall: "h", ID: 7, Number: "A007", Day: "20261123"}
	d := TicketCheck(testTicketKey, ref)
	if len(d) != 16 || strings.ContainsAny(d, "+/=") {
		t.Fatalf("check value %q is not 16 base64url characters", d)
	}
	if !VerifyTicketCheck(testTicketKey, ref, d) {
		t.Fatal("the ticket's own check value does not verify")
	}
	others := map[string]TicketRef{
		"hall":   {Hall: "h2", ID: 7, Number: "A007", Day: "20261123"},
		"id":     {Hall: "h", ID: 8, Number: "A007", Day: "20261123"},
		"number": {Hall: "h", ID: 7, Number: "A008", Day: "20261123"},
		"day":    {Hall: "h", ID: 7, Number: "A007", Day: "20261124"},
		// Fields are length-prefixed: moving a character across fields differs.
		"shifted": {Hall: "h7", ID: 7, Number: "A00", Day: "20261123"},
	}
	for what, o := range others {
		if VerifyTicketCheck(testTicketKey, o, d) {
			t.Errorf("d verifies for another %s", what)
		}
		if TicketCheck(testTicketKey, o) == d {
			t.Errorf("another %s has the same check value", what)
		}
	}
	if VerifyTicketCheck([]byte("another key, another hall......"), ref, d) {
		t.Error("d verifies under another key")
	}
	for _, bad := range []string{"", d[:15], d + "A", "!!!!!!!!!!!!!!!!", strings.ToUpper(d), "20261123"} {
		if bad != d && VerifyTicketCheck(testTicketKey, ref, bad) {
			t.Errorf("%q verifies", bad)
		}
	}
	u := TicketURL("http://hall.example/", testTicketKey, ref)
	if u != "http://hall.example/t/A007?d="+d {
		t.Fatalf("TicketURL = %q", u)
	}
}

func newKeyedController(t *testing.T, st *store.Log, clock clockwork.Clock) *Controller {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte(strings.Replace(hoursHall, `"09:00", close: "17:00"}}`, `"00:00", close: "24:00"}}`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.PublicURL = "http://hall.test"
	c, err := New(context.Background(), Options{Config: cfg, Clock: clock, Store: st, TicketKey: testTicketKey,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// linkOf returns the number and d of a ticket's printed link.
func linkOf(t *testing.T, c *Controller, tk Issued) (string, string) {
	t.Helper()
	u, err := url.Parse(c.ticketFields(tk).QR)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "hall.test" || u.Path != "/t/"+tk.Number {
		t.Fatalf("printed link %s", u)
	}
	return tk.Number, u.Query().Get("d")
}

// The page shows a ticket only with its own d; rating needs the same d,
// only after service, and once; the link survives a restart (the key is
// the hall's, not the process's).
func TestTicketPageLookupAndRating(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 10, 0, 0, 0, sh))
	st := openStore(t)
	c := newKeyedController(t, st, clock)
	ctx := context.Background()
	if _, err := c.Manage(ctx, ManagerAction{Type: "open", Window: 2}); err != nil {
		t.Fatal(err)
	}
	var tks []Issued
	for _, src := range []string{"a", "b"} {
		tk, err := c.Issue(ctx, IssueRequest{Item: "HR-001", Source: src}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		tks = append(tks, tk)
	}
	n1, d1 := linkOf(t, c, tks[0])
	n2, d2 := linkOf(t, c, tks[1])
	const ip = "192.0.2.10"

	p, err := c.TicketPage(n2, d2, ip)
	if err != nil {
		t.Fatal(err)
	}
	if p.State != "waiting" || p.Number != "A002" || p.Ahead != 1 || p.WaitP90 < p.WaitP50 || p.WaitP90 <= 0 ||
		p.ItemName != "社保卡" || p.Hall != "时段大厅" || p.RatingOpen {
		t.Fatalf("waiting page: %+v", p)
	}
	// Another ticket's d, a lower-case number with its own d, a missing d.
	if _, err := c.TicketPage(n2, d1, ip); !errors.Is(err, ErrBadTicketLink) {
		t.Fatalf("A002 with A001's d: %v", err)
	}
	if p, err := c.TicketPage(strings.ToLower(n1), d1, ip); err != nil || p.Number != "A001" {
		t.Fatalf("a001: %+v %v", p, err)
	}
	if _, err := c.TicketPage(n1, "", ip); !errors.Is(err, ErrBadTicketLink) {
		t.Fatalf("no d: %v", err)
	}
	if _, err := c.RateTicketPage(ctx, n1, d1, ip, 5); !errors.Is(err, ErrNotRateable) {
		t.Fatalf("rating a waiting ticket: %v", err)
	}

	for _, a := range []string{"call-next"} {
		if _, err := c.Act(ctx, ActRequest{Window: 2, Action: a}); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := c.TicketPage(n1, d1, ip); err != nil || p.State != "called" || p.Window != 2 {
		t.Fatalf("called page: %+v %v", p, err)
	}
	if p, err := c.TicketPage(n2, d2, ip); err != nil || p.Ahead != 0 {
		t.Fatalf("A002 after A001 is called: %+v %v", p, err)
	}
	for _, a := range []string{"start", "finish"} {
		if _, err := c.Act(ctx, ActRequest{Window: 2, Action: a}); err != nil {
			t.Fatal(err)
		}
	}
	p, err = c.TicketPage(n1, d1, ip)
	if err != nil || p.State != "finished" || !p.RatingOpen || p.Rated {
		t.Fatalf("served page: %+v %v", p, err)
	}
	// A guessed (wrong) d cannot rate, and leaves the rating open.
	if _, err := c.RateTicketPage(ctx, n1, d2, ip, 1); !errors.Is(err, ErrBadTicketLink) {
		t.Fatalf("rating with a wrong d: %v", err)
	}
	if c.Rated(tks[0].ID) {
		t.Fatal("a wrong d rated the ticket")
	}
	rt, err := c.RateTicketPage(ctx, n1, d1, ip, 4)
	if err != nil || rt.Level != 4 || rt.Channel != "qr" || rt.Window != 2 {
		t.Fatalf("rating: %+v %v", rt, err)
	}
	if _, err := c.RateTicketPage(ctx, n1, d1, ip, 5); !errors.Is(err, ErrAlreadyRated) {
		t.Fatalf("second rating: %v", err)
	}
	if p, _ := c.TicketPage(n1, d1, ip); p.RatingOpen || !p.Rated {
		t.Fatalf("after rating: %+v", p)
	}

	// A restart on the same log and key: the printed links still work.
	c2 := newKeyedController(t, st, clock)
	if p, err := c2.TicketPage(n1, d1, ip); err != nil || !p.Rated {
		t.Fatalf("after restart: %+v %v", p, err)
	}
	// The next day a finished ticket's page is gone (the engine forgets
	// finished tickets of earlier days); a ticket still in the line
	// always opens.
	clock.Advance(24 * time.Hour)
	if _, err := c2.TicketPage(n1, d1, ip); !errors.Is(err, ErrBadTicketLink) {
		t.Fatalf("a finished ticket of yesterday: %v", err)
	}
	if p, err := c2.TicketPage(n2, d2, ip); err != nil || p.State != "waiting" {
		t.Fatalf("a live ticket of yesterday: %+v %v", p, err)
	}
}

// Failed checks are limited per client address: after checkBurst
// failures every request from it is refused (even with a right d, so
// guesses learn nothing) until the bucket refills; other clients are not
// affected; IPv6 clients count per /64.
func TestTicketPageRateLimit(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 10, 0, 0, 0, sh))
	c := newKeyedController(t, openStore(t), clock)
	tk, err := c.Issue(context.Background(), IssueRequest{Item: "HR-001"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	n, d := linkOf(t, c, tk)
	guess := "AAAAAAAAAAAAAAAA"
	for i := range checkBurst {
		if _, err := c.TicketPage(n, guess, "198.51.100.7"); !errors.Is(err, ErrBadTicketLink) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	_, err = c.TicketPage(n, d, "198.51.100.7")
	var re *RetryError
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &re) || re.After <= 0 || re.After > checkRefill {
		t.Fatalf("after %d failures, the right d: %v", checkBurst, err)
	}
	if _, err := c.RateTicketPage(context.Background(), n, d, "198.51.100.7", 5); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("rating while limited: %v", err)
	}
	if _, err := c.TicketPage(n, d, "198.51.100.8"); err != nil {
		t.Fatalf("another client: %v", err)
	}
	if got := counterValue(t, c, "hallctl_ticket_check_failures_total"); got != checkBurst {
		t.Fatalf("failures counted %v, want %d", got, checkBurst)
	}
	if got := counterValue(t, c, "hallctl_ticket_check_limited_total"); got != 2 {
		t.Fatalf("limited counted %v, want 2", got)
	}
	clock.Advance(checkRefill)
	if _, err := c.TicketPage(n, d, "198.51.100.7"); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
	if _, err := c.TicketPage(n, guess, "198.51.100.7"); !errors.Is(err, ErrBadTicketLink) {
		t.Fatalf("one more guess after the refill: %v", err)
	}
	if _, err := c.TicketPage(n, d, "198.51.100.7"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("limited again after one more failure: %v", err)
	}

	// IPv6: one /64 is one client.
	for range checkBurst {
		c.TicketPage(n, guess, "2001:db8:1:2::a")
	}
	if _, err := c.TicketPage(n, d, "2001:db8:1:2::b"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("same /64: %v", err)
	}
	if _, err := c.TicketPage(n, d, "2001:db8:1:3::a"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	if clientKey("::ffff:192.0.2.1") != "192.0.2.1" {
		t.Fatalf("mapped IPv4: %s", clientKey("::ffff:192.0.2.1"))
	}
}

// The limiter remembers a bounded number of clients.
func TestTicketPageLimiterBounded(t *testing.T) {
	tp := &ticketPager{buckets: map[string]checkBucket{}}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i := range checkClients + 100 {
		tp.fail(clientKey("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)), now)
	}
	if len(tp.buckets) > checkClients {
		t.Fatalf("%d clients remembered", len(tp.buckets))
	}
}

// counterValue reads a counter from the controller's registry.
func counterValue(t *testing.T, c *Controller, name string) float64 {
	t.Helper()
	mfs, err := c.o.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

// Whatever a phone sends as number and d, the check never panics and
// only the ticket's own d verifies.
func FuzzTicketCheck(f *testing.F) {
	ref := TicketRef{Hall: "h", ID: 7, Number: "A007", Day: "20261123"}
	good := TicketCheck(testTicketKey, ref)
	f.Add("A007", good)
	f.Add("a007", good)
	f.Add("A007", "")
	f.Add("", "AAAAAAAAAAAAAAAA")
	f.Add("ABCDE12345", good+"==")
	f.Add("A\x00007", "%%%%")
	f.Fuzz(func(t *testing.T, number, d string) {
		valid := validTicketNumber(number)
		if valid && (len(number) > 9 || number != strings.ToUpper(number)) {
			t.Fatalf("%q accepted as a ticket number", number)
		}
		r := ref
		r.Number = number
		if VerifyTicketCheck(testTicketKey, r, d) && (number != ref.Number || d != good) {
			t.Fatalf("number %q with d %q verifies", number, d)
		}
	})
}

// BenchmarkTicketPage is the cost of a page request in a hall with 3,000
// tickets today: a live ticket (found by number) and a wrong d of the
// right length (every ticket of the last two days looked at, under the
// controller's lock — the worst case a guesser can cause, 20 times per
// address before the limit).
func BenchmarkTicketPage(b *testing.B) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 10, 0, 0, 0, sh))
	cfg, err := config.Parse("t.yaml", []byte(strings.Replace(hoursHall, `"09:00", close: "17:00"}}`, `"00:00", close: "24:00"}}`, 1)))
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(context.Background(), Options{Config: cfg, Clock: clock, Store: openStore(b), TicketKey: testTicketKey,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	var tk Issued
	for i := range 3000 {
		if tk, err = c.Issue(context.Background(), IssueRequest{Item: "HR-001", Source: "b" + strconv.Itoa(i)}, "", ""); err != nil {
			b.Fatal(err)
		}
	}
	u, _ := url.Parse(c.TicketURL(tk.ID, tk.Number, tk.IssuedAt))
	d := u.Query().Get("d")
	b.Run("live", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.TicketPage(tk.Number, d, "192.0.2.1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wrong-d", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, err := c.TicketPage(tk.Number, "AAAAAAAAAAAAAAAA", "10.1."+strconv.Itoa(i/256%256)+"."+strconv.Itoa(i%256)); !errors.Is(err, ErrBadTicketLink) && !errors.Is(err, ErrRateLimited) {
				b.Fatal(err)
			}
		}
	})
}
