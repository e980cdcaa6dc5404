package city_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/xuri/excelize/v2"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/city"
)

// now is 2026-11-04 10:00 in Shanghai: "today" is the third generated day.
var now = time.Date(2026, 11, 4, 2, 0, 0, 0, time.UTC)

func cityServer(t *testing.T) (*httptest.Server, *auth.Keys) {
	t.Helper()
	ctx := context.Background()
	_, pool, cc := cityDB(t, 20, "h1", "h2")
	if _, err := folder(pool, cc).FoldAll(ctx); err != nil {
		t.Fatal(err)
	}
	cc.Loc = shanghai
	keys := auth.MemoryCity("sz", map[string][]byte{"k1": []byte("0123456789abcdef0123456789abcdef")})
	srv := httptest.NewServer(city.NewServer(pool, cc, keys, slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(now)).Handler())
	t.Cleanup(srv.Close)
	return srv, keys
}

func token(t *testing.T, k *auth.Keys, halls ...string) string {
	t.Helper()
	tok, err := k.Sign(auth.Claims{Role: auth.RoleCity, Subject: "officer", Halls: halls, Issued: now.Add(-time.Hour).Unix(), Expires: now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func get(t *testing.T, srv *httptest.Server, path, tok string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func code(t *testing.T, b []byte) string {
	t.Helper()
	var p struct{ Code, MessageZH string }
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("not a problem: %s", b)
	}
	return p.Code
}

func TestServerAuth(t *testing.T) {
	srv, keys := cityServer(t)
	hallKeys := auth.Memory("h1", map[string][]byte{"k1": []byte("0123456789abcdef0123456789abcdef")})
	manager, _ := hallKeys.Sign(auth.Claims{Role: auth.RoleManager, Subject: "m", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()})
	expired, _ := keys.Sign(auth.Claims{Role: auth.RoleCity, Subject: "o", Halls: []string{"*"}, Issued: now.Add(-3 * time.Hour).Unix(), Expires: now.Add(-time.Hour).Unix()})
	for _, c := range []struct{ name, path, tok, want string }{
		{"none", "/city/api/summary", "", "unauthorized"},
		{"garbage", "/city/api/summary", "abc.def.ghi", "unauthorized"},
		{"hall manager", "/city/api/summary", manager, "unauthorized"},
		{"expired", "/city/api/summary", expired, "token_expired"},
		{"csv none", "/city/export.csv", "", "unauthorized"},
		{"xlsx expired", "/city/export.xlsx", expired, "token_expired"},
	} {
		resp, b := get(t, srv, c.path, c.tok)
		if resp.StatusCode != 401 || code(t, b) != c.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, b)
		}
	}
	all := token(t, keys, "*")
	if resp, b := get(t, srv, "/city/api/summary?from=2026-11-09&to=2026-11-01", all); resp.StatusCode != 400 || code(t, b) != "bad_request" {
		t.Errorf("bad range: %d %s", resp.StatusCode, b)
	}
	// The page has no data and needs no token.
	if resp, b := get(t, srv, "/city/", ""); resp.StatusCode != 200 || !bytes.Contains(b, []byte("城市视图")) {
		t.Errorf("page: %d", resp.StatusCode)
	}
}

func summary(t *testing.T, srv *httptest.Server, path, tok string) city.Summary {
	t.Helper()
	resp, b := get(t, srv, path, tok)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
	}
	var s city.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func hallsOf(s city.Summary) []string {
	var hs []string
	for _, r := range s.Rows {
		if len(hs) == 0 || hs[len(hs)-1] != r.Hall {
			hs = append(hs, r.Hall)
		}
	}
	return hs
}

// TestServerHallIsolation: a district token sees its halls only, in
// rows and totals; asking for another hall is 403.
func TestServerHallIsolation(t *testing.T) {
	srv, keys := cityServer(t)
	all, h1 := token(t, keys, "*"), token(t, keys, "h1")
	sAll := summary(t, srv, "/city/api/summary?from=2026-11-02&to=2026-11-06", all)
	if got := hallsOf(sAll); len(got) != 2 || sAll.Total.Tickets != 200 {
		t.Fatalf("all halls: %v, %d tickets", got, sAll.Total.Tickets)
	}
	s1 := summary(t, srv, "/city/api/summary?from=2026-11-02&to=2026-11-06&by=dept", h1)
	if got := hallsOf(s1); len(got) != 1 || got[0] != "h1" || s1.Total.Tickets != 100 {
		t.Fatalf("h1 token: %v, %d tickets", got, s1.Total.Tickets)
	}
	for _, p := range []string{"/city/api/summary?hall=h2", "/city/api/summary?hall=h1,h2", "/city/export.csv?hall=h2"} {
		if resp, b := get(t, srv, p, h1); resp.StatusCode != 403 || code(t, b) != "forbidden" {
			t.Errorf("%s with an h1 token: %d %s", p, resp.StatusCode, b)
		}
	}
	// Today is the city's local day (2026-11-04): 20 tickets a hall.
	if s := summary(t, srv, "/city/api/summary", all); s.From != "2026-11-04" || s.To != "2026-11-04" || s.Total.Tickets != 40 {
		t.Fatalf("today: %s…%s %d tickets", s.From, s.To, s.Total.Tickets)
	}
	// Exports: h1's rows only, Chinese headers, totals row.
	resp, b := get(t, srv, "/city/export.csv?from=2026-11-02&to=2026-11-06&by=dept", h1)
	if resp.StatusCode != 200 || !bytes.HasPrefix(b, []byte("\uFEFF大厅,大厅名称,部门,部门名称,取号数")) ||
		bytes.Contains(b, []byte("h2")) || !bytes.Contains(b, []byte("\r\n合计,")) {
		t.Fatalf("csv: %d\n%s", resp.StatusCode, b)
	}
	resp, b = get(t, srv, "/city/export.xlsx?from=2026-11-02&to=2026-11-06", all)
	if resp.StatusCode != 200 {
		t.Fatalf("xlsx: %d", resp.StatusCode)
	}
	x, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := x.GetRows(city.SheetZh)
	if err != nil || len(rows) != 4 || rows[0][0] != "大厅" || rows[3][0] != "合计" || rows[3][2] != "200" {
		t.Fatalf("xlsx rows %v %v", rows, err)
	}
}

// The shipped example city config loads, with its hall.
func TestExampleCityConfig(t *testing.T) {
	c, err := city.LoadConfig("../../configs/examples/city.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.City.ID != "binjiang" || c.HallConfigs["district-hall"] == nil || c.HallName("district-hall") == "" ||
		c.DeptName("district-hall", "RS") == "" || c.Loc.String() != "Asia/Shanghai" {
		t.Fatalf("%+v", c)
	}
	if _, err := city.ParseConfig("x.yaml", []byte("city: {id: a}\nbogus: 1\n")); err == nil {
		t.Fatal("an unknown key was accepted")
	}
	if _, err := city.ParseConfig("x.yaml", []byte("city: {id: \"a b\"}\n")); err == nil {
		t.Fatal("a bad city id was accepted")
	}
}
