package wire

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestTopicRoundTrip(t *testing.T) {
	cases := []Topic{
		{Hall: "sz-civic", Kind: KindCtlStatus},
		{Hall: "sz-civic", Agent: "kiosk-1", Kind: KindAgentStatus},
		{Hall: "sz-civic", Agent: "kiosk-1", Kind: KindAgentInfo},
		{Hall: "sz-civic", Agent: "kiosk-1", Device: "printer-1", Kind: KindDevStatus},
		{Hall: "sz-civic", Agent: "kiosk-1", Device: "btn-1", Kind: KindEvent, Name: "press"},
		{Hall: "sz-civic", Agent: "kiosk-1", Device: "printer-1", Kind: KindCommand, Name: "rating-open"},
		{Hall: "sz-civic", Agent: "kiosk-1", Device: "printer-1", Kind: KindAck},
		{Hall: "sz-civic", Agent: "w-8", Device: "led-8", Kind: KindDesired},
		{Hall: "sz-civic", Agent: "w-8", Device: "led-8", Kind: KindReported},
	}
	for _, want := range cases {
		s := want.String()
		got, err := ParseTopic(s, "sz-civic")
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if got != want {
			t.Errorf("%s: parsed %+v, want %+v", s, got, want)
		}
	}
	if got := Event("h", "a", "d", "press"); got != "hall/v1/h/agent/a/dev/d/evt/press" {
		t.Errorf("Event builder: %s", got)
	}
	if got := CtlStatus("h"); got != "hall/v1/h/ctl/status" {
		t.Errorf("CtlStatus builder: %s", got)
	}
	if got := AgentCommandFilter("h", "a"); got != "hall/v1/h/agent/a/dev/+/cmd/+" {
		t.Errorf("command filter: %s", got)
	}
}

func TestParseTopicRejects(t *testing.T) {
	cases := map[string]error{
		"other/v1/h/ctl/status":                    ErrOutsideRoot,
		"hall/v2/h/ctl/status":                     ErrOutsideRoot,
		"hall/v1/other/ctl/status":                 ErrOutsideRoot,
		"hall/v1/h/agent/a/dev/d/evt/press/extra":  ErrBadTopic,
		"hall/v1/h/agent/a/dev/d/evt":              ErrBadTopic,
		"hall/v1/h/agent/A/status":                 ErrBadTopic,
		"hall/v1/h/agent/a b/status":               ErrBadTopic,
		"hall/v1/h/agent/+/status":                 ErrBadTopic,
		"hall/v1/h/agent/a/dev/#/status":           ErrBadTopic,
		"hall/v1/h/agent//status":                  ErrBadTopic,
		"hall/v1/h/ctl/other":                      ErrBadTopic,
		"hall/v1/h/" + strings.Repeat("x/", 300):   ErrBadTopic,
		"hall/v1/h/agent/a/dev/d/cmd/" + "Print":   ErrBadTopic,
		"hall/v1/h/agent/a/dev/d/unknown":          ErrBadTopic,
		"hall/v1/h/agent/a/dev/d/evt/" + "pr\x00s": ErrBadTopic,
	}
	for s, want := range cases {
		if _, err := ParseTopic(s, "h"); !errors.Is(err, want) {
			t.Errorf("%q: err = %v, want %v", s, err, want)
		}
	}
}

func TestRetained(t *testing.T) {
	for k := KindAgentStatus; k <= KindCtlStatus; k++ {
		want := k != KindEvent && k != KindCommand && k != KindAck
		if k.Retained() != want {
			t.Errorf("%s retained = %v", k, k.Retained())
		}
	}
}

func TestEventEnvelope(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 30, 0, 123456789, time.UTC)
	ev := NewEvent(now, "s-1", 7, Press{Item: "HR-001"})
	b := Marshal(ev)
	if !strings.Contains(string(b), `"ts":"2026-11-21T09:30:00.123Z"`) {
		t.Errorf("ts format: %s", b)
	}
	got, err := DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	var p Press
	if err := DecodeArgs(got.Data, &p); err != nil || p.Item != "HR-001" || got.Seq != 7 || got.Session != "s-1" {
		t.Errorf("decoded %+v %+v %v", got, p, err)
	}
}

