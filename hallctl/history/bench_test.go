package history_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/servicehall/servicehall/hallctl/history"
	"github.com/servicehall/servicehall/hallctl/store"
)

// BenchmarkGenerate measures the generator: b.N served tickets.
func BenchmarkGenerate(b *testing.B) {
	cfg, err := parseB()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "hallctl.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ResetTimer()
	s, err := history.Generate(ctx, st, history.Options{Config: cfg, Served: max(b.N, 300), Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(s.Records)/b.Elapsed().Seconds(), "records/s")
}
