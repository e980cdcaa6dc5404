package city_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/casesys"
	"github.com/servicehall/servicehall/hallctl/city"
)

// FuzzParseQuery: any query string either is refused with ErrBadQuery
// or gives a canonical, bounded query that Limit narrows correctly.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "from=2026-11-01&to=2026-11-30&by=dept", "by=hall&hall=a,b&hall=c", "from=today",
		"from=2026-02-30", "to=2026-01-01", "hall=%00", "x=1", "from=2026-01-01&to=2027-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := city.ParseQuery(v, "2026-11-04")
		if err != nil {
			if !errors.Is(err, city.ErrBadQuery) {
				t.Fatalf("%q: %v", raw, err)
			}
			return
		}
		from, err1 := time.Parse(casesys.DateLayout, q.From)
		to, err2 := time.Parse(casesys.DateLayout, q.To)
		if err1 != nil || err2 != nil || to.Before(from) || to.Sub(from) >= city.MaxDays*24*time.Hour {
			t.Fatalf("%q: bad range %+v", raw, q)
		}
		if q.By != "hall" && q.By != "dept" || len(q.Halls) > auth.MaxHalls {
			t.Fatalf("%q: %+v", raw, q)
		}
		if sql, _ := q.SQL(); len(sql) == 0 {
			t.Fatal("no SQL")
		}
		c := auth.Claims{Role: auth.RoleCity, Halls: []string{"h1"}}
		l, err := q.Limit(c)
		if err == nil {
			if len(l.Halls) == 0 {
				t.Fatalf("%q: a one-hall token read every hall", raw)
			}
			for _, h := range l.Halls {
				if h != "h1" {
					t.Fatalf("%q: a one-hall token reads %s", raw, h)
				}
			}
		} else if !errors.Is(err, city.ErrForbidden) {
			t.Fatal(err)
		}
	})
}
