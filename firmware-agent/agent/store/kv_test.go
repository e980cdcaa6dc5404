package store

import (
	"context"
	"testing"
)

func TestDeviceStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	if _, ok, err := s.Get(ctx, "btn-1", "lease/HR-001"); ok || err != nil {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	if err := s.Put(ctx, "btn-1", "lease/HR-001", []byte(`{"next":3}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "btn-1", "lease/HR-001", []byte(`{"next":4}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "btn-2", "lease/HR-001", []byte(`{"next":9}`)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	for dev, want := range map[string]string{"btn-1": `{"next":4}`, "btn-2": `{"next":9}`} {
		v, ok, err := s.Get(ctx, dev, "lease/HR-001")
		if err != nil || !ok || string(v) != want {
			t.Errorf("%s: %q ok=%v err=%v, want %s", dev, v, ok, err, want)
		}
	}
}
