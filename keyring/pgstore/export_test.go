package pgstore

import "context"

// Internal identifiers exported for the package's external tests.

// RecordedKCV is recordedKCV.
type RecordedKCV = recordedKCV

// KeyCheckValues returns the check values recorded in the database by key
// ID (none if the table does not exist yet).
func (s *Store) KeyCheckValues(ctx context.Context) (map[uint32]RecordedKCV, error) {
	return keyCheckValues(ctx, s.q)
}
