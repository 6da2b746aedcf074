package monitor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rampart-sdk/rampart/compliance"
)

// Check is the matrix evidence for compliance.SlotJobsHealthy: it fails
// when any job is overdue or stuck, or when no job is registered at all (a
// dead-man switch that watches nothing proves nothing), naming the jobs.
func (m *Monitor) Check(ctx context.Context) compliance.CheckResult {
	sts, err := m.Status(ctx)
	if err != nil {
		return compliance.CheckResult{Pass: false, Details: err.Error()}
	}
	return jobsCheckResult(sts)
}

// JobCheck is evidence that one job (e.g. "privacy-sweeper") is not
// overdue; an unregistered job fails.
func (m *Monitor) JobCheck(job string) compliance.Check {
	return func(ctx context.Context) compliance.CheckResult {
		sts, err := m.Status(ctx)
		if err != nil {
			return compliance.CheckResult{Pass: false, Details: err.Error()}
		}
		for _, s := range sts {
			if s.Name == job {
				return jobsCheckResult([]JobStatus{s})
			}
		}
		return compliance.CheckResult{Pass: false, Details: fmt.Sprintf("job %q is not registered with the monitor", job)}
	}
}

// jobsCheckResult turns job statuses into a check result (shared by Check
// and JobCheck).
func jobsCheckResult(sts []JobStatus) compliance.CheckResult {
	if len(sts) == 0 {
		return compliance.CheckResult{Pass: false, Details: "no scheduled job is registered with the monitor"}
	}
	var bad []string
	for _, s := range sts {
		if s.Overdue {
			bad = append(bad, fmt.Sprintf("%s %s (due by %s)", s.Name, s.State, s.DueBy.Format(time.RFC3339)))
		}
	}
	if len(bad) > 0 {
		return compliance.CheckResult{Pass: false, Details: fmt.Sprintf("%d of %d jobs overdue: %s", len(bad), len(sts), strings.Join(bad, "; "))}
	}
	return compliance.CheckResult{Pass: true, Details: fmt.Sprintf("%d jobs reported success on time", len(sts))}
}