func TestDecodeEventRejects(t *testing.T) {
	id := NewID(time.Now())
	cases := map[string]error{
		``:                          ErrMalformed,
		`   `:                       ErrMalformed,
		`{`:                         ErrMalformed,
		`[]`:                        ErrMalformed,
		`{"v":2,"id":"` + id + `"}`: ErrVersion,
		`{"v":1,"ts":"2026-11-21T09:30:00Z","data":{}}`:                                                                   ErrMissingID,
		`{"v":1,"id":"nope","ts":"2026-11-21T09:30:00Z","data":{}}`:                                                       ErrInvalid,
		`{"v":1,"id":"` + id + `","data":{}}`:                                                                             ErrInvalid,
		`{"v":1,"id":"` + id + `","ts":"yesterday","data":{}}`:                                                            ErrMalformed,
		`{"v":1,"id":"` + id + `","ts":"2026-11-21T09:30:00Z","data":[1]}`:                                                ErrInvalid,
		`{"v":1,"id":"` + id + `","ts":"2026-11-21T09:30:00Z"}`:                                                           ErrInvalid,
		`{"v":"1","id":"` + id + `","ts":"2026-11-21T09:30:00Z","data":{}}`:                                               ErrMalformed,
		`{"v":1,"id":"` + id + `","ts":"2026-11-21T09:30:00Z","data":{},"pad":"` + strings.Repeat("x", MaxPayload) + `"}`: ErrTooLarge,
	}
	for p, want := range cases {
		if _, err := DecodeEvent([]byte(p)); !errors.Is(err, want) {
			t.Errorf("%.60q: err = %v, want %v", p, err, want)
		}
	}
}

func TestCommandExpiry(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	c := NewCommand(now, time.Minute, Print{Template: TemplateTicket, Fields: PrintFields{Number: "A001"}})
	b := Marshal(c)
	got, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Expired(now.Add(59*time.Second)) || !got.Expired(now.Add(time.Minute)) {
		t.Errorf("expiry at %v", got.Exp)
	}
	if NewCommand(now, 0, Speak{Text: "x"}).Expired(now.Add(24 * time.Hour)) {
		t.Error("a command without exp expired")
	}
	var p Print
	if err := DecodeArgs(got.Args, &p); err != nil || p.Fields.Number != "A001" {
		t.Errorf("args %+v %v", p, err)
	}
}

func TestArgsValidation(t *testing.T) {
	bad := []struct {
		raw string
		v   any
	}{
		{`{"template":"poster"}`, &Print{}},
		{`{"template":"ticket","fields":{}}`, &Print{}},
		{`{"text":""}`, &Speak{}},
		{`{"session":"s","level":0}`, &Rating{}},
		{`{"session":"s","level":6}`, &Rating{}},
		{`{"action":"dance"}`, &Key{}},
		{`{"item":""}`, &Press{}},
		{`{"item":"A","from":5,"to":4}`, &Lease{}},
		{`{"level":"five"}`, &Rating{}},
	}
	for _, c := range bad {
		if err := DecodeArgs([]byte(c.raw), c.v); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s into %T: err = %v", c.raw, c.v, err)
		}
	}
	var k Key
	if err := DecodeArgs([]byte(`{"action":"transfer","arg":"12","future":true}`), &k); err != nil || k.Arg != "12" {
		t.Errorf("unknown fields must be accepted (extend, never rename): %v", err)
	}
}

