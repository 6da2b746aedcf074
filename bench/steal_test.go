package bench

import (
	"bytes"
	"os"
	"strconv"
	"testing"
)

// A stealMeter measures the share of CPU time the hypervisor gave to other
// guests while the machine wanted it ("steal" in /proc/stat). On a shared
// VM the latency benchmarks move with it, so they report it next to their
// numbers: a run at 30 % steal is not comparable with one at 1 %.
type stealMeter struct {
	steal, total uint64
	ok           bool
}

// startSteal reads the counters; off Linux it measures nothing.
func startSteal() stealMeter {
	steal, total, ok := readSteal()
	return stealMeter{steal, total, ok}
}

// report adds the steal share since startSteal as the "steal-%" metric.
func (m stealMeter) report(b *testing.B) {
	steal, total, ok := readSteal()
	if !m.ok || !ok || total <= m.total {
		return
	}
	b.ReportMetric(100*float64(steal-m.steal)/float64(total-m.total), "steal-%")
}

// readSteal returns the machine's steal and total CPU time in ticks: the
// first line of /proc/stat is "cpu user nice system idle iowait irq softirq
// steal guest guest_nice", guest time being counted in user already.
func readSteal() (steal, total uint64, ok bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 9 || string(fields[0]) != "cpu" {
		return 0, 0, false
	}
	for i, f := range fields[1:9] {
		v, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i == 7 {
			steal = v
		}
	}
	return steal, total, true
}
