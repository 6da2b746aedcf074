package bench

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// BenchmarkPlatformStalls measures the machine's own noise, against which
// the latency targets are read: one thread per CPU spins reading the clock,
// so any gap between two readings is time that thread was not running
// (other processes, the kernel, the hypervisor). Each op is 10 ms of
// spinning on every CPU. It reports the share of time spent in gaps of 1 ms
// or more (stall-%), how many such gaps each CPU sees per second, and the
// longest. A request that needs both a client thread and a database
// backend can hardly have a p99 below 1 ms on a machine whose CPUs stall
// for 1 ms or more about 1 % of the time.
func BenchmarkPlatformStalls(b *testing.B) {
	const window = 10 * time.Millisecond
	cpus := runtime.GOMAXPROCS(0)
	var (
		mu      sync.Mutex
		stalled time.Duration
		longest time.Duration
		stalls  int
		wg      sync.WaitGroup
	)
	steal := startSteal()
	b.ResetTimer()
	for range cpus {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var mine, worst time.Duration
			n := 0
			end := time.Now().Add(time.Duration(b.N) * window)
			for last := time.Now(); last.Before(end); {
				now := time.Now()
				if gap := now.Sub(last); gap >= time.Millisecond {
					mine += gap
					worst = max(worst, gap)
					n++
				}
				last = now
			}
			mu.Lock()
			stalled += mine
			longest = max(longest, worst)
			stalls += n
			mu.Unlock()
		})
	}
	wg.Wait()
	b.StopTimer()
	steal.report(b)
	total := time.Duration(b.N) * window * time.Duration(cpus)
	b.ReportMetric(100*stalled.Seconds()/total.Seconds(), "stall-%")
	b.ReportMetric(float64(stalls)/total.Seconds(), "stalls/s")
	b.ReportMetric(float64(longest.Microseconds())/1000, "max-stall-ms")
}
