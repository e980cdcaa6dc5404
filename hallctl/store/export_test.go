package store

import "context"

// MigratePGSteps runs steps as migrations on dsn (tests of migration
// atomicity).
func MigratePGSteps(ctx context.Context, dsn string, steps []string) (int, error) {
	pool, _, err := pgPool(ctx, dsn, 1, 0)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	return migratePGSteps(ctx, pool, steps)
}
