package bench

import (
	"os"
	"strconv"
)

// benchRows is the size of the tables the Postgres benchmarks build: the
// RAMPART_BENCH_ROWS environment variable, or def. CI runs every benchmark
// once at the small default; docs/BENCHMARKS.md records the full-size runs
// (RAMPART_BENCH_ROWS=100000 or 1000000) with their exact commands.
func benchRows(def int) int {
	if n, err := strconv.Atoi(os.Getenv("RAMPART_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return def
}