func TestDecodeAckInfoStatus(t *testing.T) {
	id := NewID(time.Now())
	if _, err := DecodeAck([]byte(`{"id":"` + id + `","status":"done"}`)); err != nil {
		t.Error(err)
	}
	if _, err := DecodeAck([]byte(`{"id":"` + id + `","status":"maybe"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad ack status: %v", err)
	}
	if _, err := DecodeAck([]byte(`{"status":"done"}`)); !errors.Is(err, ErrMissingID) {
		t.Errorf("ack without id: %v", err)
	}
	info := InfoMsg{V: 1, Agent: "kiosk-1", Devices: []DeviceInfo{{ID: "p-1", Kind: KindPrinter}}}
	if _, err := DecodeInfo(Marshal(info)); err != nil {
		t.Error(err)
	}
	info.Devices[0].ID = "P 1"
	if _, err := DecodeInfo(Marshal(info)); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad device id: %v", err)
	}
	if _, err := DecodeDevStatus([]byte(`{"state":"fault","code":"paper_out"}`)); err != nil {
		t.Error(err)
	}
	if _, err := DecodeDevStatus([]byte(`{"state":"sleepy"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad state: %v", err)
	}
	if s, err := DecodeAvailability([]byte("online")); err != nil || s != Online {
		t.Errorf("availability: %q %v", s, err)
	}
	if _, err := DecodeAvailability([]byte("maybe")); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad availability: %v", err)
	}
	if _, err := DecodeDesired([]byte(`{"version":0,"lines":[]}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("desired version 0: %v", err)
	}
}

func TestNewIDIsOrderedUUIDv7(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	ids := make([]string, 5000)
	for i := range ids {
		ids[i] = NewID(now) // all in one millisecond
		if !ValidUUID(ids[i]) || ids[i][14] != '7' || !strings.ContainsRune("89ab", rune(ids[i][19])) {
			t.Fatalf("%s is not a UUIDv7", ids[i])
		}
	}
	if !sort.StringsAreSorted(ids) {
		t.Error("ids made in order do not sort in order")
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
	later := NewID(now.Add(time.Second))
	if later <= ids[len(ids)-1] {
		t.Error("a later id sorts before an earlier one")
	}
}

func TestReasonCodes(t *testing.T) {
	for err, want := range map[error]string{
		ErrOutsideRoot: "outside_root", ErrBadTopic: "bad_topic", ErrTooLarge: "oversize",
		ErrMalformed: "malformed", ErrVersion: "unknown_version", ErrMissingID: "missing_id", ErrInvalid: "invalid",
	} {
		if got := Reason(errors.Join(errors.New("ctx"), err)); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestTimeAcceptsAnyRFC3339(t *testing.T) {
	var v struct{ T Time }
	if err := json.Unmarshal([]byte(`{"T":"2026-11-21T17:30:00+08:00"}`), &v); err != nil {
		t.Fatal(err)
	}
	if got := string(Marshal(v)); got != `{"T":"2026-11-21T09:30:00.000Z"}` {
		t.Errorf("re-encoded as %s", got)
	}
}

// Card.Check: masked forms only (finding "unmasked numbers and names sent
// by a device are stored and broadcast").
func TestCardCheckMaskedOnly(t *testing.T) {
	h := strings.Repeat("ab", 32)
	good := []Card{
		{IDHash: h, MaskedID: "110105********002X", MaskedName: "张*三", BirthYear: 1949, Sex: "M", ValidTo: "long-term"},
		{IDHash: h, MaskedID: "******************", MaskedName: "张*", ValidTo: "2030-01-02"},
		{IDHash: h, MaskedName: "欧**娜"},
		{IDHash: h, MaskedName: "*"},
	}
	for _, c := range good {
		if err := c.Check(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := []Card{
		{IDHash: "h1"},
		{IDHash: h, MaskedID: "11010519491231002X"},
		{IDHash: h, MaskedID: "1101051949****002X"},
		{IDHash: h, MaskedName: "张小三"},
		{IDHash: h, MaskedName: "王小明"},
		{IDHash: h, MaskedName: "张三"},
		{IDHash: h, BirthYear: 1066},
		{IDHash: h, Sex: "x"},
		{IDHash: h, ValidTo: "11010519491231002X"},
	}
	for _, c := range bad {
		err := c.Check()
		if err == nil {
			t.Errorf("%+v accepted", c)
			continue
		}
		for _, v := range []string{"11010519491231002X", "张小三", "王小明", "张三"} {
			if strings.Contains(err.Error(), v) {
				t.Errorf("error quotes the value: %v", err)
			}
		}
	}
}
