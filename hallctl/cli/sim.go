package cli

import (
	"context"
	"fmt"

	"github.com/servicehall/servicehall/hallctl/sim"
)

func runSim(ctx context.Context, e *env, args []string) int {
	if len(args) > 0 && args[0] == "bench" {
		fs := newFlags(e, "sim bench", "[--scenarios DIR]")
		dir := fs.String("scenarios", "../shared/bench/scenarios", "`directory` of scenario files")
		if ok, code := parseFlagsOnly(fs, args[1:]); !ok {
			return code
		}
		if err := sim.BenchTable(ctx, *dir, e.stdout); err != nil {
			fmt.Fprintln(e.stderr, "hallctl sim bench:", err)
			return 1
		}
		return 0
	}
	return sim.Command(ctx, args, e.stdout, e.stderr)
}
