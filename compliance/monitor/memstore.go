package monitor

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// memoryStore is the in-memory Store. It is unexported because its methods
// only restate the interface; NewMemoryStore documents it.
type memoryStore struct {
	mu   sync.Mutex
	jobs map[string]JobRecord
}

// NewMemoryStore returns an empty in-memory Store for tests, examples and
// single-process hosts.
func NewMemoryStore() Store {
	return &memoryStore{jobs: map[string]JobRecord{}}
}

// RegisterJob implements Store.
func (s *memoryStore) RegisterJob(_ context.Context, spec JobSpec, at time.Time) error {
	if err := spec.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.jobs[spec.Name]
	if !ok {
		rec.RegisteredAt = at
	}
	rec.JobSpec = spec
	s.jobs[spec.Name] = rec
	return nil
}

// RecordSignal implements Store.
func (s *memoryStore) RecordSignal(_ context.Context, job string, sig Signal, at time.Time, cause string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.jobs[job]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownJob, job)
	}
	// Timestamps only move forward, as in pgstore: a delayed signal from a
	// slow instance cannot rewind a job.
	switch sig {
	case SignalStart:
		rec.LastStart = later(rec.LastStart, at)
	case SignalSuccess:
		rec.LastSuccess = later(rec.LastSuccess, at)
	case SignalFail:
		if !at.Before(rec.LastFailure) {
			rec.LastFailure, rec.LastCause = at, cause
		}
	default:
		return fmt.Errorf("monitor: unknown signal %q", sig)
	}
	s.jobs[job] = rec
	return nil
}

// Jobs implements Store.
func (s *memoryStore) Jobs(context.Context) ([]JobRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobRecord, 0, len(s.jobs))
	for _, r := range s.jobs {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
