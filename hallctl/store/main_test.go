package store_test

import (
	"testing"

	"github.com/servicehall/servicehall/internal/pgtest"
)

// TestMain drops the PostgreSQL test database (and stops a cluster
// pgtest started) after the run.
func TestMain(m *testing.M) { pgtest.Main(m) }
