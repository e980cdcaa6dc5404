package app

import (
	"testing"

	"github.com/servicehall/servicehall/internal/pgtest"
)

// TestMain drops the PostgreSQL test database after the run.
func TestMain(m *testing.M) { pgtest.Main(m) }
