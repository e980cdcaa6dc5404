package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/wire"
)

// printedLink takes a ticket at kiosk-1 and returns the link its print
// command carries in the QR field.
func printedLink(t *testing.T, h *hall, kiosk *device) (number string, link *url.URL) {
	t.Helper()
	r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": "HR-001", "agent": "kiosk-1"})
	if r.status != 201 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	var tk struct{ Number string }
	r.decode(t, &tk)
	cmd := waitCmd(t, kiosk, wire.CmdPrint, `"`+tk.Number+`"`)
	var job wire.Print
	if err := json.Unmarshal([]byte(strings.TrimPrefix(cmd, wire.CmdPrint+" ")), &job); err != nil {
		t.Fatalf("print args %s: %v", cmd, err)
	}
	u, err := url.Parse(job.Fields.QR)
	if err != nil {
		t.Fatal(err)
	}
	if "http://"+u.Host != h.base || u.Path != "/t/"+tk.Number || len(u.Query().Get("d")) != 16 {
		t.Fatalf("printed QR link %q", job.Fields.QR)
	}
	return tk.Number, u
}

func get(t *testing.T, u string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// The printed QR link opens the page (200) and its API; the API polls
// cheaply with the ETag; a wrong d sees nothing and cannot rate; the
// right d rates once, after service.
func TestTicketPageAPI(t *testing.T) {
	h := startHall(t)
	kiosk := newDevice(t, h, "kiosk-1", []wire.DeviceInfo{{ID: "printer-1", Kind: wire.KindPrinter}})
	number, link := printedLink(t, h, kiosk)
	d := link.Query().Get("d")
	wrong := "AAAAAAAAAAAAAAAA"
	apiPath := "/api/v1/t/" + number

	res, body := get(t, link.String(), nil)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), `src="/t/t.js"`) || res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("page: %d %s %q", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if res, _ := get(t, h.base+"/t/t.js", nil); res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("t.js: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}

	res, body = get(t, h.base+apiPath+"?d="+d, nil)
	var p ctl.TicketPage
	if err := json.Unmarshal(body, &p); err != nil || res.StatusCode != 200 {
		t.Fatalf("api: %d %s", res.StatusCode, body)
	}
	if p.Number != number || p.State != "waiting" || p.ItemName != "社会保障卡申领" || p.Hall != "市民服务中心" ||
		p.WaitP90 < p.WaitP50 || p.RatingOpen || p.Location != "一楼东区 1-2 号窗口" {
		t.Fatalf("waiting ticket: %+v", p)
	}
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if res, _ := get(t, h.base+apiPath+"?d="+d, map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
		t.Fatalf("unchanged ticket with its ETag: %d", res.StatusCode)
	}

	for _, q := range []string{"?d=" + wrong, "", "?d=" + d + "x"} {
		r := h.do(t, "GET", apiPath+q, "", nil)
		if r.status != 404 || r.problem(t).Code != "bad_ticket_link" {
			t.Fatalf("GET %s: %d %s", q, r.status, r.body)
		}
	}
	if r := h.do(t, "POST", apiPath+"/rating?d="+d, "", map[string]int{"level": 5}); r.status != 409 || r.problem(t).Code != "not_rateable" {
		t.Fatalf("rating a waiting ticket: %d %s", r.status, r.body)
	}

	clerk := h.token(t, "clerk", 1)
	for _, a := range []string{"call-next", "start"} {
		if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]string{"action": a}); r.status != 200 {
			t.Fatalf("%s: %d %s", a, r.status, r.body)
		}
	}
	// The ticket changed: the old ETag no longer matches.
	res, body = get(t, h.base+apiPath+"?d="+d, map[string]string{"If-None-Match": etag})
	if res.StatusCode != 200 || json.Unmarshal(body, &p) != nil || p.State != "serving" || p.Window != 1 || p.Zone != "east" {
		t.Fatalf("serving: %d %s", res.StatusCode, body)
	}
	if r := h.do(t, "POST", "/api/v1/windows/1/actions", clerk, map[string]string{"action": "finish"}); r.status != 200 {
		t.Fatalf("finish: %d %s", r.status, r.body)
	}
	r := h.do(t, "GET", apiPath+"?d="+d, "", nil)
	r.decode(t, &p)
	if p.State != "finished" || !p.RatingOpen {
		t.Fatalf("served: %+v", p)
	}
	r = h.do(t, "POST", apiPath+"/rating?d="+wrong, "", map[string]int{"level": 1})
	if r.status != 404 || r.problem(t).Code != "bad_ticket_link" {
		t.Fatalf("rating with a wrong d: %d %s", r.status, r.body)
	}
	if r := h.do(t, "GET", apiPath+"?d="+d, "", nil); !strings.Contains(string(r.body), `"rating_open":true`) {
		t.Fatalf("a wrong d closed the rating: %s", r.body)
	}
	if r := h.do(t, "POST", apiPath+"/rating?d="+d, "", map[string]int{"level": 9}); r.status != 400 || r.problem(t).Code != "bad_level" {
		t.Fatalf("level 9: %d %s", r.status, r.body)
	}
	r = h.do(t, "POST", apiPath+"/rating?d="+d, "", map[string]int{"level": 5})
	var rt ctl.Rating
	r.decode(t, &rt)
	if r.status != 201 || rt.Level != 5 || rt.Channel != "qr" || rt.Number != number {
		t.Fatalf("rating: %d %s", r.status, r.body)
	}
	if r := h.do(t, "POST", apiPath+"/rating?d="+d, "", map[string]int{"level": 1}); r.status != 409 || r.problem(t).Code != "already_rated" {
		t.Fatalf("second rating: %d %s", r.status, r.body)
	}
}

// Guessing d from one address: after 20 failures it gets 429
// rate_limited with Retry-After, even with the right d, and the failures
// are counted in /metrics.
func TestTicketPageRateLimited(t *testing.T) {
	h := startHall(t)
	kiosk := newDevice(t, h, "kiosk-1", []wire.DeviceInfo{{ID: "printer-1", Kind: wire.KindPrinter}})
	number, link := printedLink(t, h, kiosk)
	for i := range 20 {
		if r := h.do(t, "GET", "/api/v1/t/"+number+"?d=guess"+strings.Repeat("x", i%3), "", nil); r.status != 404 {
			t.Fatalf("guess %d: %d %s", i, r.status, r.body)
		}
	}
	res, body := get(t, h.base+"/api/v1/t/"+number+"?"+link.RawQuery, nil)
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"code":"rate_limited"`) {
		t.Fatalf("after 20 failures: %d %q %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	r := h.do(t, "POST", "/api/v1/t/"+number+"/rating?"+link.RawQuery, "", map[string]int{"level": 5})
	if r.status != 429 || r.problem(t).Code != "rate_limited" {
		t.Fatalf("rating while limited: %d %s", r.status, r.body)
	}
	_, m := get(t, h.base+"/metrics", nil)
	for _, want := range []string{"hallctl_ticket_check_failures_total 20", "hallctl_ticket_check_limited_total 2"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
