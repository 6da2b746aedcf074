package compliance

import (
	"context"
	"fmt"
	"time"
)

// Outbox is an audit outbox whose backlog the report checks: entries
// recorded inside host transactions that wait for a relay to seal them
// into the audit chain. auditlog/pgstore's Store satisfies it; compliance
// imports no audit package.
type Outbox interface {
	// OutboxBacklog reports how many entries wait and how long the oldest
	// has waited (0 when none waits), measured by the store's own clock.
	OutboxBacklog(ctx context.Context) (depth int64, oldestAge time.Duration, err error)
}

// OutboxCheck is live evidence that audited actions reach the audit chain:
// it passes while no outbox entry has waited longer than maxAge, and its
// details give the depth and the oldest entry's age. An entry that waits
// longer means no relay runs or the relay fails, so actions that committed
// are missing from the chain a verification reads. It fails on a read
// error too.
func OutboxCheck(o Outbox, maxAge time.Duration) Check {
	return func(ctx context.Context) CheckResult {
		if o == nil {
			return CheckResult{Pass: false, Details: "no audit outbox to check"}
		}
		depth, age, err := o.OutboxBacklog(ctx)
		if err != nil {
			return CheckResult{Pass: false, Details: err.Error()}
		}
		details := fmt.Sprintf("%d waiting", depth)
		if depth > 0 {
			details += fmt.Sprintf(", the oldest for %s", age.Round(time.Millisecond))
		}
		if age > maxAge {
			return CheckResult{Pass: false, Details: fmt.Sprintf("%s, longer than %s", details, maxAge)}
		}
		return CheckResult{Pass: true, Details: details}
	}
}
