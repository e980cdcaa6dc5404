package casesys

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/servicehall/servicehall/hallctl/config"
)

func day(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(DateLayout, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The shipped 2026 schedule is the 国务院办公厅 notice: against a
// weekdays-only calendar it changes exactly 19 weekdays to days off and 6
// weekend days to make-up working days.
func TestShippedCalendar2026(t *testing.T) {
	cal, err := NewCalendar(nil)
	if err != nil {
		t.Fatal(err)
	}
	var off, work []string
	for d := day(t, "2026-01-01"); d.Year() == 2026; d = d.AddDate(0, 0, 1) {
		weekday := d.Weekday() != time.Saturday && d.Weekday() != time.Sunday
		switch got := cal.IsWorkday(d); {
		case weekday && !got:
			off = append(off, d.Format("01-02"))
		case !weekday && got:
			work = append(work, d.Format("01-02"))
		}
	}
	wantOff := []string{"01-01", "01-02", "02-16", "02-17", "02-18", "02-19", "02-20", "02-23", "04-06",
		"05-01", "05-04", "05-05", "06-19", "09-25", "10-01", "10-02", "10-05", "10-06", "10-07"}
	wantWork := []string{"01-04", "02-14", "02-28", "05-09", "09-20", "10-10"}
	if !reflect.DeepEqual(off, wantOff) || !reflect.DeepEqual(work, wantWork) {
		t.Fatalf("2026 weekdays off %v\nwant %v\nweekend days worked %v\nwant %v", off, wantOff, work, wantWork)
	}
	if ys := ShippedYears(); len(ys) == 0 || ys[0] != 2026 {
		t.Fatalf("shipped years %v", ys)
	}
}

// Due dates of promised items count working days after the acceptance
// day (day 0) on the official 2026 schedule.
func TestDueDatesOfficial2026(t *testing.T) {
	cal, err := NewCalendar(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from string
		n    int
		want string
		why  string
	}{
		{"2026-09-30", 1, "2026-10-08", "over National Day (Oct 1–7 off)"},
		{"2026-09-30", 2, "2026-10-09", "the day after"},
		{"2026-09-30", 3, "2026-10-10", "Saturday Oct 10 is a make-up working day"},
		{"2026-02-13", 1, "2026-02-14", "Saturday Feb 14 is a make-up working day before Spring Festival"},
		{"2026-02-13", 2, "2026-02-24", "Spring Festival Feb 15–23 off"},
		{"2026-02-27", 1, "2026-02-28", "Saturday Feb 28 is a make-up working day"},
		{"2026-09-18", 1, "2026-09-20", "Sunday Sep 20 is a make-up working day"},
		{"2026-09-24", 1, "2026-09-28", "Mid-Autumn Sep 25–27 off"},
		{"2026-04-30", 1, "2026-05-06", "Labour Day May 1–5 off"},
		{"2026-12-31", 0, "2026-12-31", "n = 0 is the acceptance day"},
	} {
		if got := cal.AddWorkdays(day(t, c.from), c.n).Format(DateLayout); got != c.want {
			t.Errorf("%s + %d working days = %s, want %s (%s)", c.from, c.n, got, c.want, c.why)
		}
	}

	// The same through the acceptor: a case accepted in Shanghai on
	// 2026-09-30 with promise_days 1 is due on 2026-10-08.
	hall, err := config.Parse("hall.yaml", []byte(`
hall: {id: t, name: 测试大厅, timezone: Asia/Shanghai}
departments: [{code: HR, name: 人社}]
items:
  - {code: HR-002, name: 社保转移, dept: HR, prefix: A, kind: promised, promise_days: 1}
windows:
  - {number: 1, dept: HR, serves: ["*"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAcceptor(hall, Config{Region: "440300"}, cal)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 9, 30, 8, 0, 0, 0, time.UTC), "2026-10-08"},   // 16:00 local
		{time.Date(2026, 2, 13, 1, 30, 0, 0, time.UTC), "2026-02-14"},  // 09:30 local
		{time.Date(2026, 2, 13, 16, 30, 0, 0, time.UTC), "2026-02-24"}, // 00:30 on the 14th local
	} {
		got, _, err := a.Accept(Acceptance{Ticket: 1, Number: "A001", Item: "HR-002", Window: 1, At: c.at})
		if err != nil {
			t.Fatal(err)
		}
		if got.Due != c.want {
			t.Errorf("accepted %s: due %s, want %s", c.at.In(shanghai), got.Due, c.want)
		}
	}
}

// The hall's `holidays:` list overrides the shipped schedule per date.
func TestCalendarHallOverride(t *testing.T) {
	cal, err := NewCalendar([]Holiday{
		{Date: "2026-10-08", Name: "本地假日"}, // a local holiday after National Day
		{Date: "2026-02-14"},               // the make-up Saturday cancelled
		{Date: "2026-05-05", Work: true},   // a shipped holiday worked
		{Date: "2027-01-01", Name: "元旦"},   // a year the binary does not ship
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from string
		n    int
		want string
	}{
		{"2026-09-30", 1, "2026-10-09"},
		{"2026-02-13", 1, "2026-02-24"},
		{"2026-04-30", 1, "2026-05-05"},
		{"2026-12-31", 1, "2027-01-04"},
	} {
		if got := cal.AddWorkdays(day(t, c.from), c.n).Format(DateLayout); got != c.want {
			t.Errorf("with overrides %s + %d = %s, want %s", c.from, c.n, got, c.want)
		}
	}
	if !cal.Covered(2027) {
		t.Error("the hall's 2027 date does not cover 2027")
	}
	// Twice in the hall's own list is still an error; once is fine even
	// where the shipped schedule has the date.
	if _, err := NewCalendar([]Holiday{{Date: "2026-10-01"}, {Date: "2026-10-01", Work: true}}); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("twice: %v", err)
	}
}

// Only 2026 is shipped: on 2026-12-15 the next month, 2027-01, has no
// schedule.
func TestCalendarUncovered(t *testing.T) {
	sh := map[int][]Holiday{2026: {{Date: "2026-10-01"}}}
	cal, err := newCalendar(sh, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   string
		want []string
	}{
		{"2026-06-01", nil},
		{"2026-11-30", nil},
		{"2026-12-15", []string{"2027-01"}},
		{"2027-03-01", []string{"2027-03", "2027-04"}},
		{"2025-12-31", []string{"2025-12"}},
	} {
		if got := cal.Uncovered(day(t, c.at)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("uncovered at %s = %v, want %v", c.at, got, c.want)
		}
	}
	hall, _ := newCalendar(sh, []Holiday{{Date: "2027-01-01", Name: "元旦"}})
	if got := hall.Uncovered(day(t, "2026-12-15")); got != nil {
		t.Errorf("with the hall's 2027 dates: %v", got)
	}
	// The real binary ships 2026.
	real, _ := NewCalendar(nil)
	if got := real.Uncovered(day(t, "2026-07-10")); got != nil {
		t.Errorf("2026 uncovered in the binary: %v", got)
	}
}

func TestLoadShippedErrors(t *testing.T) {
	for name, c := range map[string]struct{ file, body, want string }{
		"year":  {"holidays/cn-2027.yaml", "year: 2026\ndays: [{date: 2026-01-01}]\n", "does not match"},
		"date":  {"holidays/cn-2026.yaml", "year: 2026\ndays: [{date: 2027-01-01}]\n", "not a date of 2026"},
		"twice": {"holidays/cn-2026.yaml", "year: 2026\ndays: [{date: 2026-01-01}, {date: 2026-01-01}]\n", "listed twice"},
		"empty": {"holidays/cn-2026.yaml", "year: 2026\n", "no days"},
		"yaml":  {"holidays/cn-2026.yaml", "year: [\n", "shipped calendar"},
	} {
		_, err := loadShipped(fstest.MapFS{c.file: {Data: []byte(c.body)}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
