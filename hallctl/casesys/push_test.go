package casesys

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// The worked example of docs/casesys.md, byte for byte: a case-system
// vendor checks their signing code against these values (cross-checked
// with openssl dgst -sha256 -hmac).
func TestPushSignatureVector(t *testing.T) {
	key := []byte("case-system-shared-secret-0001")
	const (
		method = "POST"
		path   = "/api/v1/cases/440300HR-00120261121000042/status"
		ts     = "1763717400"
		nonce  = "7f3a9c2e5b8d4016"
		body   = `{"status":"ready_for_pickup","at":"2026-11-21T09:30:00Z"}`
	)
	wantCanon := "POST\n/api/v1/cases/440300HR-00120261121000042/status\n1763717400\n7f3a9c2e5b8d4016\n" +
		"fe05700816271283e9845edd88f66d7da744d7962882b1dde047dbe85b775377"
	if got := PushCanonical(method, path, ts, nonce, []byte(body)); got != wantCanon {
		t.Fatalf("canonical string\n got %q\nwant %q", got, wantCanon)
	}
	mac := PushMAC(key, method, path, ts, nonce, []byte(body))
	if h := hex.EncodeToString(mac); h != "c3e4c923b6b20500a7013ced4d117387d292fea0ae0613c45bf39e6acd111769" {
		t.Errorf("hex signature %s", h)
	}
	if b := base64.StdEncoding.EncodeToString(mac); b != "w+TJI7ayBQCnATztTRFzh9KS/qCuBhPEW/Oeas0RF2k=" {
		t.Errorf("base64 signature %s", b)
	}
	if s := SignPush(key, method, path, ts, nonce, []byte(body)); s != "sha256=c3e4c923b6b20500a7013ced4d117387d292fea0ae0613c45bf39e6acd111769" {
		t.Errorf("header value %s", s)
	}
	// The request as a vendor sends it is accepted at that time.
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, "sha256=c3e4c923b6b20500a7013ced4d117387d292fea0ae0613c45bf39e6acd111769")
	if _, err := VerifyPush(req.Header, key, method, path, time.Unix(1763717400, 0), []byte(body)); err != nil {
		t.Fatal(err)
	}
}

// pushRig is a registry with two cases in a real SQLite store, and the
// inbound API on it.
type pushRig struct {
	t       *testing.T
	fc      *clockwork.FakeClock
	path    string
	reg     *Registry
	h       http.Handler
	closeSt func() error
	serials [2]string
}

func newPushRig(t *testing.T) *pushRig {
	r := &pushRig{t: t, fc: clockwork.NewFakeClockAt(time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)),
		path: filepath.Join(t.TempDir(), "hallctl.db"), serials: [2]string{"440300HR-00120261121000001", "440300HR-00120261121000002"}}
	r.open()
	for i, s := range r.serials {
		c := Case{Serial: s, Ticket: int64(i + 1), Item: "HR-001", AcceptedAt: r.fc.Now(), Status: StatusAccepted, StatusAt: r.fc.Now(),
			History: []StatusChange{{Serial: s, Status: StatusAccepted, At: r.fc.Now()}}}
		if err := r.reg.Accept(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = r.closeSt() })
	return r
}

// open (re)opens the store, the registry and the API: a restart.
func (r *pushRig) open() {
	st := openStore(r.t, r.path)
	r.closeSt = st.Close
	r.reg = NewRegistry(st)
	r.h = NewAPI(r.reg, APIOpts{Key: secret, Clock: r.fc})
}

func (r *pushRig) restart() {
	if err := r.closeSt(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
}

// signed is a signed push request for serial.
func (r *pushRig) signed(serial, body, nonce string, ts time.Time) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/cases/"+serial+"/status", strings.NewReader(body))
	SignPushRequest(req, secret, ts, nonce, []byte(body))
	return req
}

// send serves req (a fresh copy of its body each time) and returns the
// status and the problem code.
func (r *pushRig) send(req *http.Request, body string) (int, string) {
	req = req.Clone(context.Background())
	req.Body = http.NoBody
	if body != "" {
		req.Body = ioNopCloser(body)
	}
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, req)
	var p struct{ Code string }
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	return rec.Code, p.Code
}

func (r *pushRig) status(serial string) Status {
	c, err := r.reg.Get(context.Background(), serial)
	if err != nil {
		r.t.Fatal(err)
	}
	return c.Status
}

