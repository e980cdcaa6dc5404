package queue

import (
	"testing"
)

// FuzzApplyEvent decodes arbitrary bytes as a logged event and applies it
// to an engine with some state: it must error or apply, never panic, and
// a refused event must leave the state unchanged.
func FuzzApplyEvent(f *testing.F) {
	f.Add([]byte(`{"type":"issued","at":"2026-11-23T01:00:00Z","ticket":4,"number":"A009","day":"2026-11-23","seq":9,"item":"HR-001","class":"green","key":1}`))
	f.Add([]byte(`{"type":"called","at":"2026-11-23T01:00:00Z","ticket":2,"window":2,"overtook":true}`))
	f.Add([]byte(`{"type":"no_show","at":"2026-11-23T01:00:00Z","ticket":1,"window":1,"key":5}`))
	f.Add([]byte(`{"type":"transferred","at":"2026-11-23T01:00:00Z","ticket":3,"to_item":"TX-001","to_window":3}`))
	f.Add([]byte(`{"type":"serves_changed","at":"2026-11-23T01:00:00Z","window":1,"refs":["*"]}`))
	f.Add([]byte(`{"type":"cancelled","at":"2026-11-23T01:00:00Z","ticket":1}`))
	f.Add([]byte(`{"type":"window_paused","window":3,"note":"x"}`))
	f.Add([]byte(`{"type":"leased","at":"2026-11-23T01:05:00Z","item":"TX-001","day":"2026-11-23","from":2,"to":9,"expires":"2026-11-23T16:00:00Z","holder":"k/b"}`))
	f.Add([]byte(`{"type":"issued","at":"2026-11-23T01:05:00Z","ticket":4,"number":"A005","day":"2026-11-23","seq":5,"item":"HR-001","key":1,"printed":"2026-11-23T01:02:00Z"}`))
	f.Add([]byte(`{"type":"issued","at":"2026-11-23T01:05:00Z","ticket":4,"number":"A004","day":"2026-11-23","seq":4,"item":"HR-001","key":1,"printed":"2026-11-23T01:02:00Z"}`))
	cfg := testSpec(f, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := UnmarshalEvent(b)
		if err != nil {
			return
		}
		e, _ := New(cfg, shanghai, DefaultOpts())
		ok := must(t)
		ok(e.OpenWindow(at(9, 0), 1))
		ok(e.OpenWindow(at(9, 0), 2))
		ok(e.Issue(at(9, 0), IssueReq{Item: "HR-001", Person: "p"}))
		ok(e.Issue(at(9, 0), IssueReq{Item: "TX-001"}))
		ok(e.Issue(at(9, 1), IssueReq{Item: "HR-002", Class: Elderly}))
		ok(e.CallNext(at(9, 1), 1))
		ok(e.Lease(at(9, 1), "HR-001", 5, at(23, 0), "k/b")) // A003..A007
		ok(e.IssueLeased(at(9, 1), IssueReq{Item: "HR-001"}, "A004", at(9, 0)))
		before := e.Snapshot(at(9, 2))
		beforeState, _ := e.MarshalState()
		if err := e.Apply(ev); err != nil {
			if Code(err) == "" {
				t.Fatal("error without code")
			}
			if after := e.Snapshot(at(9, 2)); !snapshotsEqual(before, after) {
				t.Fatalf("refused event %s changed state", b)
			}
			if afterState, _ := e.MarshalState(); string(afterState) != string(beforeState) {
				t.Fatalf("refused event %s changed the saved state", b)
			}
			return
		}
		// Whatever was applied, the engine keeps working.
		for w := 1; w <= 3; w++ {
			_, _ = e.CallNext(at(9, 3), w)
			_, _ = e.Finish(at(9, 3), w)
		}
		_ = e.Snapshot(at(9, 4))
	})
}

// FuzzRestore feeds arbitrary saved states to Restore: an error or a
// working engine, never a panic.
func FuzzRestore(f *testing.F) {
	cfg := testSpec(f, nil)
	e, _ := New(cfg, shanghai, DefaultOpts())
	ok := must(f)
	ok(e.OpenWindow(at(9, 0), 1))
	ok(e.OpenWindow(at(9, 0), 3))
	ok(e.Issue(at(9, 0), IssueReq{Item: "HR-001", Person: "p"}))
	ok(e.Issue(at(9, 0), IssueReq{Item: "TX-001", Class: Green}))
	ok(e.CallNext(at(9, 1), 1))
	ok(e.Issue(at(9, 2), IssueReq{Item: "HR-002"}))
	ok(e.Transfer(at(9, 3), 1, "", 3, true))
	saved, err := e.MarshalState()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(saved)
	f.Add([]byte(`{"v":1,"policy":"default","tickets":[{"n":"A001","i":"HR-001","s":"called","w":1}],"windows":[{"number":1,"serves":["*"],"cur":1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Restore(cfg, shanghai, DefaultOpts(), b)
		if err != nil {
			return
		}
		now := at(10, 0)
		for w := 1; w <= 3; w++ {
			_, _ = r.CallNext(now, w)
			_, _ = r.NoShow(now, w)
			_, _ = r.Finish(now, w)
		}
		_, _ = r.Issue(now, IssueReq{Item: "HR-001", Person: "p"})
		_ = r.Snapshot(now)
		_, _ = r.MarshalState()
	})
}
