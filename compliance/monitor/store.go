package monitor

import (
	"context"
	"time"
)

// Store keeps registered jobs and their last signals. NewMemoryStore and
// compliance/pgstore implement it; compliance/monitor/monitortest checks an
// implementation.
type Store interface {
	// RegisterJob creates or updates a job's spec; registeredAt is kept from
	// the first registration (so re-registering at every start does not reset
	// a never-succeeding job's clock).
	RegisterJob(ctx context.Context, spec JobSpec, at time.Time) error
	// RecordSignal stores a start, success or failure; ErrUnknownJob if the
	// job was never registered.
	RecordSignal(ctx context.Context, job string, sig Signal, at time.Time, cause string) error
	// Jobs lists every registered job by name.
	Jobs(ctx context.Context) ([]JobRecord, error)
}