// Finding "a captured case-status push can be replayed against any other
// case": the same signed request sent to a second serial (only the URL
// changed) is refused and changes nothing. On the old code (signature
// over timestamp + body) it moved the second case too.
func TestPushBoundToSerial(t *testing.T) {
	r := newPushRig(t)
	body := `{"status":"ready_for_pickup"}`
	req := r.signed(r.serials[0], body, "captured-nonce-0001", r.fc.Now())
	if code, pc := r.send(req, body); code != 200 {
		t.Fatalf("signed push: %d %s", code, pc)
	}
	other := req.Clone(context.Background())
	other.URL.Path = "/api/v1/cases/" + r.serials[1] + "/status"
	other.RequestURI = other.URL.Path
	other.Header.Set(HeaderNonce, "captured-nonce-0002") // a fresh nonce does not help either
	for _, n := range []string{"captured-nonce-0001", "captured-nonce-0002"} {
		other.Header.Set(HeaderNonce, n)
		if code, pc := r.send(other, body); code != 401 || pc != "bad_signature" {
			t.Errorf("push moved to %s with nonce %s: %d %s", r.serials[1], n, code, pc)
		}
	}
	if s := r.status(r.serials[1]); s != StatusAccepted {
		t.Fatalf("the second case is %s", s)
	}
}

// A replay of the same signed request is refused (409 replayed_nonce),
// also after a restart (the nonce is in the store), until its timestamp
// is too old anyway (then signature_skew); a nonce is dropped from the
// store once older than MaxSkew.
func TestPushReplayRefused(t *testing.T) {
	r := newPushRig(t)
	body := `{"status":"in_review"}`
	req := r.signed(r.serials[0], body, "replay-nonce-00001", r.fc.Now())
	if code, pc := r.send(req, body); code != 200 {
		t.Fatalf("push: %d %s", code, pc)
	}
	seq := func() int64 { n, _ := r.reg.st.LastSeq(context.Background(), ""); return n }
	before := seq()
	if code, pc := r.send(req, body); code != 409 || pc != "replayed_nonce" {
		t.Fatalf("replay: %d %s", code, pc)
	}
	r.restart()
	r.fc.Advance(MaxSkew - time.Second)
	if code, pc := r.send(req, body); code != 409 || pc != "replayed_nonce" {
		t.Fatalf("replay after a restart: %d %s", code, pc)
	}
	if seq() != before {
		t.Fatal("a refused replay wrote to the log")
	}
	r.fc.Advance(2 * time.Second)
	if code, pc := r.send(req, body); code != 401 || pc != "signature_skew" {
		t.Fatalf("late replay: %d %s", code, pc)
	}
	// The next push drops the old nonce from the store.
	next := r.signed(r.serials[0], `{"status":"approved"}`, "replay-nonce-00002", r.fc.Now())
	if code, pc := r.send(next, `{"status":"approved"}`); code != 200 {
		t.Fatalf("next push: %d %s", code, pc)
	}
	kvs, err := r.reg.st.List(context.Background(), NonceBucket)
	if err != nil || len(kvs) != 1 || kvs[0].Key != "replay-nonce-00002" {
		t.Fatalf("nonces kept: %v %v", kvs, err)
	}
}

// A timestamp more than MaxSkew ahead is refused with its own code
// (signature_future); within the skew it is accepted. The old signature
// format (timestamp + "." + body, no nonce) is refused.
func TestPushFutureAndOldFormat(t *testing.T) {
	r := newPushRig(t)
	body := `{"status":"in_review"}`
	if code, pc := r.send(r.signed(r.serials[0], body, "future-nonce-0001", r.fc.Now().Add(MaxSkew+time.Second)), body); code != 401 || pc != "signature_future" {
		t.Errorf("future push: %d %s", code, pc)
	}
	old := httptest.NewRequest(http.MethodPost, "/api/v1/cases/"+r.serials[0]+"/status", strings.NewReader(body))
	old.Header.Set(HeaderTimestamp, strconv.FormatInt(r.fc.Now().Unix(), 10))
	old.Header.Set(HeaderSignature, Sign(secret, r.fc.Now(), []byte(body)))
	if code, pc := r.send(old, body); code != 401 || pc != "unsigned" {
		t.Errorf("old format: %d %s", code, pc)
	}
	old.Header.Set(HeaderNonce, "old-format-nonce-1")
	if code, pc := r.send(old, body); code != 401 || pc != "bad_signature" {
		t.Errorf("old format with a nonce: %d %s", code, pc)
	}
	if r.status(r.serials[0]) != StatusAccepted {
		t.Fatal("a refused push changed the case")
	}
	if code, pc := r.send(r.signed(r.serials[0], body, "future-nonce-0002", r.fc.Now().Add(MaxSkew-time.Second)), body); code != 200 {
		t.Errorf("push within the skew: %d %s", code, pc)
	}
}

func ioNopCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
