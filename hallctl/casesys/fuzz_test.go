package casesys

import (
	"net/http"
	"testing"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
)

func FuzzParseSerial(f *testing.F) {
	f.Add("440300HR-00120261121000042")
	f.Add("000000A20261121000001")
	f.Add("440300HR-00120261121-00001")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseSerial(s)
		if err != nil {
			return
		}
		if p.String() != s {
			t.Fatalf("round trip %q → %+v → %q", s, p, p.String())
		}
		if q, err := ParseSerial(p.String()); err != nil || q != p {
			t.Fatalf("reparse %q: %+v %v", s, q, err)
		}
	})
}

func FuzzDecodeStatusPush(f *testing.F) {
	f.Add([]byte(`{"status":"approved","at":"2026-11-21T09:30:00Z","note":"ok"}`))
	f.Add([]byte(`{"status":"done"}`))
	f.Add([]byte(`{"status":"in_review"} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeStatusPush(b)
		if err == nil && p.Status.Rank() == 0 {
			t.Fatalf("accepted unknown status %q", p.Status)
		}
		// Verify never panics on arbitrary headers either.
		h := http.Header{}
		h.Set(HeaderTimestamp, string(b))
		h.Set(HeaderSignature, string(b))
		_ = Verify(h, secret, time.Unix(1763717400, 0), b)
	})
}

// FuzzRecords feeds arbitrary record data to the connector's mapper and
// the ledger: bad records are skipped, never a panic.
func FuzzRecords(f *testing.F) {
	f.Add("queue", "issued", []byte(`{"type":"issued","at":"2026-11-21T01:00:00Z","ticket":1,"number":"A001","item":"HR-001"}`))
	f.Add("case", "accepted", []byte(`{"serial":"440300HR-00120261121000001","ticket":1,"due":"2026-11-25"}`))
	f.Add("rating", "rated", []byte(`{"ticket":1,"level":9}`))
	f.Add("identity", "card", []byte(`{"ticket":1,"id_hash":"x"}`))
	f.Fuzz(func(t *testing.T, stream, typ string, data []byte) {
		r := store.Record{Seq: 1, Stream: stream, Type: typ, Data: data}
		_, _ = newMapper("h").Map(r)
		l := NewLedger(nil)
		l.Apply(r)
		_ = Alerts(l, Supervision{}, nil, time.Unix(1763717400, 0))
		_ = FollowUps(l, nil, 3, time.Unix(1763717400, 0))
	})
}
